import { readFile } from 'node:fs/promises';
import type * as AzureDevice from 'azure-iot-device';
import type { Client, Message } from 'azure-iot-device';
import type * as AzureMqtt from 'azure-iot-device-mqtt';
import {
  ConfigError,
  isModuleMissing,
  parseSinkOptions,
  recordToJson,
  redact,
  Sink,
  SinkConnectError,
  SinkNotInstalledError,
  SinkWriteError,
  type SensorRecord,
} from '@iotsim/core';
import {
  readAzureIoTOptions,
  type AzureIoTSinkOptions,
  type ResolvedAzureIoTOptions,
} from './options.js';

type DeviceModule = typeof AzureDevice;
type MqttModule = typeof AzureMqtt;

/** Application properties set on each message so IoT Hub routing queries can filter on them. */
const ROUTING_PROPERTIES = ['industry', 'sensor_type', 'fault_active', 'device_id'] as const;

function errorText(err: unknown): string {
  return redact(err instanceof Error ? err.message || err.name : String(err));
}

function propertyValue(r: SensorRecord, key: (typeof ROUTING_PROPERTIES)[number]): string {
  const v = r[key];
  return typeof v === 'boolean' ? (v ? 'true' : 'false') : v;
}

/**
 * Sends records to Azure IoT Hub as device-to-cloud messages over MQTT (azure-iot-device).
 * Each message has a JSON body, `contentType`/`contentEncoding` set, and the application
 * properties `industry`, `sensor_type`, `fault_active` and `device_id` for message routing.
 *
 * @example
 * const sink = new AzureIoTSink({
 *   connectionString: process.env.IOTHUB_DEVICE_CONNECTION_STRING,
 *   payloadMode: 'batch',
 *   batchSize: 50,
 * });
 */
export class AzureIoTSink extends Sink {
  readonly type = 'azure_iot';
  private readonly options: ResolvedAzureIoTOptions;
  private client: Client | undefined;
  private device: DeviceModule | undefined;

  constructor(options: AzureIoTSinkOptions = {}) {
    const { throughput, own } = parseSinkOptions(options, readAzureIoTOptions);
    super(throughput);
    this.options = own;
  }

  override describe(): string {
    const c = this.options.connection;
    return `azure_iot → ${c.hostName} device ${c.deviceId} (${this.options.payloadMode} mode)`;
  }

  async connect(): Promise<void> {
    const { hostName, deviceId } = this.options.connection;
    const [device, mqtt] = await Promise.all([
      loadSdk<DeviceModule>('azure-iot-device'),
      loadSdk<MqttModule>('azure-iot-device-mqtt'),
    ]);
    let ca: string | undefined;
    if (this.options.caFile) {
      try {
        ca = await readFile(this.options.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError(
          [{ path: 'caFile', message: `cannot read ${this.options.caFile}: ${errorText(err)}` }],
          { cause: err },
        );
      }
    }
    let client: Client;
    try {
      client = device.Client.fromConnectionString(this.options.connectionString, mqtt.Mqtt);
    } catch (err) {
      throw new ConfigError(
        [{ path: 'connectionString', message: `rejected by azure-iot-device: ${errorText(err)}` }],
        { cause: err },
      );
    }
    // The runner owns retries: the SDK must fail fast instead of retrying for minutes.
    client.setRetryPolicy({ shouldRetry: () => false, nextRetryTimeout: () => 0 });
    if (ca) await client.setOptions({ ca });
    try {
      await client.open();
    } catch (err) {
      await client.close().catch(() => undefined);
      // The SDK reports refused connections as UnauthorizedError too: look at the cause first.
      const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? ''}`;
      const network =
        /\bE[A-Z]{4,}\b|CERT_/.test(text) || /certificate|self.signed|timed? ?out/i.test(text);
      const unauthorized = !network && /bad username or password|not authori[sz]ed/i.test(text);
      throw new SinkConnectError(
        this.type,
        unauthorized
          ? `IoT Hub ${hostName} rejected device '${deviceId}': check that the device exists and the SharedAccessKey or SharedAccessSignature is current (${errorText(err)})`
          : `cannot connect to IoT Hub ${hostName}:8883 (MQTT over TLS) as device '${deviceId}': ${errorText(err)}; check the HostName and that port 8883 is reachable`,
        { cause: err },
      );
    }
    client.on('error', (err: Error) => this.logger.warn(`azure_iot: ${errorText(err)}`));
    this.device = device;
    this.client = client;
  }

  async write(records: readonly SensorRecord[]): Promise<void> {
    const client = this.client;
    if (!client) throw new SinkWriteError('azure_iot sink is not connected', { retryable: false });
    if (records.length === 0) return;
    if (this.options.payloadMode === 'batch') {
      const body = `[${records.map(recordToJson).join(',')}]`;
      try {
        await client.sendEvent(this.message(body, records));
      } catch (err) {
        throw this.writeError(err, 0);
      }
      return;
    }
    await this.sendEach(client, records);
  }

  /** One message per record, at most `maxConcurrentSends` awaiting their PUBACK at a time. */
  private async sendEach(client: Client, records: readonly SensorRecord[]): Promise<void> {
    const n = records.length;
    const ok = new Uint8Array(n);
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < n) {
        const i = next++;
        const r = records[i]!;
        try {
          await client.sendEvent(this.message(recordToJson(r), [r]));
          ok[i] = 1;
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const workers = Math.min(this.options.maxConcurrentSends, n);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure === undefined) return;
    let delivered = 0;
    while (delivered < n && ok[delivered]) delivered++;
    let beyond = 0;
    for (let i = delivered; i < n; i++) beyond += ok[i]!;
    if (beyond > 0) {
      this.logger.warn(
        `azure_iot: ${beyond} message(s) after the first failure were acknowledged and will be sent again on retry (at-least-once)`,
      );
    }
    throw this.writeError(failure, delivered);
  }

  private message(body: string, records: readonly SensorRecord[]): Message {
    const msg = new this.device!.Message(body);
    msg.contentType = this.options.contentType as Message['contentType'];
    msg.contentEncoding = 'utf-8';
    const first = records[0]!;
    for (const key of ROUTING_PROPERTIES) {
      const value = propertyValue(first, key);
      if (records.length === 1 || records.every((r) => propertyValue(r, key) === value)) {
        msg.properties.add(key, value);
      }
    }
    return msg;
  }

  private writeError(err: unknown, delivered: number): SinkWriteError {
    const name = (err as Error)?.name ?? '';
    const retryable = !/Unauthorized|Forbidden|ArgumentError|MessageTooLarge/i.test(name);
    return new SinkWriteError(
      `azure_iot: sending to ${this.options.connection.hostName} failed: ${errorText(err)}`,
      { retryable, delivered, cause: err },
    );
  }

  override async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.close();
  }
}

async function loadSdk<T>(name: string): Promise<T> {
  try {
    const mod = (await import(name)) as { default?: T } & T;
    return (mod.default ?? mod) as T;
  } catch (err) {
    if (isModuleMissing(err, name)) {
      throw new SinkNotInstalledError('azure_iot', name, { cause: err });
    }
    throw err;
  }
}
