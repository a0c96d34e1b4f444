import type { ChannelTable, LiveSnapshot, ModelControl, AnomalyKind, Logger } from '@iotsim/core';
import type { Namespace, UAObject, UAVariable } from 'node-opcua-address-space';
import type { StatusCode } from 'node-opcua-status-code';
import type { Variant as SdkVariant } from 'node-opcua-variant';
import { PathIndex, ROOT_NAME, sensorPath } from './nodes.js';
import { unitInformation } from './units.js';
import type { OpcUaSdk } from './sdk.js';

const KINDS: readonly AnomalyKind[] = ['spike', 'offset', 'oscillation'];

/** The variables of a run's address space and how they follow the live state. */
export interface IotSimNodes {
  /** Number of variables made (sensor values and fault flags). */
  readonly variableCount: number;
  /** Sets every variable from the newest snapshot. */
  update(snapshot: LiveSnapshot): void;
}

/**
 * Builds `Objects/IoTSim/<industry>/<device>/<sensor>` (AnalogItems with EURange, EngineeringUnits
 * and a `Fault` Boolean child) and the methods on `IoTSim`.
 */
export function buildAddressSpace(
  sdk: OpcUaSdk,
  namespace: Namespace,
  objectsFolder: UAObject,
  table: ChannelTable,
  control: ModelControl,
  logger: Logger,
  name: string,
): IotSimNodes {
  const { DataType, StatusCodes, Variant } = sdk;
  const ns = namespace;
  const root = ns.addObject({
    organizedBy: objectsFolder,
    browseName: ROOT_NAME,
    nodeId: `s=${ROOT_NAME}`,
    description: 'iotsim: simulated industrial sensors by industry and device',
  });
  const industries = new Map<string, UAObject>();
  const devices = new Map<string, UAObject>();
  const values: UAVariable[] = new Array<UAVariable>(table.length);
  const faults: UAVariable[] = new Array<UAVariable>(table.length);
  const waiting = StatusCodes.UncertainInitialValue;
  for (const c of table.channels) {
    let industry = industries.get(c.industry);
    if (!industry) {
      industry = ns.addObject({
        organizedBy: root,
        browseName: c.industry,
        nodeId: `s=${c.industry}`,
        typeDefinition: 'FolderType',
      });
      industries.set(c.industry, industry);
    }
    const devicePath = `${c.industry}/${c.deviceId}`;
    let device = devices.get(devicePath);
    if (!device) {
      device = ns.addObject({
        organizedBy: industry,
        browseName: c.deviceId,
        nodeId: `s=${devicePath}`,
      });
      devices.set(devicePath, device);
    }
    const path = sensorPath(c);
    const unit = unitInformation(c.unit);
    const item = ns.addAnalogDataItem({
      componentOf: device,
      browseName: c.sensorName,
      nodeId: `s=${path}`,
      dataType: 'Double',
      description: `${c.sensorType} (${c.unit})`,
      minimumSamplingInterval: 0,
      engineeringUnitsRange: { low: c.minValue, high: c.maxValue },
      engineeringUnits: {
        namespaceUri: unit.namespaceUri,
        unitId: unit.unitId,
        displayName: { text: unit.displayName },
        description: { text: unit.displayName },
      },
      acceptValueOutOfRange: true,
    });
    item.setValueFromSource({ dataType: DataType.Double, value: c.nominalValue }, waiting);
    values[c.index] = item as unknown as UAVariable;
    faults[c.index] = ns.addVariable({
      componentOf: item,
      browseName: 'Fault',
      nodeId: `s=${path}/Fault`,
      dataType: 'Boolean',
      minimumSamplingInterval: 0,
      description: 'true while an anomaly is injected on this sensor',
      value: { dataType: DataType.Boolean, value: false },
    });
  }
  addMethods(sdk, ns, root, table, control, logger, name);

  const n = table.length;
  const lastFault = new Uint8Array(n).fill(2); // 2: never set
  const good = StatusCodes.Good;
  const faulty: StatusCode = StatusCodes.UncertainSensorNotAccurate;
  return {
    variableCount: 2 * n,
    update(snapshot: LiveSnapshot): void {
      const { frame, tickOffset } = snapshot;
      const base = tickOffset * n;
      const v = frame.values;
      const f = frame.faults;
      const when = new Date(Math.round(snapshot.timestamp * 1000));
      for (let i = 0; i < n; i++) {
        const fault = f[base + i]!;
        values[i]!.setValueFromSource(
          new Variant({ dataType: DataType.Double, value: v[base + i]! }),
          fault === 1 ? faulty : good,
          when,
        );
        if (fault !== lastFault[i]) {
          lastFault[i] = fault;
          faults[i]!.setValueFromSource(
            new Variant({ dataType: DataType.Boolean, value: fault === 1 }),
            good,
            when,
          );
        }
      }
    },
  };
}

function addMethods(
  sdk: OpcUaSdk,
  ns: Namespace,
  root: UAObject,
  table: ChannelTable,
  control: ModelControl,
  logger: Logger,
  name: string,
): void {
  const { DataType, StatusCodes, Variant } = sdk;
  const paths = new PathIndex(table);
  const pathArg = {
    name: 'path',
    description: {
      text: 'a sensor (mining/mining-001/conveyor_speed), a device (mining/mining-001) or an industry (mining)',
    },
    dataType: DataType.String,
  };
  const messageArg = {
    name: 'message',
    description: { text: 'what was done, or why not' },
    dataType: DataType.String,
  };
  type Arg = { value: unknown };
  type Result = { statusCode: StatusCode; outputArguments: InstanceType<typeof Variant>[] };
  const reply = (statusCode: StatusCode, message: string): Result => {
    if (statusCode !== StatusCodes.Good) logger.warn(`${name}: ${message}`);
    else logger.info(`${name}: ${message}`);
    return {
      statusCode,
      outputArguments: [new Variant({ dataType: DataType.String, value: message })],
    };
  };
  const resolve = (raw: unknown): readonly number[] | string => {
    if (typeof raw !== 'string' || !raw.trim())
      return 'path is required: a sensor (industry/device/sensor), a device (industry/device) or an industry';
    const hit = paths.resolve(raw);
    if (!hit)
      return `no sensor, device or industry '${raw}' (paths look like ${sensorPath(table.channels[0]!)})`;
    return hit;
  };
  const method = (
    browseName: string,
    description: string,
    inputs: { name: string; description: { text: string }; dataType: number }[],
    run: (args: readonly Arg[]) => Result,
  ): void => {
    const m = ns.addMethod(root, {
      browseName,
      nodeId: `s=${ROOT_NAME}/${browseName}`,
      description,
      inputArguments: inputs,
      outputArguments: [messageArg],
    });
    m.bindMethod(
      (
        args: SdkVariant[],
        _context: unknown,
        callback: (err: Error | null, result: Result) => void,
      ) => {
        let result: Result;
        try {
          result = run(args as readonly Arg[]);
        } catch (err) {
          result = reply(
            StatusCodes.BadInternalError,
            `${browseName} failed: ${(err as Error).message}`,
          );
        }
        callback(null, result);
      },
    );
  };

  method(
    'InjectFault',
    'Starts an anomaly on a sensor, or on every sensor of a device or industry, for durationS simulated seconds',
    [
      pathArg,
      {
        name: 'durationS',
        description: { text: 'simulated seconds, > 0' },
        dataType: DataType.Double,
      },
      {
        name: 'kind',
        description: { text: `${KINDS.join(', ')} or empty (offset)` },
        dataType: DataType.String,
      },
    ],
    ([path, duration, kind]) => {
      const channels = resolve(path?.value);
      if (typeof channels === 'string')
        return reply(StatusCodes.BadNotFound, `InjectFault: ${channels}`);
      const d = duration?.value;
      if (typeof d !== 'number' || !Number.isFinite(d) || d <= 0)
        return reply(
          StatusCodes.BadInvalidArgument,
          `InjectFault: durationS must be a number of seconds > 0, got ${String(d)}`,
        );
      const k = kind?.value;
      let anomaly: AnomalyKind | undefined;
      if (typeof k === 'string' && k.trim()) {
        anomaly = KINDS.find((x) => x === k.trim().toLowerCase());
        if (!anomaly)
          return reply(
            StatusCodes.BadInvalidArgument,
            `InjectFault: kind must be one of ${KINDS.join(', ')} (or empty), got '${k}'`,
          );
      }
      control.injectFault(channels, d, anomaly);
      return reply(
        StatusCodes.Good,
        `InjectFault ${String(path?.value)}: ${anomaly ?? 'offset'} for ${d} s on ${channels.length} sensor(s)`,
      );
    },
  );
  method(
    'ClearFault',
    'Ends the anomalies of a sensor, device or industry',
    [pathArg],
    ([path]) => {
      const channels = resolve(path?.value);
      if (typeof channels === 'string')
        return reply(StatusCodes.BadNotFound, `ClearFault: ${channels}`);
      control.clearFault(channels);
      return reply(
        StatusCodes.Good,
        `ClearFault ${String(path?.value)}: ${channels.length} sensor(s)`,
      );
    },
  );
  method(
    'OverrideValue',
    'Replaces the values of a sensor, device or industry with value until ClearOverride (NaN clears)',
    [
      pathArg,
      {
        name: 'value',
        description: { text: 'the value; NaN clears the override' },
        dataType: DataType.Double,
      },
    ],
    ([path, value]) => {
      const channels = resolve(path?.value);
      if (typeof channels === 'string')
        return reply(StatusCodes.BadNotFound, `OverrideValue: ${channels}`);
      const v = value?.value;
      if (typeof v !== 'number' || v === Infinity || v === -Infinity)
        return reply(
          StatusCodes.BadInvalidArgument,
          `OverrideValue: value must be a finite number (NaN clears), got ${String(v)}`,
        );
      control.override(channels, Number.isNaN(v) ? null : v);
      return reply(
        StatusCodes.Good,
        Number.isNaN(v)
          ? `OverrideValue ${String(path?.value)}: cleared on ${channels.length} sensor(s)`
          : `OverrideValue ${String(path?.value)}: ${v} on ${channels.length} sensor(s)`,
      );
    },
  );
  method(
    'ClearOverride',
    'Ends the overrides of a sensor, device or industry',
    [pathArg],
    ([path]) => {
      const channels = resolve(path?.value);
      if (typeof channels === 'string')
        return reply(StatusCodes.BadNotFound, `ClearOverride: ${channels}`);
      control.override(channels, null);
      return reply(
        StatusCodes.Good,
        `ClearOverride ${String(path?.value)}: ${channels.length} sensor(s)`,
      );
    },
  );
}
