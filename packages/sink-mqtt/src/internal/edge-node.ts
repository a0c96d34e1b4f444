import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, SinkWriteError, type Logger } from '@iotsim/core';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { ConnectionOptions } from '../options.js';
import { brokerLabel, connectClient } from './connection.js';

/** The part of Tahu's sparkplug-payload codec this package uses. */
export interface SparkplugCodec {
  encodePayload(payload: SpPayload): Uint8Array;
  decodePayload(bytes: Uint8Array): SpPayload;
}

/** A Sparkplug B payload as the codec takes it. */
export interface SpPayload {
  timestamp?: number | { toNumber(): number } | null;
  seq?: number | { toNumber(): number } | null;
  metrics?: SpMetric[] | null;
}

/** A Sparkplug B metric as the codec takes it. */
export interface SpMetric {
  name?: string | null;
  alias?: number | { toNumber(): number } | null;
  timestamp?: number | { toNumber(): number } | null;
  type: 'Int32' | 'Int64' | 'Double' | 'Boolean' | 'String';
  value: number | boolean | string | null | { toNumber(): number };
  isNull?: boolean;
  properties?: Record<string, { type: 'Int32' | 'Double' | 'String'; value: number | string }>;
}

/** One sensor as a Sparkplug metric of a device. */
export interface MetricDef {
  readonly node: EdgeNode;
  readonly device: string;
  readonly name: string;
  readonly alias: number;
  readonly unit: string;
  readonly low: number;
  readonly high: number;
  /** Newest value seen (what a birth reports). */
  current: number | undefined;
  currentTs: number;
  currentFault: boolean;
  /** Last value and quality sent in a DDATA or a birth (report by exception compares with it). */
  sent: number | undefined;
  sentFault: boolean | undefined;
}

/** A reading for this node: its record index in the write, the metric and the reading. */
export interface NodeReading {
  readonly r: number;
  readonly def: MetricDef;
  readonly value: number;
  readonly timestamp: number;
  readonly fault: boolean;
}

/** Settings of one edge node. */
export interface EdgeNodeSettings {
  readonly connection: ConnectionOptions;
  readonly groupId: string;
  readonly edgeNodeId: string;
  readonly primaryHostId: string | undefined;
  readonly reportByException: boolean;
  readonly stateDir: string | undefined;
  readonly logger: Logger;
  readonly count: (name: string, by?: number) => void;
}

const REBIRTH = 'Node Control/Rebirth';
const GOOD = 192;
const BAD = 0;

/** Keeps bdSeq (0–255) across connects, and across processes when a state folder is set. */
class BdSeqStore {
  private last: number | undefined;
  constructor(private readonly file: string | undefined) {}

  /** The bdSeq of the next MQTT CONNECT: 0 the first time, then one more (mod 256), written down first. */
  next(): number {
    if (this.last === undefined && this.file) {
      try {
        const n = Number(readFileSync(this.file, 'utf8').trim());
        if (Number.isInteger(n) && n >= 0 && n <= 255) this.last = n;
      } catch {
        // no state yet: start at 0
      }
    }
    const value = this.last === undefined ? 0 : (this.last + 1) % 256;
    this.last = value;
    if (this.file) {
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, `${value}\n`);
      renameSync(tmp, this.file);
    }
    return value;
  }
}

/**
 * One Sparkplug B edge node on its own MQTT connection (the NDEATH will is per connection):
 * NBIRTH/DBIRTH, DDATA with aliases, seq 0–255, bdSeq per CONNECT, rebirth on NCMD, primary-host
 * awareness, DDEATH and NDEATH on close. Everything it publishes goes through one queue (`run`),
 * so a rebirth never interleaves with data.
 */
export class EdgeNode {
  readonly devices = new Map<string, MetricDef[]>();
  private nextAlias = 1;
  private client: MqttClient | undefined;
  private bdSeq = 0;
  private seq = 0;
  private born = false;
  private readonly bornDevices = new Set<string>();
  private hostOnline = false;
  private lastStateTs = -Infinity;
  private hostWaiters: ((closing?: boolean) => void)[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private readonly bdSeqStore: BdSeqStore;
  private closed = false;
  readonly topics: {
    nbirth: string;
    ndeath: string;
    ncmd: string;
    state: string | undefined;
    device(kind: 'DBIRTH' | 'DDATA' | 'DDEATH', device: string): string;
  };

  constructor(
    private readonly codec: SparkplugCodec,
    private readonly s: EdgeNodeSettings,
  ) {
    const base = `spBv1.0/${s.groupId}`;
    const edge = s.edgeNodeId;
    this.topics = {
      nbirth: `${base}/NBIRTH/${edge}`,
      ndeath: `${base}/NDEATH/${edge}`,
      ncmd: `${base}/NCMD/${edge}`,
      state: s.primaryHostId ? `spBv1.0/STATE/${s.primaryHostId}` : undefined,
      device: (kind, device) => `${base}/${kind}/${edge}/${device}`,
    };
    let file: string | undefined;
    if (s.stateDir) {
      try {
        mkdirSync(s.stateDir, { recursive: true });
      } catch (err) {
        throw new ConfigError(
          [
            {
              path: 'stateDir',
              message: `cannot create ${JSON.stringify(s.stateDir)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; give a writable folder`,
            },
          ],
          { cause: err },
        );
      }
      file = join(s.stateDir, `bdseq-${s.groupId}-${edge}.txt`);
    }
    this.bdSeqStore = new BdSeqStore(file);
  }

  /** `group/edge` for messages. */
  get label(): string {
    return `${this.s.groupId}/${this.s.edgeNodeId}`;
  }

  /** The bdSeq of the current MQTT session. */
  get currentBdSeq(): number {
    return this.bdSeq;
  }

  /** Adds a sensor of `device` (its DBIRTH goes out before its next data). */
  declare(device: string, name: string, unit: string, low: number, high: number): MetricDef {
    let list = this.devices.get(device);
    if (!list) this.devices.set(device, (list = []));
    const def: MetricDef = {
      node: this,
      device,
      name,
      alias: this.nextAlias++,
      unit,
      low,
      high,
      current: undefined,
      currentTs: 0,
      currentFault: false,
      sent: undefined,
      sentFault: undefined,
    };
    list.push(def);
    this.bornDevices.delete(device);
    return def;
  }

  /** Runs `fn` after everything queued before it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private ndeathPayload(): Buffer {
    return Buffer.from(
      this.codec.encodePayload({
        timestamp: Date.now(),
        metrics: [{ name: 'bdSeq', type: 'Int64', value: this.bdSeq, timestamp: Date.now() }],
      }),
    );
  }

  /** Opens the MQTT session (with the NDEATH will) and subscribes to NCMD and the host's STATE. */
  async connect(): Promise<void> {
    this.bdSeq = this.bdSeqStore.next();
    const will = {
      topic: this.topics.ndeath,
      payload: this.ndeathPayload(),
      qos: 1 as const,
      retain: false,
    };
    const extra: Partial<IClientOptions> = { clean: true, will, queueQoSZero: false };
    const { client } = await connectClient(this.s.connection, extra, 'sparkplug');
    this.client = client;
    // An ended session's client (a primary-host restart) must not touch the new one.
    const current = (): boolean => this.client === client;
    client.on('message', (topic, payload) => {
      if (current()) this.onMessage(topic, payload);
    });
    client.on('close', () => {
      if (!current()) return;
      this.born = false;
      this.bornDevices.clear();
      if (this.topics.state) this.hostOnline = false;
    });
    // Every MQTT CONNECT sent carries the next bdSeq in its will (and the NBIRTH after it); an
    // attempt whose TCP connection failed sent none, so the next one keeps its bdSeq.
    let connectSent = true;
    client.on('packetsend', (packet) => {
      if (packet.cmd !== 'connect') return;
      // mqtt.js writes CONNECT before the TCP connection is up: it is sent once that is.
      const stream = client.stream as unknown as {
        connecting?: boolean;
        once(e: string, f: () => void): void;
      };
      if (stream.connecting === true) stream.once('connect', () => (connectSent = true));
      else connectSent = true;
    });
    client.on('reconnect', () => {
      this.s.count('reconnect_attempts');
      if (!connectSent) return;
      connectSent = false;
      this.bdSeq = this.bdSeqStore.next();
      if (client.options.will) client.options.will.payload = this.ndeathPayload();
    });
    client.on('connect', () => {
      if (this.closed || !current()) return;
      this.s.count('reconnects');
      // After a reconnect the session is new: birth again (once the primary host is online).
      void this.run(() => this.ensureBorn()).catch((err: unknown) =>
        this.s.logger.warn(`sparkplug ${this.label}: birth after reconnect failed: ${String(err)}`),
      );
    });
    client.on('error', (err) => this.s.logger.warn(`sparkplug ${this.label}: ${err.message}`));
    const subs = [this.topics.ncmd, ...(this.topics.state ? [this.topics.state] : [])];
    await client.subscribeAsync(subs, { qos: 1 });
    this.s.logger.info(
      `sparkplug: edge node ${this.label} connected to ${brokerLabel(this.s.connection)} (bdSeq ${this.bdSeq})${this.topics.state ? `; waiting for primary host ${this.s.primaryHostId} before the birth` : ''}`,
    );
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.state) {
      if (payload.length === 0) return; // a retained STATE being cleared
      let state: { online?: unknown; timestamp?: unknown };
      try {
        state = JSON.parse(payload.toString('utf8')) as typeof state;
      } catch {
        this.s.logger.warn(`sparkplug ${this.label}: ignored a STATE message that is not JSON`);
        return;
      }
      const ts = typeof state.timestamp === 'number' ? state.timestamp : 0;
      if (ts < this.lastStateTs) return; // an older STATE than the one acted on
      this.lastStateTs = ts;
      if (state.online === true) {
        this.hostOnline = true;
        for (const w of this.hostWaiters.splice(0)) w();
        if (!this.born && !this.closed)
          void this.run(() => this.ensureBorn()).catch((err: unknown) =>
            this.s.logger.warn(`sparkplug ${this.label}: birth failed: ${String(err)}`),
          );
      } else if (state.online === false) {
        const wasOnline = this.hostOnline;
        this.hostOnline = false;
        if (wasOnline && this.born) {
          this.s.logger.warn(
            `sparkplug ${this.label}: primary host ${this.s.primaryHostId} went offline; ending the session`,
          );
          void this.run(() => this.restartSession()).catch((err: unknown) =>
            this.s.logger.warn(`sparkplug ${this.label}: new session failed: ${String(err)}`),
          );
        }
      }
      return;
    }
    if (topic === this.topics.ncmd) {
      let rebirth = false;
      try {
        const p = this.codec.decodePayload(payload);
        rebirth = (p.metrics ?? []).some((m) => m.name === REBIRTH && m.value === true);
      } catch {
        this.s.logger.warn(
          `sparkplug ${this.label}: ignored an NCMD that is not a Sparkplug B payload`,
        );
        return;
      }
      if (rebirth) {
        this.s.count('rebirths');
        this.s.logger.info(`sparkplug ${this.label}: rebirth requested`);
        void this.run(async () => {
          this.born = false;
          this.bornDevices.clear();
          await this.ensureBorn();
        }).catch((err: unknown) =>
          this.s.logger.warn(`sparkplug ${this.label}: rebirth failed: ${String(err)}`),
        );
      }
    }
  }

  /** The primary host said offline: NDEATH, disconnect, and a new session (new bdSeq). */
  private async restartSession(): Promise<void> {
    await this.endSession(false);
    this.born = false;
    this.bornDevices.clear();
    await this.connect();
  }

  private async waitForHost(signal: AbortSignal | undefined): Promise<void> {
    if (!this.topics.state || this.hostOnline) return;
    if (this.closed)
      throw new SinkWriteError(`sparkplug ${this.label}: closing`, { retryable: false });
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void =>
        reject(
          new SinkWriteError(
            `sparkplug ${this.label}: primary host ${this.s.primaryHostId} never came online (no {"online":true} on ${this.topics.state})`,
            { retryable: false },
          ),
        );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.hostWaiters.push((closing) => {
        signal?.removeEventListener('abort', onAbort);
        if (closing) onAbort();
        else resolve();
      });
    });
  }

  private nextSeq(): number {
    const s = this.seq;
    this.seq = (this.seq + 1) % 256;
    return s;
  }

  private async publish(topic: string, payload: SpPayload, qos: 0 | 1 = 0): Promise<void> {
    const client = this.client;
    if (!client?.connected)
      throw new SinkWriteError(`sparkplug ${this.label}: not connected (reconnecting)`, {
        retryAfterS: 1,
      });
    await client.publishAsync(topic, Buffer.from(this.codec.encodePayload(payload)), {
      qos,
      retain: false,
    });
  }

  /** NBIRTH (seq 0) then a DBIRTH per device, unless this session is born already; DBIRTHs of new devices. */
  private async ensureBorn(signal?: AbortSignal): Promise<void> {
    if (!this.born) {
      await this.waitForHost(signal);
      const now = Date.now();
      this.seq = 0;
      await this.publish(this.topics.nbirth, {
        timestamp: now,
        seq: this.nextSeq(),
        metrics: [
          { name: 'bdSeq', type: 'Int64', value: this.bdSeq, timestamp: now },
          { name: REBIRTH, type: 'Boolean', value: false, timestamp: now },
        ],
      });
      this.born = true;
      this.bornDevices.clear();
      this.s.count('births');
    }
    for (const [device, defs] of this.devices) {
      if (this.bornDevices.has(device)) continue;
      const now = Date.now();
      await this.publish(this.topics.device('DBIRTH', device), {
        timestamp: now,
        seq: this.nextSeq(),
        metrics: defs.map((d) => {
          d.sent = d.current;
          d.sentFault = d.currentFault;
          return {
            name: d.name,
            alias: d.alias,
            timestamp: d.current === undefined ? now : d.currentTs,
            type: 'Double' as const,
            ...(d.current === undefined || !Number.isFinite(d.current)
              ? { value: null, isNull: true }
              : { value: d.current }),
            properties: {
              engUnit: { type: 'String' as const, value: d.unit },
              engLow: { type: 'Double' as const, value: d.low },
              engHigh: { type: 'Double' as const, value: d.high },
              Quality: { type: 'Int32' as const, value: d.currentFault ? BAD : GOOD },
            },
          };
        }),
      });
      this.bornDevices.add(device);
    }
  }

  /**
   * Publishes `readings` as one DDATA per device (every reading with its own timestamp; a
   * `Quality` property where the fault state changed), after any birth still due. Sets
   * `done[r]` for each record whose message was written.
   */
  async publishData(
    readings: readonly NodeReading[],
    done: Uint8Array,
    signal: AbortSignal,
  ): Promise<void> {
    // Births report the newest value: the first reading of each metric in this write.
    for (const x of readings) {
      if (x.def.current === undefined) {
        x.def.current = x.value;
        x.def.currentTs = x.timestamp;
        x.def.currentFault = x.fault;
      }
    }
    await this.ensureBorn(signal);
    const byDevice = new Map<string, NodeReading[]>();
    for (const x of readings) {
      let list = byDevice.get(x.def.device);
      if (!list) byDevice.set(x.def.device, (list = []));
      list.push(x);
    }
    const rbe = this.s.reportByException;
    for (const [device, list] of byDevice) {
      const metrics: SpMetric[] = [];
      const included: NodeReading[] = [];
      // what this message sends last per metric (several ticks of one metric in one DDATA)
      const pending = new Map<MetricDef, NodeReading>();
      for (const x of list) {
        const d = x.def;
        d.current = x.value;
        d.currentTs = x.timestamp;
        d.currentFault = x.fault;
        const before = pending.get(d);
        const qualityChanged = (before ? before.fault : d.sentFault) !== x.fault;
        if (rbe && !qualityChanged && Object.is(before ? before.value : d.sent, x.value)) continue;
        pending.set(d, x);
        const m: SpMetric = Number.isFinite(x.value)
          ? {
              alias: d.alias,
              timestamp: Math.round(x.timestamp * 1000),
              type: 'Double',
              value: x.value,
            }
          : {
              alias: d.alias,
              timestamp: Math.round(x.timestamp * 1000),
              type: 'Double',
              value: null,
              isNull: true,
            };
        if (qualityChanged)
          m.properties = { Quality: { type: 'Int32', value: x.fault ? BAD : GOOD } };
        metrics.push(m);
        included.push(x);
      }
      if (metrics.length) {
        await this.publish(this.topics.device('DDATA', device), {
          timestamp: Date.now(),
          seq: this.nextSeq(),
          metrics,
        });
        for (const x of included) {
          x.def.sent = x.value;
          x.def.sentFault = x.fault;
        }
        this.s.count('ddata');
        this.s.count('metrics', metrics.length);
      }
      for (const x of list) done[x.r] = 1;
    }
  }

  /** DDEATH for every device, NDEATH, then DISCONNECT (an intentional end, spec 3.0). */
  async close(): Promise<void> {
    this.closed = true;
    // a birth still waiting for the primary host gives up: nothing was born, nothing to end
    for (const w of this.hostWaiters.splice(0)) w(true);
    await this.run(() => this.endSession(true));
  }

  private async endSession(devices: boolean): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    try {
      if (client.connected && this.born) {
        if (devices) {
          for (const device of this.bornDevices) {
            await this.publishOn(client, this.topics.device('DDEATH', device), {
              timestamp: Date.now(),
              seq: this.nextSeq(),
            });
          }
        }
        await this.publishOn(
          client,
          this.topics.ndeath,
          {
            timestamp: Date.now(),
            metrics: [{ name: 'bdSeq', type: 'Int64', value: this.bdSeq, timestamp: Date.now() }],
          },
          1,
        );
      }
    } catch (err) {
      this.s.logger.warn(
        `sparkplug ${this.label}: could not publish the death messages: ${String(err)}`,
      );
    } finally {
      this.born = false;
      this.bornDevices.clear();
      client.removeAllListeners('connect');
      client.removeAllListeners('reconnect');
      if (client.connected) await client.endAsync().catch(() => client.end(true));
      else client.end(true);
    }
  }

  private async publishOn(
    client: MqttClient,
    topic: string,
    payload: SpPayload,
    qos: 0 | 1 = 0,
  ): Promise<void> {
    const sent = client.publishAsync(topic, Buffer.from(this.codec.encodePayload(payload)), {
      qos,
      retain: false,
    });
    const lost = new Promise<never>((_, reject) =>
      client.once('close', () => reject(new Error('connection closed'))),
    );
    lost.catch(() => {});
    await Promise.race([sent, lost]);
  }
}
