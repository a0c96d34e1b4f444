import { ConfigError, type ChannelTable } from '@iotsim/core';
import type { WordOrder } from './options.js';

/** Highest unit id a Modbus TCP port serves (1-247; 0 and 248-255 are reserved). */
export const MAX_UNIT_ID = 247;
/** Registers 0-15 of the input (and mirrored holding) table are the header. */
export const HEADER_REGISTERS = 16;
/** Header registers 0-1: this float32, so a client can check its word order. */
export const MARKER_VALUE = 123.456;
/** Header register 3: version of this layout. */
export const LAYOUT_VERSION = 1;
/** Holding register of a unit's fault duration in seconds (uint16, writable). */
export const FAULT_DURATION_REGISTER = 1000;
/** First holding register of the writable override block (float32 per sensor). */
export const OVERRIDE_BASE = 1100;
/** The mirror block (header + sensors) must end before the fault duration register. */
export const MAX_SENSORS_PER_UNIT = (FAULT_DURATION_REGISTER - HEADER_REGISTERS) / 2;

/** Header fields of the input table, by register (all uint16 but the marker). */
export const HEADER_FIELDS: readonly {
  register: number;
  name: string;
  type: 'float32' | 'uint16';
}[] = [
  { register: 0, name: 'header.marker', type: 'float32' },
  { register: 2, name: 'header.sensor_count', type: 'uint16' },
  { register: 3, name: 'header.layout_version', type: 'uint16' },
  // 64-bit integers as four uint16 words, most significant first, whatever the word order.
  { register: 4, name: 'header.timestamp_ms[0]', type: 'uint16' },
  { register: 5, name: 'header.timestamp_ms[1]', type: 'uint16' },
  { register: 6, name: 'header.timestamp_ms[2]', type: 'uint16' },
  { register: 7, name: 'header.timestamp_ms[3]', type: 'uint16' },
  { register: 8, name: 'header.tick[0]', type: 'uint16' },
  { register: 9, name: 'header.tick[1]', type: 'uint16' },
  { register: 10, name: 'header.tick[2]', type: 'uint16' },
  { register: 11, name: 'header.tick[3]', type: 'uint16' },
  { register: 12, name: 'header.update_counter[0]', type: 'uint16' },
  { register: 13, name: 'header.update_counter[1]', type: 'uint16' },
  { register: 14, name: 'header.unit_id', type: 'uint16' },
  { register: 15, name: 'header.fault_count', type: 'uint16' },
];

/** One Modbus unit: a device of an industry, its sensors in channel-table order. */
export interface ModbusUnit {
  /** Unit id (1-247). */
  readonly unitId: number;
  readonly industry: string;
  readonly deviceId: string;
  readonly deviceIndex: number;
  /** Channel-table positions of the unit's sensors; sensor k is `channels[k]`. */
  readonly channels: readonly number[];
}

/** A Modbus table. */
export type ModbusTable = 'input' | 'holding' | 'coil' | 'discrete';

/** One row of the register map (`iotsim modbus-map`). */
export interface ModbusMapRow {
  readonly unitId: number;
  readonly table: ModbusTable;
  /** 0-based protocol address. */
  readonly register: number;
  readonly type: 'float32' | 'uint16' | 'bool';
  /** The word order of a float32, empty for other types. */
  readonly wordOrder: WordOrder | '';
  readonly industry: string;
  readonly deviceId: string;
  /** The sensor, or the header/control field (`header.marker`, `control.fault_duration_s`). */
  readonly sensorName: string;
  readonly unit: string;
  readonly minValue: number | undefined;
  readonly maxValue: number | undefined;
  readonly writable: boolean;
  /** The channel-table position of the sensor, for sensor rows. */
  readonly channel: number | undefined;
}

/** Where every sensor of a run is served: units, and the register map as rows. */
export interface ModbusMap {
  readonly wordOrder: WordOrder;
  /** Units by ascending unit id (1, 2, …). */
  readonly units: readonly ModbusUnit[];
  /** The table every unit's rows refer to. */
  readonly table: ChannelTable;
  /** Every register, coil and discrete input of every unit. */
  rows(): ModbusMapRow[];
}

/** Number of input registers of a unit (header and sensors). */
export function inputRegisterCount(unit: ModbusUnit): number {
  return HEADER_REGISTERS + 2 * unit.channels.length;
}

/**
 * The register map of a run: unit ids are given to devices in channel-table order (industry by
 * industry, device by device) from 1; each unit holds the header and one float32 per sensor.
 * The server and `iotsim modbus-map` both use it, so they cannot disagree.
 *
 * @example
 * const map = buildModbusMap(new DataGenerator({ industries: ['mining'] }).channelTable(), 'ABCD');
 * process.stdout.write(modbusMapCsv(map));
 */
export function buildModbusMap(table: ChannelTable, wordOrder: WordOrder = 'ABCD'): ModbusMap {
  const byDevice = new Map<string, { unit: ModbusUnit; channels: number[] }>();
  const units: ModbusUnit[] = [];
  for (const c of table.channels) {
    const key = `${c.industry}\u0000${c.deviceIndex}`;
    let entry = byDevice.get(key);
    if (!entry) {
      const channels: number[] = [];
      const unit: ModbusUnit = {
        unitId: units.length + 1,
        industry: c.industry,
        deviceId: c.deviceId,
        deviceIndex: c.deviceIndex,
        channels,
      };
      entry = { unit, channels };
      byDevice.set(key, entry);
      units.push(unit);
    }
    entry.channels.push(c.index);
  }
  if (units.length > MAX_UNIT_ID) {
    const industries = new Set(units.map((u) => u.industry)).size;
    throw new ConfigError([
      {
        path: '',
        message: `the run has ${units.length} devices (${industries} ${industries === 1 ? 'industry' : 'industries'}) but one Modbus TCP port serves at most ${MAX_UNIT_ID} unit ids: lower simulator.devices_per_industry (--devices) or the number of industries so that industries × devices <= ${MAX_UNIT_ID}`,
      },
    ]);
  }
  const big = units.find((u) => u.channels.length > MAX_SENSORS_PER_UNIT);
  if (big) {
    throw new ConfigError([
      {
        path: '',
        message: `device ${big.deviceId} has ${big.channels.length} sensors but a Modbus unit serves at most ${MAX_SENSORS_PER_UNIT} (registers ${HEADER_REGISTERS}-${FAULT_DURATION_REGISTER - 1}); split the sensors over several industries`,
      },
    ]);
  }
  return { wordOrder, units, table, rows: () => mapRows(table, units, wordOrder) };
}

function mapRows(
  table: ChannelTable,
  units: readonly ModbusUnit[],
  wordOrder: WordOrder,
): ModbusMapRow[] {
  const rows: ModbusMapRow[] = [];
  for (const u of units) {
    const base = {
      unitId: u.unitId,
      industry: u.industry,
      deviceId: u.deviceId,
    };
    const field = (
      t: ModbusTable,
      register: number,
      name: string,
      type: 'float32' | 'uint16',
      writable: boolean,
    ): ModbusMapRow => ({
      ...base,
      table: t,
      register,
      type,
      wordOrder: type === 'float32' ? wordOrder : '',
      sensorName: name,
      unit: name === 'control.fault_duration_s' ? 's' : '',
      minValue: undefined,
      maxValue: undefined,
      writable,
      channel: undefined,
    });
    const sensor = (
      t: ModbusTable,
      register: number,
      k: number,
      writable: boolean,
    ): ModbusMapRow => {
      const c = table.channels[u.channels[k]!]!;
      const bool = t === 'coil' || t === 'discrete';
      return {
        ...base,
        table: t,
        register,
        type: bool ? 'bool' : 'float32',
        wordOrder: bool ? '' : wordOrder,
        sensorName: c.sensorName,
        unit: bool ? '' : c.unit,
        minValue: bool ? undefined : c.minValue,
        maxValue: bool ? undefined : c.maxValue,
        writable,
        channel: c.index,
      };
    };
    for (const t of ['input', 'holding'] as const) {
      for (const h of HEADER_FIELDS) rows.push(field(t, h.register, h.name, h.type, false));
      u.channels.forEach((_, k) => rows.push(sensor(t, HEADER_REGISTERS + 2 * k, k, false)));
    }
    rows.push(
      field('holding', FAULT_DURATION_REGISTER, 'control.fault_duration_s', 'uint16', true),
    );
    u.channels.forEach((_, k) => rows.push(sensor('holding', OVERRIDE_BASE + 2 * k, k, true)));
    u.channels.forEach((_, k) => rows.push(sensor('coil', k, k, true)));
    u.channels.forEach((_, k) => rows.push(sensor('discrete', k, k, false)));
  }
  return rows;
}

/** The CSV columns of `modbusMapCsv`. */
export const MAP_CSV_COLUMNS = [
  'unit_id',
  'table',
  'register',
  'type',
  'word_order',
  'industry',
  'device_id',
  'sensor_name',
  'unit',
  'min_value',
  'max_value',
  'writable',
] as const;

/** The register map as CSV (header line, one line per row, `\n` line ends). */
export function modbusMapCsv(map: ModbusMap): string {
  const lines = [MAP_CSV_COLUMNS.join(',')];
  for (const r of map.rows()) {
    lines.push(
      [
        String(r.unitId),
        r.table,
        String(r.register),
        r.type,
        r.wordOrder,
        csvField(r.industry),
        csvField(r.deviceId),
        csvField(r.sensorName),
        csvField(r.unit),
        r.minValue === undefined ? '' : String(r.minValue),
        r.maxValue === undefined ? '' : String(r.maxValue),
        r.writable ? 'true' : 'false',
      ].join(','),
    );
  }
  return lines.join('\n') + '\n';
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
