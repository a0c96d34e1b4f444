// kafkajs's fast produce path (the pnpm patch patches/kafkajs@2.2.4.patch) against kafkajs's own
// code: the same request bytes for the same messages, the same grouping, the same CRC-32C, and the
// same partitions from the caching partitioner; the sink reads the patch's status from kafkajs.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, jest } from '@jest/globals';
import type * as KafkaJs from 'kafkajs';
import {
  describeFastProduce,
  fastProduceStatus,
  type PatchedProduceRequest,
} from '../src/internal/fast-produce.js';
import { cachingPartitioner } from '../src/internal/kafkajs-producer.js';

/** A kafkajs message as the produce request sees it. */
interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  timestamp?: unknown;
  headers?: unknown;
  partition?: number;
}
interface ProduceArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: {
    topic: string;
    partitions: { partition: number; messages: ProduceMessage[]; firstSequence?: number }[];
  }[];
}
interface ProduceRequest {
  apiKey: number;
  apiVersion: number;
  apiName: string;
  expectResponse(): boolean;
  encode(): Promise<{ buffer: Buffer }>;
}
type ProduceRequestFactory = ((args: ProduceArgs) => ProduceRequest) & PatchedProduceRequest;

const req = createRequire(createRequire(import.meta.url).resolve('kafkajs'));
const kafkajs = req('./index.js') as typeof KafkaJs;
const fast = req('./src/protocol/requests/produce/v3/request.js') as ProduceRequestFactory;
const original = fast.original as ProduceRequestFactory;
const patch = req('./src/protocol/requests/produce/v3/fastRequest.js') as {
  encodeRecords(m: ProduceMessage[]): Buffer | undefined;
  crc32c(b: Uint8Array): number;
  stats: { fast: number; fallback: number };
};
const fastProduceStats = patch.stats;
const encodeRecords = patch.encodeRecords;
const crc32c = patch.crc32c;
const kafkaCrc = req('./src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number;
const Long = req('./src/utils/long.js') as { fromValue(v: unknown): unknown };
const groupMessagesPerPartition = req('./src/producer/groupMessagesPerPartition.js') as (a: {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly ProduceMessage[];
  partitioner: (a: {
    topic: string;
    partitionMetadata: readonly unknown[];
    message: ProduceMessage;
  }) => number;
}) => Record<number, ProduceMessage[]>;

describe('the patched kafkajs', () => {
  it('is what this package resolves, and the sink says so', () => {
    const status = fastProduceStatus();
    expect(status).toEqual({ encoder: true, grouping: true });
    expect(describeFastProduce(status)).toBe(
      'kafka: kafkajs fast produce path on (patched kafkajs 2.2.4)',
    );
    expect(typeof original).toBe('function');
  });

  it('an unpatched kafkajs is reported off, with the reason', () => {
    expect(
      describeFastProduce({
        encoder: false,
        grouping: false,
        reason: 'kafkajs 2.2.4 without the iotsim patch',
      }),
    ).toBe('kafka: kafkajs fast produce path off: kafkajs 2.2.4 without the iotsim patch');
    // a kafkajs 2.2.4 without the patch, as npm would install it for another package
    const dir = mkdtempSync(join(tmpdir(), 'iotsim-kafkajs-'));
    const pkg = join(dir, 'node_modules', 'kafkajs');
    mkdirSync(join(pkg, 'src', 'protocol', 'requests', 'produce', 'v3'), { recursive: true });
    mkdirSync(join(pkg, 'src', 'producer'), { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      '{"name":"kafkajs","version":"2.2.4","main":"index.js"}',
    );
    writeFileSync(join(pkg, 'index.js'), '');
    writeFileSync(
      join(pkg, 'src/protocol/requests/produce/v3/request.js'),
      'module.exports = () => {}',
    );
    writeFileSync(
      join(pkg, 'src/producer/groupMessagesPerPartition.js'),
      'module.exports = () => {}',
    );
    const status = fastProduceStatus(join(dir, 'x.js'));
    expect(status).toMatchObject({ encoder: false, grouping: false });
    expect(describeFastProduce(status)).toBe(
      'kafka: kafkajs fast produce path off: kafkajs 2.2.4 without the iotsim patch (patches/kafkajs@2.2.4.patch): ~5x more CPU per record, requests capped at 2,000 messages',
    );
    rmSync(dir, { recursive: true, force: true });
  });
});

async function bytes(factory: ProduceRequestFactory, args: ProduceArgs): Promise<Buffer> {
  return (await factory(args).encode()).buffer;
}

function messages(n: number, f: (i: number) => ProduceMessage): ProduceMessage[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

const json = (i: number) => JSON.stringify({ sensor_name: `s${i}`, value: i * 1.5, unit: '°C' });

describe('fast produce request', () => {
  const now = jest.spyOn(Date, 'now');
  now.mockReturnValue(1_700_000_000_123);

  const cases: [string, Partial<ProduceArgs>, ProduceMessage[][]][] = [
    ['string keys and JSON values', {}, [messages(5, (i) => ({ key: `k${i}`, value: json(i) }))]],
    [
      'no keys (null and undefined)',
      {},
      [messages(4, (i) => ({ key: i % 2 ? null : undefined, value: json(i) }))],
    ],
    [
      'Buffer keys and values, empty and null values',
      {},
      [
        messages(6, (i) => ({
          key: Buffer.from([i, 255]),
          value: i === 0 ? '' : i === 1 ? null : randomBytes(i * 10),
        })),
      ],
    ],
    [
      'non-ASCII text (multi-byte UTF-8)',
      {},
      [messages(3, (i) => ({ key: 'Gerät-ü-€', value: `温度 ${'ß'.repeat(i * 50)} 🌡` }))],
    ],
    [
      '300 messages (offset deltas over one varint byte) and values over 16 KB',
      {},
      [messages(300, (i) => ({ key: `key-${i}`, value: i === 7 ? 'x'.repeat(20_000) : json(i) }))],
    ],
    [
      'several partitions and topics',
      {},
      [
        messages(3, (i) => ({ key: `a${i}`, value: json(i) })),
        messages(2, (i) => ({ value: json(i + 10) })),
      ],
    ],
    [
      'acks 1, a producer id, epoch, sequence and transactional id',
      { acks: 1, transactionalId: 'tx-1', producerId: Long.fromValue(4242), producerEpoch: 3 },
      [messages(5, (i) => ({ key: `k${i}`, value: json(i) }))],
    ],
    [
      'gzip compression',
      { compression: kafkajs.CompressionTypes.GZIP },
      [messages(50, (i) => ({ key: `k${i % 3}`, value: json(i) }))],
    ],
  ];

  function args(extra: Partial<ProduceArgs>, parts: ProduceMessage[][]): ProduceArgs {
    const partitions = parts.map((m, p) => ({ partition: p, messages: m, firstSequence: p * 7 }));
    return {
      acks: -1,
      timeout: 30_000,
      compression: 0,
      ...extra,
      topicData:
        parts.length > 1
          ? [
              { topic: 'topic-a', partitions: partitions.slice(0, 1) },
              { topic: 'tópico-b', partitions: partitions.slice(1) },
            ]
          : [{ topic: 'iot', partitions }],
    };
  }

  it.each(cases)('writes the same bytes as kafkajs: %s', async (_name, extra, parts) => {
    const before = fastProduceStats.fast;
    const a = args(extra, parts);
    const mine = await bytes(fast, a);
    expect(fastProduceStats.fast).toBe(before + 1);
    expect(mine.equals(await bytes(original, a))).toBe(true);
  });

  it('keeps the request fields of kafkajs (api key, version, response expected)', () => {
    const a = args({ acks: 0 }, [messages(1, () => ({ value: 'v' }))]);
    const o = original(a);
    const f = fast(a);
    expect([f.apiKey, f.apiVersion, f.apiName, f.expectResponse()]).toEqual([
      o.apiKey,
      o.apiVersion,
      o.apiName,
      o.expectResponse(),
    ]);
  });

  it.each([
    ['headers', { value: 'v', headers: { h: 'x' } }],
    ['an own timestamp', { value: 'v', timestamp: '1700000000000' }],
  ] as [string, ProduceMessage][])(
    'leaves a request with %s to kafkajs, with the same bytes',
    async (_name, odd) => {
      const before = fastProduceStats.fallback;
      const a = args({}, [[{ key: 'k', value: 'plain' }, odd]]);
      expect((await bytes(fast, a)).equals(await bytes(original, a))).toBe(true);
      expect(fastProduceStats.fallback).toBe(before + 1);
      expect(encodeRecords([odd])).toBeUndefined();
    },
  );

  it('fails like kafkajs for a value kafkajs cannot encode (a number)', async () => {
    const a = args({}, [[{ key: 'k', value: 42 }]]);
    const error = await original(a)
      .encode()
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('TypeError');
    await expect(fast(a).encode()).rejects.toThrow((error as Error).message);
  });

  it('fails like kafkajs when a codec is not registered', async () => {
    // Snappy is registered by codecs.test.ts only in its own module registry; a fresh type number
    // has no codec at all: both paths must reject rather than send uncompressed data
    const a = args({ compression: 7 }, [messages(2, (i) => ({ value: json(i) }))]);
    await expect(original(a).encode()).rejects.toThrow();
    await expect(fast(a).encode()).rejects.toThrow();
  });
});

describe('crc32c', () => {
  it.each([0, 1, 7, 8, 9, 63, 1000, 70_001])('matches kafkajs for %i random bytes', (n) => {
    const b = randomBytes(n);
    expect(crc32c(b)).toBe(kafkaCrc(b));
  });
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});

describe('groupMessagesPerPartition', () => {
  it('groups like kafkajs, keeping each partition in order', () => {
    // kafkajs 2.2.4's groupMessagesPerPartition, verbatim but for types
    const kafkaGrouping: typeof groupMessagesPerPartition = ({
      topic,
      partitionMetadata,
      messages: ms,
      partitioner,
    }) =>
      ms.reduce<Record<number, ProduceMessage[]>>((result, message) => {
        const p = partitioner({ topic, partitionMetadata, message });
        return Object.assign(result, { [p]: [...(result[p] ?? []), message] });
      }, {});
    const ms = messages(500, (i) => ({ key: `k${i % 37}`, value: `${i}` }));
    const partitionMetadata = Array.from({ length: 6 }, (_, p) => ({ partitionId: p, leader: 0 }));
    const partitioner = kafkajs.Partitioners.DefaultPartitioner();
    const input = {
      topic: 't',
      partitionMetadata,
      messages: ms,
      partitioner: partitioner as never,
    };
    const mine = groupMessagesPerPartition(input);
    expect(mine).toEqual(kafkaGrouping(input));
    expect(Object.keys(mine).length).toBeGreaterThan(1);
    expect(groupMessagesPerPartition({ ...input, partitionMetadata: [] })).toEqual({});
  });
});

describe('cachingPartitioner', () => {
  it("gives every key kafkajs's default partition, also after the partition count changes", () => {
    const base = kafkajs.Partitioners.DefaultPartitioner();
    const cached = cachingPartitioner(kafkajs.Partitioners.DefaultPartitioner)();
    for (const count of [6, 6, 3, 12]) {
      const partitionMetadata = Array.from({ length: count }, (_, p) => ({
        partitionId: p,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      for (let i = 0; i < 200; i++) {
        const message = { key: `sensor-${i}`, value: 'v' };
        const a = { topic: 't', partitionMetadata, message };
        expect(cached(a)).toBe(base(a));
      }
      const explicit = {
        topic: 't',
        partitionMetadata,
        message: { key: 'sensor-1', value: 'v', partition: 0 },
      };
      expect(cached(explicit)).toBe(0);
    }
  });
});
