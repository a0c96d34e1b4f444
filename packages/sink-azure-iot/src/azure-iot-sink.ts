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

/** IoT Hub's device-to-cloud limit is 256 KiB including properties; keep bodies under 255 KiB. */
const MAX_BODY_BYTES = 255 * 1024;

/** A message body and the records [start, end) it carries. */
interface Part {
  start: number;
  end: number;
  body: string;
}

/** Packs records into JSON arrays no larger than MAX_BODY_BYTES (a larger record goes alone). */
function packBatches(records: readonly SensorRecord[]): Part[] {
  const parts: Part[] = [];
  let start = 0;
  let items: string[] = [];
  let size = 2;
  records.forEach((r, i) => {
    const json = recordToJson(r);
    const bytes = Buffer.byteLength(json) + 1;
    if (items.length > 0 && size + bytes > MAX_BODY_BYTES) {
      parts.push({ start, end: i, body: `[${items.join(',')}]` });
      start = i;
      items = [];
      size = 2;
    }
    items.push(json);
    size += bytes;
  });
  parts.push({ start, end: records.length, body: `[${items.join(',')}]` });
  return parts;
}

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
    const parts =
      this.options.payloadMode === 'batch'
        ? packBatches(records)
        : records.map((r, i) => ({ start: i, end: i + 1, body: recordToJson(r) }));
    await this.sendAll(client, records, parts);
  }

  /**
   * Sends the messages with at most `maxConcurrentSends` awaiting their MQTT PUBACK at a time
   * (one connection, so they reach the hub in order). On failure, reports the records of the
   * acknowledged messages at the front as delivered.
   */
  private async sendAll(
    client: Client,
    records: readonly SensorRecord[],
    parts: readonly Part[],
  ): Promise<void> {
    const n = parts.length;
    const ok = new Uint8Array(n);
    let next = 0;
    let failure: unknown;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < n) {
        const idx = next++;
        const p = parts[idx]!;
        try {
          await client.sendEvent(this.message(p.body, records.slice(p.start, p.end)));
          ok[idx] = 1;
        } catch (err) {
          failure ??= err;
        }
      }
    };
    const workers = Math.min(this.options.maxConcurrentSends, n);
    await Promise.all(Array.from({ length: workers }, worker));
    if (failure === undefined) return;
    let i = 0;
    while (i < n && ok[i]) i++;
    const delivered = i === 0 ? 0 : parts[i - 1]!.end;
    let beyond = 0;
    for (let j = i; j < n; j++) beyond += ok[j]!;
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
