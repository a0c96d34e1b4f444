// A faster produce path for kafkajs 2.2.4, installed into kafkajs's own module cache before kafkajs
// is loaded. kafkajs spends ~15 µs of CPU per message building produce requests: a `Record` object,
// an `Encoder` and several small Buffers per message, 64-bit varints through BigInt-backed `Long`s,
// and a per-partition grouping that copies the partition's list for every message (quadratic).
// Two of its internal modules are replaced, everything else (connection, SASL/TLS, metadata,
// retries, idempotent sequences, responses) stays kafkajs's:
//   - src/producer/groupMessagesPerPartition.js: the same grouping, in linear time;
//   - src/protocol/requests/produce/v3/request.js (which v4–v7 extend): the same bytes, written
//     into one Buffer per partition. Messages with headers or their own timestamp, keys or values
//     that are not a string or Buffer, go through kafkajs's original encoder unchanged.
// kafkajs 2.2.4 is the last release and is pinned exactly; any other version is left alone.
import { createRequire } from 'node:module';
import { crc32c } from './crc32c.js';

/** The kafkajs version whose internals this module replaces. */
export const KAFKAJS_VERSION = '2.2.4';

/** A kafkajs message as the produce request sees it. */
export interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  timestamp?: unknown;
  headers?: unknown;
  partition?: number;
}

/** One partition's messages in a produce request (kafkajs's `createTopicData` output). */
export interface PartitionData {
  partition: number;
  messages: readonly ProduceMessage[];
  firstSequence?: number;
}

/** One topic's partitions in a produce request. */
export interface TopicData {
  topic: string;
  partitions: readonly PartitionData[];
}

/** Arguments of kafkajs's produce request (v3–v7). */
export interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: readonly TopicData[];
}

/** kafkajs's protocol Encoder, as far as the produce request uses it. */
export interface KafkaEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}

/** A kafkajs protocol request. */
export interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse(): boolean;
  encode(): Promise<KafkaEncoder>;
}

/** kafkajs's produce request factory (the export of v3/request.js). */
export type ProduceRequestFactory = ((args: ProduceArgs) => ProduceRequest) & {
  /** On the fast factory: kafkajs's own, which it falls back to. */
  original?: ProduceRequestFactory;
};

/** A kafkajs compression codec as `lookupCodec` returns it. */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
}

/** The kafkajs internals the fast encoder uses. */
export interface KafkajsInternals {
  Encoder: new (initialSize?: number) => KafkaEncoder;
  Long: { fromValue(v: unknown): { getHighBits(): number; getLowBits(): number } };
  lookupCodec(type: number): Codec | null;
}

type Partitioner = (args: {
  topic: string;
  partitionMetadata: readonly unknown[];
  message: ProduceMessage;
}) => number;

/**
 * kafkajs's `groupMessagesPerPartition` in linear time: the same result (messages per partition
 * number, in their order), without copying each partition's list for every message.
 */
export function groupMessagesPerPartition({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly ProduceMessage[];
  partitioner: Partitioner;
}): Record<number, ProduceMessage[]> {
  const result: Record<number, ProduceMessage[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list === undefined) result[partition] = [message];
    else list.push(message);
  }
  return result;
}

/** Bytes of a zigzag varint (Kafka's signed varint) for a 32-bit integer. */
function sizeOfVarInt(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let bytes = 1;
  while (v >= 0x80) {
    bytes++;
    v >>>= 7;
  }
  return bytes;
}

function writeVarInt(buf: Buffer, offset: number, value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    buf[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[offset++] = v;
  return offset;
}

/** Byte length of a key or value (-1 for null), or -2 when kafkajs would encode it another way. */
function byteLengthOf(v: unknown): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (v === null || v === undefined) return -1;
  if (Buffer.isBuffer(v)) return v.length;
  return -2;
}

function hasNoHeaders(h: unknown): boolean {
  if (h === undefined) return true;
  if (h === null || typeof h !== 'object') return false;
  for (const _ in h) return false;
  return true;
}

/**
 * The records of one partition, encoded as kafkajs's `Record` v0 does with no timestamp of their
 * own (timestamp delta 0) and no headers; undefined when a message needs kafkajs's own encoder.
 */
export function encodeRecords(messages: readonly ProduceMessage[]): Buffer | undefined {
  const n = messages.length;
  const keyLens = new Int32Array(n);
  const valueLens = new Int32Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    if ((m.timestamp !== undefined && m.timestamp !== null) || !hasNoHeaders(m.headers))
      return undefined;
    const kl = byteLengthOf(m.key);
    const vl = byteLengthOf(m.value);
    if (kl === -2 || vl === -2) return undefined;
    keyLens[i] = kl;
    valueLens[i] = vl;
    // attributes, timestamp delta 0 and header count 0 are one byte each
    const body =
      3 +
      sizeOfVarInt(i) +
      sizeOfVarInt(kl) +
      (kl > 0 ? kl : 0) +
      sizeOfVarInt(vl) +
      (vl > 0 ? vl : 0);
    total += sizeOfVarInt(body) + body;
  }
  const buf = Buffer.allocUnsafe(total);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i]!;
    const kl = keyLens[i]!;
    const vl = valueLens[i]!;
    const body =
      3 +
      sizeOfVarInt(i) +
      sizeOfVarInt(kl) +
      (kl > 0 ? kl : 0) +
      sizeOfVarInt(vl) +
      (vl > 0 ? vl : 0);
    o = writeVarInt(buf, o, body);
    buf[o++] = 0; // attributes
    buf[o++] = 0; // timestamp delta 0
    o = writeVarInt(buf, o, i); // offset delta
    o = writeVarInt(buf, o, kl);
    if (kl > 0) o += writeBytes(buf, o, m.key as string | Buffer, kl);
    o = writeVarInt(buf, o, vl);
    if (vl > 0) o += writeBytes(buf, o, m.value as string | Buffer, vl);
    buf[o++] = 0; // no headers
  }
  return buf;
}

function writeBytes(buf: Buffer, offset: number, v: string | Buffer, length: number): number {
  if (typeof v === 'string') return buf.write(v, offset, length, 'utf8');
  return v.copy(buf, offset);
}

/** RecordBatch v2 fields from `attributes` to `firstSequence`, plus the record count. */
const BATCH_BODY_HEADER = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;
/** firstOffset, length, partitionLeaderEpoch, magic, crc. */
const BATCH_HEADER = 8 + 4 + 4 + 1 + 4;

function writeInt64(
  buf: Buffer,
  offset: number,
  long: { getHighBits(): number; getLowBits(): number },
) {
  buf.writeInt32BE(long.getHighBits(), offset);
  buf.writeInt32BE(long.getLowBits(), offset + 4);
}

/**
 * One partition's RecordBatch (magic 2), byte for byte what kafkajs's `RecordBatch` v0 writes for
 * the same messages; undefined when a message needs kafkajs's own encoder.
 */
export async function encodeRecordBatch(
  k: KafkajsInternals,
  args: {
    messages: readonly ProduceMessage[];
    compression: number;
    producerId: unknown;
    producerEpoch: number;
    firstSequence: number;
    transactional: boolean;
  },
): Promise<Buffer | undefined> {
  const records = encodeRecords(args.messages);
  if (!records) return undefined;
  let payload = records;
  if (args.compression !== 0) {
    const codec = k.lookupCodec(args.compression);
    if (!codec) return undefined;
    payload = await codec.compress({ buffer: records });
  }
  const now = Date.now();
  const bodySize = BATCH_BODY_HEADER + payload.length;
  const batch = Buffer.allocUnsafe(BATCH_HEADER + bodySize);
  const b = BATCH_HEADER; // where the CRC'd body starts
  batch.writeInt16BE((args.compression & 0x07) | (args.transactional ? 16 : 0), b);
  batch.writeInt32BE(args.messages.length - 1, b + 2); // lastOffsetDelta
  writeInt64(batch, b + 6, k.Long.fromValue(now)); // firstTimestamp
  writeInt64(batch, b + 14, k.Long.fromValue(now)); // maxTimestamp
  writeInt64(batch, b + 22, k.Long.fromValue(args.producerId));
  batch.writeInt16BE(args.producerEpoch, b + 30);
  batch.writeInt32BE(args.firstSequence, b + 32);
  batch.writeInt32BE(args.messages.length, b + 36);
  payload.copy(batch, b + BATCH_BODY_HEADER);
  // firstOffset 0, then the length of what follows it
  batch.writeInt32BE(0, 0);
  batch.writeInt32BE(0, 4);
  batch.writeInt32BE(batch.length - 12, 8);
  batch.writeInt32BE(0, 12); // partitionLeaderEpoch
  batch.writeInt8(2, 16); // magic
  batch.writeUInt32BE(crc32c(batch.subarray(b)), 17);
  return batch;
}

function stringSize(s: string | null): number {
  return 2 + (s === null ? 0 : Buffer.byteLength(s, 'utf8'));
}

function writeString(buf: Buffer, offset: number, s: string | null): number {
  if (s === null) return buf.writeInt16BE(-1, offset);
  const len = Buffer.byteLength(s, 'utf8');
  offset = buf.writeInt16BE(len, offset);
  return offset + buf.write(s, offset, len, 'utf8');
}

/** Counts of produce requests encoded by each path (for tests and diagnostics). */
export const fastProduceStats = { fast: 0, fallback: 0 };

/**
 * Wraps kafkajs's produce request factory: the request encodes with `encodeRecordBatch` when every
 * message allows it, else with kafkajs's original `encode`.
 */
export function fastProduceRequest(
  original: ProduceRequestFactory,
  k: KafkajsInternals,
): ProduceRequestFactory {
  const fast: ProduceRequestFactory = (args) => {
    const request = original(args);
    const encode = async (): Promise<KafkaEncoder> => {
      const fast = await encodeProduce(k, args);
      if (fast) {
        fastProduceStats.fast++;
        return fast;
      }
      fastProduceStats.fallback++;
      return request.encode();
    };
    return { ...request, encode };
  };
  fast.original = original;
  return fast;
}

async function encodeProduce(
  k: KafkajsInternals,
  a: ProduceArgs,
): Promise<KafkaEncoder | undefined> {
  const transactionalId = a.transactionalId ?? null;
  const compression = a.compression ?? 0;
  const producerId = a.producerId === undefined ? -1 : a.producerId;
  const producerEpoch = a.producerEpoch ?? 0;
  const batches: Buffer[][] = [];
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  for (const t of a.topicData) {
    const list: Buffer[] = [];
    size += stringSize(t.topic) + 4;
    for (const p of t.partitions) {
      const batch = await encodeRecordBatch(k, {
        messages: p.messages,
        compression,
        producerId,
        producerEpoch,
        firstSequence: p.firstSequence ?? 0,
        transactional: !!transactionalId,
      });
      if (!batch) return undefined;
      list.push(batch);
      size += 4 + 4 + batch.length;
    }
    batches.push(list);
  }
  const buf = Buffer.allocUnsafe(size);
  let o = writeString(buf, 0, transactionalId);
  o = buf.writeInt16BE(a.acks, o);
  o = buf.writeInt32BE(a.timeout, o);
  o = buf.writeInt32BE(a.topicData.length, o);
  a.topicData.forEach((t, ti) => {
    o = writeString(buf, o, t.topic);
    o = buf.writeInt32BE(t.partitions.length, o);
    t.partitions.forEach((p, pi) => {
      const batch = batches[ti]![pi]!;
      o = buf.writeInt32BE(p.partition, o);
      o = buf.writeInt32BE(batch.length, o);
      o += batch.copy(buf, o);
    });
  });
  const encoder = new k.Encoder(0);
  encoder.buf = buf;
  encoder.offset = o;
  return encoder;
}

/** What `installFastProduce` managed to replace. */
export interface FastProduceStatus {
  /** The produce request encoder is replaced. */
  readonly encoder: boolean;
  /** The per-partition grouping is linear (so a request may carry many messages). */
  readonly grouping: boolean;
  /** Why something was left as it was. */
  readonly reason?: string;
}

let installed: FastProduceStatus | undefined;

/**
 * Installs the fast grouping and encoder into kafkajs's module cache. Must run before kafkajs is
 * first loaded for the grouping (kafkajs captures it at load); the encoder can be installed until
 * the first produce request. Idempotent; never throws (the status says what was not replaced).
 */
export function installFastProduce(): FastProduceStatus {
  if (installed) return installed;
  installed = tryInstall();
  return installed;
}

function tryInstall(): FastProduceStatus {
  try {
    const here = createRequire(import.meta.url);
    const main = here.resolve('kafkajs');
    const req = createRequire(main);
    const { version } = req('./package.json') as { version: string };
    if (version !== KAFKAJS_VERSION)
      return {
        encoder: false,
        grouping: false,
        reason: `kafkajs ${version} is not ${KAFKAJS_VERSION}`,
      };
    const cache = req.cache;
    const path = (p: string) => req.resolve(p);
    const loaded = (p: string) => cache[path(p)] !== undefined;

    let grouping = false;
    let reason: string | undefined;
    if (loaded('./src/producer/sendMessages.js')) {
      reason = 'kafkajs was loaded before the sink: its grouping is kept, requests are capped';
    } else {
      req('./src/producer/groupMessagesPerPartition.js');
      cache[path('./src/producer/groupMessagesPerPartition.js')]!.exports =
        groupMessagesPerPartition;
      grouping = true;
    }

    let encoder = false;
    const extending = ['v4', 'v5', 'v6', 'v7'].map(
      (v) => `./src/protocol/requests/produce/${v}/request.js`,
    );
    if (extending.some(loaded)) {
      reason = 'kafkajs produced before the sink connected: its encoder is kept';
    } else {
      const v3 = './src/protocol/requests/produce/v3/request.js';
      const original = req(v3) as ProduceRequestFactory;
      const internals: KafkajsInternals = {
        Encoder: req('./src/protocol/encoder.js') as KafkajsInternals['Encoder'],
        Long: req('./src/utils/long.js') as KafkajsInternals['Long'],
        lookupCodec: (
          req('./src/protocol/message/compression/index.js') as Pick<
            KafkajsInternals,
            'lookupCodec'
          >
        ).lookupCodec,
      };
      cache[path(v3)]!.exports = fastProduceRequest(original, internals);
      encoder = true;
    }
    return reason === undefined ? { encoder, grouping } : { encoder, grouping, reason };
  } catch (err) {
    return {
      encoder: false,
      grouping: false,
      reason: `cannot reach kafkajs's internals: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}
