import { ConfigError } from './errors.js';

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Parses `<n><s|m|h|d>` (e.g. `30s`, `5m`, `1h`, `1d`; the unit in either case) to seconds;
 * undefined when malformed or not positive. `wholeNumbers` refuses `1.5h` (file rotation).
 */
export function parseInterval(
  text: string,
  options: { wholeNumbers?: boolean } = {},
): number | undefined {
  const m = (
    options.wholeNumbers ? /^\s*(\d+)\s*([smhd])\s*$/i : /^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$/i
  ).exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return seconds > 0 ? seconds : undefined;
}

/**
 * Parses a point in time to epoch seconds: a Date, epoch seconds, an ISO 8601 string, `now`, or a
 * time relative to `now` such as `-7d` or `-90m`.
 */
export function parseTimePoint(value: unknown, path: string, now = Date.now() / 1000): number {
  if (value instanceof Date && !Number.isNaN(value.getTime())) return value.getTime() / 1000;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const s = value.trim();
    if (s === 'now') return now;
    const rel = /^-(.+)$/.exec(s);
    if (rel) {
      const seconds = parseInterval(rel[1]!);
      if (seconds !== undefined) return now - seconds;
    }
    if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
    if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
      const iso = /[zZ]|[+-]\d{2}:?\d{2}$/.test(s) || s.length === 10 ? s : `${s}Z`;
      const ms = Date.parse(iso);
      if (!Number.isNaN(ms)) return ms / 1000;
    }
  }
  throw new ConfigError([
    {
      path,
      message: `must be a time: ISO 8601 (2024-01-01T00:00:00Z), epoch seconds, 'now' or relative like '-7d'; got ${JSON.stringify(value)}`,
    },
  ]);
}
