import {
  DataGenerator,
  RecordBatch,
  SensorRecord,
  type SensorRecordDict,
  type WriteRequest,
} from '@iotsim/core';

/** Options of `makeRecords`. */
export interface MakeRecordsOptions {
  /** Built-in industries to draw from. Default: mining and aerospace. */
  industries?: string[];
  /** Seed. Default 7. */
  seed?: number;
  /** First timestamp, epoch seconds. Default 1_700_000_000. */
  start?: number;
  /** Seconds between ticks. Default 1. */
  step?: number;
  /** Add records with commas, quotes, unicode and metadata to exercise escaping. Default true. */
  awkward?: boolean;
}

/** `n` deterministic records from the real generator, plus awkward ones that test escaping. */
export function makeRecords(n: number, options: MakeRecordsOptions = {}): SensorRecord[] {
  const gen = new DataGenerator({
    industries: options.industries ?? ['mining', 'aerospace'],
    seed: options.seed ?? 7,
  });
  const out: SensorRecord[] = [];
  let t = options.start ?? 1_700_000_000;
  const awkward = options.awkward ?? true;
  while (out.length < n) {
    if (awkward && out.length % 50 === 0) {
      out.push(
        new SensorRecord(
          'tank "A", level',
          'smart_office',
          'smart_office-001',
          -12.5e-3,
          '°C',
          'temperature',
          t + 0.25,
          -40,
          125.75,
          21.5,
          true,
          Object.freeze({ site: 'Zürich, line 3', asset: 42, 'quoted "key"': true }),
        ),
      );
    }
    for (const r of gen.tick(t)) {
      if (out.length >= n) break;
      out.push(r);
    }
    t += options.step ?? 1;
  }
  return out.slice(0, n);
}

/** Plain-object forms of records, for comparisons. */
export function dicts(records: readonly SensorRecord[]): SensorRecordDict[] {
  return records.map((r) => r.toDict());
}

/** Splits records into chunks the way generator ticks arrive. */
export function chunked<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

let nextTestBatchId = 1_000_000;

/** A WriteRequest for calling `sink.write` directly in a test (a fresh batch id, attempt 0). */
export function writeRequest(
  records: readonly SensorRecord[],
  options: { batchId?: number; attempt?: number; signal?: AbortSignal } = {},
): WriteRequest {
  const batch = RecordBatch.of(records);
  return {
    batchId: options.batchId ?? nextTestBatchId++,
    attempt: options.attempt ?? 0,
    size: batch.size,
    records,
    batch,
    signal: options.signal ?? new AbortController().signal,
  };
}
