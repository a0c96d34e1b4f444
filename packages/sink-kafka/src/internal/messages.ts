import {
  JSON_RECORD_LAYOUT,
  RecordBatch,
  RecordTextEncoder,
  type RecordChannel,
  type SensorRecord,
} from '@iotsim/core';
import type { KeyField } from '../options.js';
import type { ProducerMessage } from './producer.js';

/** Bytes a message adds to a produce request besides its key and value (record header, varints). */
const RECORD_OVERHEAD = 24;

/** The message key of a record for a key field, or null for no key. */
export function messageKey(record: SensorRecord, keyField: KeyField | null): string | null {
  return keyField === null ? null : record[keyField];
}

/** The channel field of each key field. */
const CHANNEL_KEY: Readonly<Record<KeyField, (channel: RecordChannel) => string>> = {
  sensor_name: (c) => c.sensorName,
  industry: (c) => c.industry,
  device_id: (c) => c.deviceId,
};

/** The message key of every reading of a batch, in order, read from the channels. */
function batchKeys(batch: RecordBatch, keyField: KeyField): string[] {
  const keyOf = CHANNEL_KEY[keyField];
  const keys = new Array<string>(batch.size);
  let i = 0;
  batch.forEach((channel) => {
    keys[i++] = keyOf(channel);
  });
  return keys;
}

/**
 * The messages of a batch: the record's JSON as value, the configured field as key. Returns them
 * split into runs of at most `maxRequestSize` bytes (key + value + overhead) and `maxMessages`
 * messages, each run sent as one produce request.
 */
export function toMessages(
  records: RecordBatch | readonly SensorRecord[],
  keyField: KeyField | null,
  maxRequestSize: number,
  maxMessages = Infinity,
  encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT),
): ProducerMessage[][] {
  return [...messageRuns(records, keyField, maxRequestSize, maxMessages, encoder)];
}

/**
 * `toMessages` one run at a time: the write builds a request's messages (the records' JSON) only
 * when the request before it is done, so no more of them are alive at once than one request holds.
 */
export function* messageRuns(
  records: RecordBatch | readonly SensorRecord[],
  keyField: KeyField | null,
  maxRequestSize: number,
  maxMessages = Infinity,
  encoder = new RecordTextEncoder(JSON_RECORD_LAYOUT),
): Generator<ProducerMessage[]> {
  // Read straight from the batch's frames: no record objects are built.
  const batch = Array.isArray(records)
    ? RecordBatch.of(records as readonly SensorRecord[])
    : (records as RecordBatch);
  // The whole batch's JSON in one buffer; each message value is a view of its record's bytes.
  const ends: number[] = [];
  const json = encoder.encodeBatch(batch, ends);
  const keys = keyField === null ? undefined : batchKeys(batch, keyField);
  let run: ProducerMessage[] = [];
  let bytes = 0;
  for (let i = 0; i < ends.length; i++) {
    const value = json.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    const key = keys === undefined ? undefined : keys[i]!;
    // Keys are names: their length is a close, cheap estimate of their UTF-8 size.
    const size = value.length + (key === undefined ? 0 : key.length) + RECORD_OVERHEAD;
    if (run.length > 0 && (bytes + size > maxRequestSize || run.length >= maxMessages)) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(key === undefined ? { value } : { key, value });
    bytes += size;
  }
  if (run.length > 0) yield run;
}
