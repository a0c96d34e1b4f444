import type { MetadataValue, SensorRecordDict } from '@iotsim/core';

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
