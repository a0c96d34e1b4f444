import {
  Sink,
  SinkWriteError,
  importSdk,
  parseSinkOptions,
  type RecordChannel,
  type SinkCapabilities,
  type WriteRequest,
} from '@iotsim/core';
import { brokerLabel, connectClient, shardConnection } from './internal/connection.js';
import {
  EdgeNode,
  type MetricDef,
  type NodeReading,
  type SparkplugCodec,
} from './internal/edge-node.js';
import {
  SparkplugSinkSchema,
  type ResolvedSparkplugOptions,
  type SparkplugSinkOptions,
} from './options.js';

/**
 * A Sparkplug B 3.0 edge node over MQTT (Tahu's `sparkplug-payload` protobuf codec). Topics are
 * `spBv1.0/<group_id>/<type>/<edge_node_id>[/<device_id>]`; each device is an iotsim device,
 * each sensor a Double metric with an alias (unique across the edge node) and `engUnit`,
 * `engLow`, `engHigh` and `Quality` (192 good, 0 while the sensor's fault is active) properties.
 *
 * Without `group_id` every industry is its own group with its own edge node (and its own MQTT
 * connection: the NDEATH will is per connection). The session follows the spec: NDEATH as the
 * will (QoS 1) with bdSeq, NBIRTH (bdSeq, `Node Control/Rebirth`), a DBIRTH per device, then
 * DDATA (QoS 0) with aliases and seq 0–255; a rebirth on NCMD `Node Control/Rebirth`; DDEATHs
 * and NDEATH on close. A write is delivered when its DDATA messages are written to the socket.
 * In a sharded or multi-worker run each shard is its own edge node, `<edge_node_id>-<shard id>`
 * (a device belongs to one shard, so a host sees every device once).
 *
 * @example
 * const sink = new SparkplugSink({ url: 'mqtt://127.0.0.1:1883', edgeNodeId: 'plant-1', primaryHostId: 'scada' });
 * sim.addSink(sink, { batchSize: 1000 });
 */
export class SparkplugSink extends Sink {
  static override readonly type = 'sparkplug';
  static override readonly schema = SparkplugSinkSchema;
  /** One write at a time: births, data and deaths share one seq counter per edge node. */
  static override readonly capabilities: SinkCapabilities = {
    ordered: true,
    maxInFlight: 1,
    defaultInFlight: 1,
    idempotentRetry: false,
    singleton: false,
  };
  private readonly options: ResolvedSparkplugOptions;
  private codec: SparkplugCodec | undefined;
  private readonly nodes = new Map<string, EdgeNode>();
  private readonly connecting = new Map<string, Promise<EdgeNode>>();
  private readonly byChannel = new WeakMap<RecordChannel, MetricDef>();
  private readonly byKey = new Map<string, MetricDef>();
  private readonly tables = new WeakSet<object>();

  constructor(options: SparkplugSinkOptions = {}) {
    super();
    this.options = parseSinkOptions(SparkplugSinkSchema, options);
    this.registerSecret(this.options.connection.password);
  }

  /** The edge node id: each shard of a sharded or multi-worker run is its own edge node. */
  private get edgeNodeId(): string {
    const id = this.shard?.id;
    return id ? `${this.options.edgeNodeId}-${id}` : this.options.edgeNodeId;
  }

  override describe(): string {
    const o = this.options;
    return `sparkplug ${brokerLabel(o.connection)} spBv1.0/${o.groupId ?? '<industry>'}/…/${this.edgeNodeId}${o.primaryHostId ? ` (primary host ${o.primaryHostId})` : ''}`;
  }

  async connect(): Promise<void> {
    const sp = await importSdk(
      'sparkplug-payload',
      () => import('sparkplug-payload'),
      'sparkplug sink',
      {
        hint: 'it comes with @iotsim/sink-mqtt: reinstall that',
      },
    );
    const mod = sp as unknown as {
      default?: { get(ns: string): unknown };
      get?(ns: string): unknown;
    };
    const get = mod.get ?? mod.default?.get;
    this.codec = get?.('spBv1.0') as SparkplugCodec | undefined;
    if (!this.codec) throw new Error('sparkplug-payload has no spBv1.0 codec');
    if (!this.options.connection.rejectUnauthorized)
      this.logger.warn(
        `sparkplug ${brokerLabel(this.options.connection)}: TLS certificate verification is OFF (reject_unauthorized: false)`,
      );
    if (this.options.groupId !== undefined) {
      await this.node(this.options.groupId);
      return;
    }
    // One edge node per industry, opened when its first reading comes; check the broker now.
    const { client } = await connectClient(
      shardConnection(this.options.connection, this.shard),
      { clean: true },
      'sparkplug',
    );
    await client.endAsync().catch(() => client.end(true));
  }

  private node(group: string): Promise<EdgeNode> {
    const ready = this.nodes.get(group);
    if (ready) return Promise.resolve(ready);
    let pending = this.connecting.get(group);
    if (!pending) {
      const o = this.options;
      const perIndustry = o.groupId === undefined;
      const connection = shardConnection(o.connection, this.shard);
      const node = new EdgeNode(this.codec!, {
        connection: {
          ...connection,
          // one connection per edge node: each needs its own client id
          clientId: perIndustry ? `${connection.clientId}-${group}` : connection.clientId,
        },
        groupId: group,
        edgeNodeId: this.edgeNodeId,
        primaryHostId: o.primaryHostId,
        reportByException: o.reportByException,
        stateDir: o.stateDir,
        logger: this.logger,
        count: (name, by) => this.count(name, by),
      });
      pending = node.connect().then(() => {
        this.nodes.set(group, node);
        return node;
      });
      pending.finally(() => this.connecting.delete(group)).catch(() => {});
      this.connecting.set(group, pending);
    }
    return pending;
  }

  private async def(channel: RecordChannel): Promise<MetricDef> {
    let d = this.byChannel.get(channel);
    if (d) return d;
    const key = `${channel.industry}\u0000${channel.deviceId}\u0000${channel.sensorName}`;
    d = this.byKey.get(key);
    if (!d) {
      const node = await this.node(this.options.groupId ?? groupOf(channel.industry));
      d = node.declare(
        deviceOf(channel.deviceId),
        channel.sensorName,
        channel.unit,
        channel.minValue,
        channel.maxValue,
      );
      this.byKey.set(key, d);
    }
    this.byChannel.set(channel, d);
    return d;
  }

  async write(request: WriteRequest): Promise<void> {
    if (!this.codec) throw this.notConnected();
    // Declare every channel of a run's table at once: a DBIRTH then has all of a device's metrics.
    for (const seg of request.batch.segments) {
      const table = seg.frame?.table;
      if (table && !this.tables.has(table)) {
        for (const c of table.channels) await this.def(c);
        this.tables.add(table);
      }
    }
    const readings: { channel: RecordChannel; value: number; timestamp: number; fault: boolean }[] =
      [];
    request.batch.forEach((channel, value, timestamp, fault) => {
      readings.push({ channel, value, timestamp, fault });
    });
    const perNode = new Map<EdgeNode, NodeReading[]>();
    for (let r = 0; r < readings.length; r++) {
      const x = readings[r]!;
      const def = this.byChannel.get(x.channel) ?? (await this.def(x.channel));
      let list = perNode.get(def.node);
      if (!list) perNode.set(def.node, (list = []));
      list.push({ r, def, value: x.value, timestamp: x.timestamp, fault: x.fault });
    }
    const done = new Uint8Array(readings.length);
    const results = await Promise.allSettled(
      [...perNode].map(([node, list]) =>
        node.run(() => node.publishData(list, done, request.signal)),
      ),
    );
    const failure = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failure) {
      let delivered = 0;
      while (delivered < done.length && done[delivered] === 1) delivered++;
      const err = failure.reason as Error;
      throw new SinkWriteError(`sparkplug: ${err.message}`, {
        delivered,
        cause: err,
        retryable: err instanceof SinkWriteError ? err.retryable : true,
        retryAfterS: err instanceof SinkWriteError ? err.retryAfterS : undefined,
      });
    }
  }

  override async close(): Promise<void> {
    await Promise.allSettled([...this.connecting.values()]);
    await Promise.all([...this.nodes.values()].map((n) => n.close()));
    this.nodes.clear();
  }
}

/** An industry name as a Sparkplug group id. */
function groupOf(industry: string): string {
  return industry.replace(/[/#+]/g, '_') || 'iotsim';
}

/** A device id as the last topic level. */
function deviceOf(deviceId: string): string {
  return deviceId.replace(/[/#+]/g, '_');
}
