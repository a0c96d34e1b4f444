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

describe('RecordTextEncoder buffers', () => {
  it('reuseBuffer: each result is a view of one kept buffer, right until the next call', () => {
    const rs = records();
    const encoder = new RecordTextEncoder(CSV_LAYOUT, { reuseBuffer: true });
    const first = encoder.encode(rs);
    const firstText = first.toString('utf8');
    const second = encoder.encode(rs.slice(0, 40));
    expect(second.buffer).toBe(first.buffer);
    expect(second.toString('utf8')).toBe(rs.slice(0, 40).map(csvLine).join(''));
    expect(firstText).toBe(rs.map(csvLine).join(''));
    // A larger batch than the kept buffer holds gets a new one.
    const third = encoder.encode([...rs, ...rs, ...rs]);
    expect(third.toString('utf8')).toBe([...rs, ...rs, ...rs].map(csvLine).join(''));
  });

  it('without reuseBuffer every result is a buffer of its own, sized from the records seen', () => {
    const rs = records();
    const encoder = new RecordTextEncoder(JSON_LINES_LAYOUT);
    const a = encoder.encode(rs);
    const b = encoder.encode(rs);
    expect(b.buffer).not.toBe(a.buffer);
    expect(a.toString('utf8')).toBe(b.toString('utf8'));
    // Sized from the largest bytes per record seen, not a fixed guess: at most 1/8 over.
    expect(b.buffer.byteLength).toBeLessThanOrEqual(Math.ceil(b.length * 1.125) + 1);
  });
});

function csvLine(r: SensorRecord): string {
  return new RecordTextEncoder(CSV_LAYOUT).encode([r]).toString('utf8');
}

describe('encodeJsonArray', () => {
  it('equals JSON.stringify of the records', () => {
    const rs = records().slice(0, 100);
    const encoder = jsonArrayEncoder();
    expect(encodeJsonArray(encoder, rs).toString('utf8')).toBe(JSON.stringify(rs));
    expect(encodeJsonArray(encoder, []).toString('utf8')).toBe('[]');
    expect(encodeJsonArray(encoder, [awkward]).toString('utf8')).toBe(JSON.stringify([awkward]));
  });
});
