import { readFileSync } from 'node:fs';
import { closestNames, CsvError } from './errors.js';
import { checkSensorConfig, type ResolvedSensorConfig, type SensorConfig } from './models.js';

/** Columns a sensor CSV must have. */
export const CSV_REQUIRED_COLUMNS = [
  'name',
  'sensor_type',
  'unit',
  'min_value',
  'max_value',
  'nominal_value',
] as const;
/** Columns a sensor CSV may have. */
export const CSV_OPTIONAL_COLUMNS = [
  'noise_std',
  'drift_rate',
  'anomaly_probability',
  'anomaly_magnitude',
  'update_frequency_hz',
  'cyclic',
  'cycle_period_seconds',
  'cycle_amplitude',
] as const;

const NUMERIC = new Set([
  'min_value',
  'max_value',
  'nominal_value',
  'noise_std',
  'drift_rate',
  'anomaly_probability',
  'anomaly_magnitude',
  'update_frequency_hz',
  'cycle_period_seconds',
  'cycle_amplitude',
]);

/**
 * Splits CSV text into rows of fields (RFC 4180: quotes, doubled quotes, CRLF), with 1-based line
 * numbers. A quote that is never closed is a CsvError naming the line where it opened.
 */
export function parseCsv(text: string, file = '<csv>'): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let line = 1;
  let rowLine = 1;
  let field = '';
  let fields: string[] = [];
  let quoted = false;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const endRow = (): void => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0]!.trim() === '')) rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
  };
  let quoteLine = 0;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      quoteLine = line;
      field = '';
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else field += c;
  }
  if (quoted) {
    throw new CsvError(file, [
      {
        line: quoteLine,
        message: 'unterminated quoted field: the " opened on this line is never closed',
      },
    ]);
  }
  if (field !== '' || fields.length) endRow();
  return rows;
}

/**
 * Parses sensor definitions from CSV text (the original's columns). Every problem in the file is
 * reported at once, each with its line.
 */
export function parseSensorCsv(text: string, file = '<csv>'): ResolvedSensorConfig[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) {
    throw new CsvError(file, [
      {
        line: 1,
        message: `the file is empty; it needs a header row with ${CSV_REQUIRED_COLUMNS.join(', ')}`,
      },
    ]);
  }
  const header = rows[0]!.fields.map((h) => h.trim());
  const problems: { line: number; message: string }[] = [];
  const known = new Set<string>([...CSV_REQUIRED_COLUMNS, ...CSV_OPTIONAL_COLUMNS]);
  const missing = CSV_REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length) {
    problems.push({
      line: rows[0]!.line,
      message: `missing required column(s): ${missing.join(', ')}`,
    });
  }
  header.forEach((h) => {
    if (!known.has(h)) {
      const hint = closestNames(h, known, 1);
      problems.push({
        line: rows[0]!.line,
        message: `unknown column '${h}'${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}`,
      });
    }
  });
  if (problems.length) throw new CsvError(file, problems);
  if (rows.length === 1)
    throw new CsvError(file, [{ line: rows[0]!.line, message: 'no sensor rows after the header' }]);

  const out: ResolvedSensorConfig[] = [];
  const names = new Map<string, number>();
  for (const { line, fields } of rows.slice(1)) {
    if (fields.length !== header.length) {
      problems.push({ line, message: `expected ${header.length} fields, found ${fields.length}` });
      continue;
    }
    const input: Record<string, unknown> = {};
    const rowProblems: string[] = [];
    header.forEach((col, idx) => {
      const raw = fields[idx]!.trim();
      if (raw === '') return;
      if (NUMERIC.has(col)) {
        const n = Number(raw);
        if (!Number.isFinite(n)) rowProblems.push(`${col}: '${raw}' is not a number`);
        else input[col] = n;
      } else if (col === 'cyclic') {
        if (/^(true|1|yes)$/i.test(raw)) input[col] = true;
        else if (/^(false|0|no)$/i.test(raw)) input[col] = false;
        else rowProblems.push(`cyclic: '${raw}' is not true or false`);
      } else input[col] = raw;
    });
    const camel: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input))
      camel[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
    const { config, issues } = checkSensorConfig(camel as unknown as SensorConfig, '', true);
    for (const p of rowProblems) problems.push({ line, message: p });
    for (const issue of issues) {
      const col = issue.path;
      if (rowProblems.some((p) => p.startsWith(`${col}:`))) continue;
      problems.push({ line, message: `${col}: ${issue.message}` });
    }
    if (config) {
      const prev = names.get(config.name);
      if (prev !== undefined)
        problems.push({
          line,
          message: `duplicate sensor name '${config.name}' (first on line ${prev})`,
        });
      else names.set(config.name, line);
      out.push(config);
    }
  }
  if (problems.length) throw new CsvError(file, problems);
  return out;
}

/** Reads and parses a sensor CSV file. */
export function loadSensorCsv(path: string): ResolvedSensorConfig[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CsvError(
      path,
      [{ line: 0, message: `cannot read the file: ${(err as Error).message}` }],
      { cause: err },
    );
  }
  return parseSensorCsv(text, path);
}
