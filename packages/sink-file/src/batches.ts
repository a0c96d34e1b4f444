import { RecordBatch, type BatchSegment } from '@iotsim/core';

/** The timestamp of reading `i` of `batch` (NaN past its end). */
export function timestampAt(batch: RecordBatch, i: number): number {
  let skip = i;
  for (const s of batch.segments) {
    const len = s.end - s.start;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const at = s.start + skip;
    if (s.frame) return s.frame.timestamps[(at / s.frame.table.length) | 0]!;
    return s.records[at]!.timestamp;
  }
  return Number.NaN;
}

/**
 * The first position at or after `from` whose reading satisfies `stop(timestamp)`, or the batch
 * size. Readings of a frame share their tick's timestamp, so frames are scanned tick by tick.
 */
export function findStop(
  batch: RecordBatch,
  from: number,
  stop: (timestamp: number) => boolean,
): number {
  let base = 0;
  for (const s of batch.segments) {
    const len = s.end - s.start;
    if (from >= base + len) {
      base += len;
      continue;
    }
    let at = s.start + Math.max(0, from - base);
    if (s.frame) {
      const n = s.frame.table.length;
      const ts = s.frame.timestamps;
      while (at < s.end) {
        const k = (at / n) | 0;
        if (stop(ts[k]!)) return base + (at - s.start);
        at = (k + 1) * n;
      }
    } else {
      for (; at < s.end; at++) if (stop(s.records[at]!.timestamp)) return base + (at - s.start);
    }
    base += len;
  }
  return batch.size;
}

/** Readings `[from, to)` of `batch`, as a batch over the same frames (nothing is copied). */
export function sliceBatch(batch: RecordBatch, from: number, to: number): RecordBatch {
  if (from <= 0 && to >= batch.size) return batch;
  const out: BatchSegment[] = [];
  let base = 0;
  for (const s of batch.segments) {
    const len = s.end - s.start;
    const a = Math.max(from, base);
    const b = Math.min(to, base + len);
    if (a < b) {
      const start = s.start + (a - base);
      const end = s.start + (b - base);
      out.push(s.frame ? { frame: s.frame, start, end } : { records: s.records, start, end });
    }
    base += len;
    if (base >= to) break;
  }
  return new RecordBatch(out, Math.max(0, to - from));
}
