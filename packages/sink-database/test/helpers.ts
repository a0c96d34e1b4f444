import {
  DataGenerator,
  type Frame,
  RecordBatch,
  type MetadataValue,
  type SensorRecord,
  type SensorRecordDict,
  type WriteRequest,
} from '@iotsim/core';

/**
 * A frame as the engine makes it: `ticks` ticks of the mining industry plus a custom sensor whose
 * name, unit and metadata need COPY escaping.
 */
export function makeFrame(ticks: number): Frame {
  const gen = new DataGenerator({
    industries: ['mining'],
    seed: 7,
    customSensors: [
      {
        name: 'tab\tname "q"',
        sensorType: 'level',
        unit: 'm\\s',
        minValue: 0,
        maxValue: 10,
        nominalValue: 5,
        anomalyProbability: 0.2,
        metadata: { note: 'a "b" \\ c\nd', asset: 42 },
      },
    ],
  });
  const timestamps = Float64Array.from({ length: ticks }, (_, k) => 1_700_000_000 + k * 0.25);
  return gen.generate(0, timestamps, 0.25);
}

let batchIds = 0;
/** A write request for `records` (a first attempt), as the runner builds one. */
export function writeRequest(records: readonly SensorRecord[]): WriteRequest {
  const batch = RecordBatch.of(records);
  return {
    batchId: ++batchIds,
    attempt: 0,
    size: batch.size,
    records,
    batch,
    signal: new AbortController().signal,
  };
}

/** A row read back from a sensor table, with the dialect's value types. */
export interface SensorRow {
  sensor_name: string;
  industry: string;
  device_id: string;
  value: number;
  unit: string;
  sensor_type: string;
  timestamp: number;
  min_value: number;
  max_value: number;
  nominal_value: number;
  fault_active: boolean | number;
  metadata: string | Record<string, MetadataValue>;
}

/** A row as a record dict: SQLite's 0/1 → boolean, JSON text → object. */
export function rowToDict(row: SensorRow): SensorRecordDict {
  return {
    sensor_name: row.sensor_name,
    industry: row.industry,
    device_id: row.device_id,
    value: row.value,
    unit: row.unit,
    sensor_type: row.sensor_type,
    timestamp: row.timestamp,
    min_value: row.min_value,
    max_value: row.max_value,
    nominal_value: row.nominal_value,
    fault_active: row.fault_active === true || row.fault_active === 1,
    metadata:
      typeof row.metadata === 'string'
        ? (JSON.parse(row.metadata) as Record<string, MetadataValue>)
        : row.metadata,
  };
}
