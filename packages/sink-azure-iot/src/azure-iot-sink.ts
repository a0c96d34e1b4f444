import { readFile } from 'node:fs/promises';
import type * as AzureDevice from 'azure-iot-device';
import type { Client, Message } from 'azure-iot-device';
import type * as AzureMqtt from 'azure-iot-device-mqtt';
import {
  ConfigError,
  importSdk,
  JSON_RECORD_LAYOUT,
  parseSinkOptions,
  RecordTextEncoder,
  Redactor,
  Sink,
  SinkConnectError,
  SinkWriteError,
  type SensorRecord,
  type WriteRequest,
} from '@iotsim/core';
import {
  AzureIoTSchema,
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
  body: Buffer;
}

/** One message per record: `json` holds the records' JSON objects, record i ending at `ends[i]`. */
function packRecords(json: Buffer, ends: readonly number[]): Part[] {
  const parts = new Array<Part>(ends.length);
  for (let i = 0; i < ends.length; i++) {
    parts[i] = { start: i, end: i + 1, body: json.subarray(i === 0 ? 0 : ends[i - 1]!, ends[i]) };
  }
  return parts;
}

/** Packs records into JSON arrays no larger than MAX_BODY_BYTES (a larger record goes alone). */
function packBatches(json: Buffer, ends: readonly number[]): Part[] {
  const parts: Part[] = [];
  let start = 0;
  let size = 2;
  for (let i = 0; i < ends.length; i++) {
    const bytes = ends[i]! - (i === 0 ? 0 : ends[i - 1]!) + 1;
    if (i > start && size + bytes > MAX_BODY_BYTES) {
      parts.push({ start, end: i, body: jsonArray(json, ends, start, i) });
      start = i;
      size = 2;
    }
    size += bytes;
  }
  parts.push({ start, end: ends.length, body: jsonArray(json, ends, start, ends.length) });
  return parts;
}

/** `[json_start,…,json_end-1]`: the JSON objects are contiguous in `json`, so only commas go between. */
function jsonArray(json: Buffer, ends: readonly number[], start: number, end: number): Buffer {
  const from = start === 0 ? 0 : ends[start - 1]!;
  const out = Buffer.allocUnsafe(ends[end - 1]! - from + (end - start) + 1);
  out[0] = 0x5b; // [
  let off = 1;
  let at = from;
  for (let i = start; i < end; i++) {
    if (i > start) out[off++] = 0x2c; // ,
    off += json.copy(out, off, at, ends[i]!);
    at = ends[i]!;
  }
  out[off] = 0x5d; // ]
  return out;
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
 * });
 * sim.addSink(sink, { batchSize: 50 });
 */
export class AzureIoTSink extends Sink {
  static override readonly type = 'azure_iot';
  static override readonly schema = AzureIoTSchema;
  private readonly options: ResolvedAzureIoTOptions;
  private client: Client | undefined;
  private device: DeviceModule | undefined;
  private readonly encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT);
  /** Removes the connection string, key and signature from this sink's own texts. */
  private readonly redactor = new Redactor();

  constructor(options: AzureIoTSinkOptions) {
    super();
    this.options = parseSinkOptions(AzureIoTSchema, options);
    for (const secret of this.options.secrets) {
      this.registerSecret(secret);
      this.redactor.add(secret);
    }
  }

  override describe(): string {
    const c = this.options.connection;
    return `azure_iot → ${c.hostName} device ${c.deviceId} (${this.options.payloadMode} mode)`;
  }

  async connect(): Promise<void> {
    const { hostName, deviceId } = this.options.connection;
    const [device, mqtt] = await Promise.all([
      loadSdk<DeviceModule>('azure-iot-device', () => import('azure-iot-device')),
      loadSdk<MqttModule>('azure-iot-device-mqtt', () => import('azure-iot-device-mqtt')),
    ]);
    let ca: string | undefined;
    if (this.options.caFile) {
      try {
        ca = await readFile(this.options.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError(
          [
            {
              path: 'caFile',
              message: `cannot read ${this.options.caFile}: ${this.errorText(err)}`,
            },
          ],
          { cause: err },
        );
      }
    }
    let client: Client;
    try {
      client = device.Client.fromConnectionString(this.options.connectionString, mqtt.Mqtt);
    } catch (err) {
      throw new ConfigError(
        [
          {
            path: 'connectionString',
            message: `rejected by azure-iot-device: ${this.errorText(err)}`,
          },
        ],
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
          ? `IoT Hub ${hostName} rejected device '${deviceId}': check that the device exists and the SharedAccessKey or SharedAccessSignature is current (${this.errorText(err)})`
          : `cannot connect to IoT Hub ${hostName}:8883 (MQTT over TLS) as device '${deviceId}': ${this.errorText(err)}; check the HostName and that port 8883 is reachable`,
        { cause: err },
      );
    }
    client.on('error', (err: Error) => this.logger.warn(`azure_iot: ${this.errorText(err)}`));
    this.device = device;
    this.client = client;
  }

  async write(request: WriteRequest): Promise<void> {
    const client = this.client;
    if (!client) throw this.notConnected();
    if (request.size === 0) return;
    const ends: number[] = [];
    const json = this.encoder.encodeBatch(request.batch, ends);
    const parts =
      this.options.payloadMode === 'batch' ? packBatches(json, ends) : packRecords(json, ends);
    await this.sendAll(client, request.records, parts, request.signal);
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
    signal: AbortSignal,
  ): Promise<void> {
    const n = parts.length;
    const ok = new Uint8Array(n);
    let next = 0;
    let failure: unknown;
    // The SDK's sendEvent takes no signal: at the shutdown deadline no further message is sent.
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < n) {
        if (signal.aborted) {
          failure ??= signal.reason;
          return;
        }
        const idx = next++;
        const p = parts[idx]!;
        try {
          await client.sendEvent(this.message(p.body, records, p.start, p.end));
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

  /** The message of records [start, end) with body `body`. */
  private message(
    body: Buffer,
    records: readonly SensorRecord[],
    start: number,
    end: number,
  ): Message {
    const msg = new this.device!.Message(body);
    msg.contentType = this.options.contentType as Message['contentType'];
    msg.contentEncoding = 'utf-8';
    const first = records[start]!;
    for (const key of ROUTING_PROPERTIES) {
      const value = propertyValue(first, key);
      let uniform = true;
      for (let i = start + 1; uniform && i < end; i++) {
        uniform = propertyValue(records[i]!, key) === value;
      }
      if (uniform) msg.properties.add(key, value);
    }
    return msg;
  }

  private errorText(err: unknown): string {
    return this.redactor.redact(err instanceof Error ? err.message || err.name : String(err));
  }

  private writeError(err: unknown, delivered: number): SinkWriteError {
    const name = (err as Error)?.name ?? '';
    const retryable = !/Unauthorized|Forbidden|ArgumentError|MessageTooLarge/i.test(name);
    return new SinkWriteError(
      `azure_iot: sending to ${this.options.connection.hostName} failed: ${this.errorText(err)}`,
      { retryable, delivered, cause: err },
    );
  }

  override async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.close();
  }
}

/** Loads one of the SDK's CommonJS packages (its exports are on `default` under ESM). */
async function loadSdk<T>(name: string, load: () => Promise<unknown>): Promise<T> {
  const mod = (await importSdk(name, load, 'azure_iot sink')) as { default?: T } & T;
  return (mod.default ?? mod) as T;
}
