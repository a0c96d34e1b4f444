import type { SensorRecord } from '@iotsim/core';
import type * as Protobuf from 'protobufjs';

/** The protobuf schema of a record for `record_type: proto` (proto2, self-contained). */
export const RECORD_PROTO = `syntax = "proto2";
message SensorRecord {
  optional string sensor_name = 1;
  optional string industry = 2;
  optional string device_id = 3;
  optional double value = 4;
  optional string unit = 5;
  optional string sensor_type = 6;
  optional double timestamp = 7;
  optional double min_value = 8;
  optional double max_value = 9;
  optional double nominal_value = 10;
  optional bool fault_active = 11;
  map<string, string> metadata = 12;
}
`;

// google.protobuf.FieldDescriptorProto enums.
const OPTIONAL = 1;
const REPEATED = 3;
const TYPE = { double: 1, bool: 8, string: 9, message: 11 } as const;

/** The record message as a google.protobuf.DescriptorProto object (what CreateIngestStream wants). */
export function recordDescriptor(): Record<string, unknown> {
  const f = (name: string, number: number, type: keyof typeof TYPE): Record<string, unknown> => ({
    name,
    number,
    label: OPTIONAL,
    type: TYPE[type],
  });
  return {
    name: 'SensorRecord',
    field: [
      f('sensor_name', 1, 'string'),
      f('industry', 2, 'string'),
      f('device_id', 3, 'string'),
      f('value', 4, 'double'),
      f('unit', 5, 'string'),
      f('sensor_type', 6, 'string'),
      f('timestamp', 7, 'double'),
      f('min_value', 8, 'double'),
      f('max_value', 9, 'double'),
      f('nominal_value', 10, 'double'),
      f('fault_active', 11, 'bool'),
      {
        name: 'metadata',
        number: 12,
        label: REPEATED,
        type: TYPE.message,
        typeName: '.SensorRecord.MetadataEntry',
      },
    ],
    nestedType: [
      {
        name: 'MetadataEntry',
        field: [f('key', 1, 'string'), f('value', 2, 'string')],
        options: { mapEntry: true },
      },
    ],
  };
}

/** Metadata as the proto map holds it: strings stay, other values become JSON text. */
export function metadataToStrings(m: Readonly<Record<string, unknown>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

/** Encodes records with protobufjs (loaded lazily by the sink). */
export class RecordEncoder {
  private readonly type: Protobuf.Type;
  readonly descriptorBytes: Uint8Array;

  constructor(protobuf: typeof Protobuf, descriptorProto: Protobuf.Type) {
    this.type = protobuf.parse(RECORD_PROTO, { keepCase: true }).root.lookupType('SensorRecord');
    this.descriptorBytes = descriptorProto
      .encode(descriptorProto.fromObject(recordDescriptor()))
      .finish();
  }

  encode(r: SensorRecord): Uint8Array {
    return this.type
      .encode({
        sensor_name: r.sensor_name,
        industry: r.industry,
        device_id: r.device_id,
        value: r.value,
        unit: r.unit,
        sensor_type: r.sensor_type,
        timestamp: r.timestamp,
        min_value: r.min_value,
        max_value: r.max_value,
        nominal_value: r.nominal_value,
        fault_active: r.fault_active,
        metadata: metadataToStrings(r.metadata),
      })
      .finish();
  }
}
