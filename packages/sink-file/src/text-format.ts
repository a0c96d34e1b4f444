import { RECORD_FIELDS, recordToJson, type SensorRecord } from '@iotsim/core';

/** The CSV header row: RECORD_FIELDS in order. */
export const CSV_HEADER = `${RECORD_FIELDS.join(',')}\n`;

const NEEDS_QUOTES = /[",\r\n]/;

/** A CSV field per RFC 4180: quoted (inner quotes doubled) only when it holds `,`, `"`, CR or LF. */
export function csvField(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Formats records as CSV lines (LF line ends). Names, units and industries repeat across records,
 * so their escaped forms are cached.
 */
export class CsvFormatter {
  private cache = new Map<string, string>();

  /** The CSV text of `records`, one line each, in RECORD_FIELDS order. */
  format(records: readonly SensorRecord[]): string {
    let out = '';
    for (const r of records) {
      const m = r.metadata;
      let meta = '{}';
      for (const key in m) {
        if (Object.hasOwn(m, key)) {
          meta = csvField(JSON.stringify(m));
          break;
        }
      }
      out +=
        `${this.str(r.sensor_name)},${this.str(r.industry)},${this.str(r.device_id)},${r.value},` +
        `${this.str(r.unit)},${this.str(r.sensor_type)},${r.timestamp},${r.min_value},` +
        `${r.max_value},${r.nominal_value},${r.fault_active},${meta}\n`;
    }
    return out;
  }

  private str(s: string): string {
    let e = this.cache.get(s);
    if (e === undefined) {
      e = csvField(s);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(s, e);
    }
    return e;
  }
}

/**
 * Formats records as JSON Lines: each line is exactly `recordToJson(record)`, built with the JSON
 * forms of repeating strings (names, units, industries) cached.
 */
export class JsonLinesFormatter {
  private cache = new Map<string, string>();

  /** The JSON Lines text of `records`. */
  format(records: readonly SensorRecord[]): string {
    let out = '';
    for (const r of records) {
      const m = r.metadata;
      let meta = '{}';
      for (const key in m) {
        if (Object.hasOwn(m, key)) {
          meta = JSON.stringify(m);
          break;
        }
      }
      out +=
        `{"sensor_name":${this.str(r.sensor_name)},"industry":${this.str(r.industry)},` +
        `"device_id":${this.str(r.device_id)},"value":${num(r.value)},"unit":${this.str(r.unit)},` +
        `"sensor_type":${this.str(r.sensor_type)},"timestamp":${num(r.timestamp)},` +
        `"min_value":${num(r.min_value)},"max_value":${num(r.max_value)},` +
        `"nominal_value":${num(r.nominal_value)},"fault_active":${r.fault_active},"metadata":${meta}}\n`;
    }
    return out;
  }

  private str(s: string): string {
    let e = this.cache.get(s);
    if (e === undefined) {
      e = JSON.stringify(s);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(s, e);
    }
    return e;
  }
}

function num(n: number): string | number {
  return Number.isFinite(n) ? n : 'null';
}

/** JSON Lines text of `records` with `recordToJson` (the reference the formatter must equal). */
export function jsonLines(records: readonly SensorRecord[]): string {
  let out = '';
  for (const r of records) out += `${recordToJson(r)}\n`;
  return out;
}
