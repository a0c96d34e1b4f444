import { describe, expect, it } from '@jest/globals';
import {
  CSV_LAYOUT,
  DataGenerator,
  encodeJsonArray,
  JSON_LINES_LAYOUT,
  jsonArrayEncoder,
  listIndustries,
  recordToJson,
  RecordTextEncoder,
  SensorRecord,
} from '../src/index.js';

const awkward = new SensorRecord(
  'tank "A", level',
  'smart_office',
  'smart_office-001',
  -12.5e-3,
  '°C',
  'temperature',
  1_700_000_000.25,
  -40,
  125.75,
  21.5,
  true,
  Object.freeze({ site: 'Zürich, line 3', asset: 42 }),
);

function records(): SensorRecord[] {
  const gen = new DataGenerator({ industries: listIndustries(), seed: 4 });
  const out = [awkward];
  for (let k = 0; k < 30; k++) out.push(...gen.tick(1_700_000_000 + k * 0.5), awkward);
  return out;
}

describe('RecordTextEncoder', () => {
  it('JSON Lines bytes equal recordToJson of every record, line by line', () => {
    const rs = records();
    const encoder = new RecordTextEncoder(JSON_LINES_LAYOUT);
    const text =
      encoder.encode(rs).toString('utf8') + encoder.encode(rs.slice(0, 50)).toString('utf8');
    expect(text).toBe([...rs, ...rs.slice(0, 50)].map((r) => recordToJson(r) + '\n').join(''));
  });

  it('reports where each record ends', () => {
    const rs = records().slice(0, 20);
    const ends: number[] = [];
    const buf = new RecordTextEncoder(JSON_LINES_LAYOUT).encode(rs, ends);
    expect(ends).toHaveLength(20);
    expect(buf.subarray(ends[0], ends[1]).toString()).toBe(recordToJson(rs[1]!) + '\n');
  });

  it('CSV rows quote per RFC 4180 and keep metadata as a JSON column', () => {
    const line = new RecordTextEncoder(CSV_LAYOUT).encode([awkward]).toString('utf8');
    expect(line).toBe(
      '"tank ""A"", level",smart_office,smart_office-001,-0.0125,°C,temperature,1700000000.25,-40,125.75,21.5,true,"{""site"":""Zürich, line 3"",""asset"":42}"\n',
    );
  });

  it('does not reuse a channel whose constant fields changed', () => {
    const encoder = new RecordTextEncoder(JSON_LINES_LAYOUT);
    const a = new SensorRecord('x', 'lab', 'lab-001', 1, 'm', 'flow', 5, 0, 10, 5, false);
    const b = new SensorRecord('x', 'lab', 'lab-001', 1, 'cm', 'flow', 5, 0, 1000, 500, false);
    expect(encoder.encode([a, b]).toString()).toBe(recordToJson(a) + '\n' + recordToJson(b) + '\n');
  });

  it('grows its buffer for records longer than the estimate', () => {
    const long = new SensorRecord(
      'n'.repeat(5000),
      'lab',
      'lab-001',
      1,
      'm',
      'flow',
      5,
      0,
      10,
      5,
      false,
    );
    expect(new RecordTextEncoder(JSON_LINES_LAYOUT).encode([long, long]).toString()).toBe(
      (recordToJson(long) + '\n').repeat(2),
    );
  });
});

describe('encodeJsonArray', () => {
  it('equals JSON.stringify of the records', () => {
    const rs = records().slice(0, 100);
    const encoder = jsonArrayEncoder();
    expect(encodeJsonArray(encoder, rs).toString('utf8')).toBe(JSON.stringify(rs));
    expect(encodeJsonArray(encoder, []).toString('utf8')).toBe('[]');
    expect(encodeJsonArray(encoder, [awkward]).toString('utf8')).toBe(JSON.stringify([awkward]));
  });
});
