import { readFileSync } from 'node:fs';
import { load, YAMLException } from 'js-yaml';
import { getIndustrySensors, listIndustries } from './catalog.js';
import { closestNames, ConfigError, type ConfigIssue } from './errors.js';
import { fleetMemoryProblem } from './memory.js';
import type { LogLevel } from './logger.js';
import {
  checkSensorConfig,
  nameProblem,
  sensorConfigFromInput,
  type ResolvedSensorConfig,
} from './models.js';
import { describe, OptionReader } from './option-reader.js';
import { Redactor, SECRET_VARIABLE_NAME } from './secrets.js';
import { parseTimePoint } from './time.js';
import { loadSensorCsv } from './csv.js';
import { dirname, resolve } from 'node:path';

/** A group of custom sensors under one industry label. */
export interface CustomSensorGroup {
  industry: string;
  sensors: ResolvedSensorConfig[];
}

/** A sink or server entry of a config: its type, its remaining (snake_case) options, and its path for messages. */
export interface SinkEntry {
  type: string;
  options: Record<string, unknown>;
  path: string;
}

/** A validated configuration document. */
export interface SimulatorConfig {
  /** Built-in industries. Default: none when custom sensors are given, else `mining`. */
  industries: string[];
  /** Generator ticks per second. */
  updateRateHz: number;
  /** Seconds to run (real time); null runs until stopped. */
  durationS: number | null;
  /** Log level. */
  logLevel: LogLevel;
  /** Random seed; undefined picks one. */
  seed: number | undefined;
  /** Backfill start (epoch seconds). */
  start: number | undefined;
  /** Backfill end (epoch seconds). */
  end: number | undefined;
  /** Devices per industry. */
  devicesPerIndustry: number;
  /** Seconds a stop may take before undelivered records count as failed. */
  shutdownTimeoutS: number;
  /** Custom sensor groups. */
  customSensors: CustomSensorGroup[];
  /** Sinks, validated when created. */
  sinks: SinkEntry[];
  /** Servers, validated when created. */
  servers: SinkEntry[];
  /** Simulated seconds per wall-clock second (accelerated real time); undefined: real time. */
  speed: number | undefined;
  /** Worker threads (`simulator.workers`), each owning a share of the devices. Default 1. */
  workers: number;
  /** Credentials read from the environment through `${VAR}`: the run redacts them everywhere. */
  secrets: string[];
}

const LEVELS: Readonly<Record<string, LogLevel>> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  critical: 'error',
};

/** Parses a log level name as the original spells it (DEBUG, INFO, WARNING, ERROR). */
export function parseLogLevel(value: string): LogLevel | undefined {
  return LEVELS[value.toLowerCase()];
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in every string of a parsed document with environment
 * variables, so configs need not hold secrets. A missing variable is a problem naming it and the key.
 */
export function interpolateEnv(
  value: unknown,
  path: string,
  issues: ConfigIssue[],
  env: NodeJS.ProcessEnv = process.env,
  secrets: string[] = [],
  done: Map<object, unknown> = new Map(),
): unknown {
  // A node shared through YAML aliases is substituted once and stays shared (never copied).
  if (value && typeof value === 'object') {
    const seen = done.get(value);
    if (seen !== undefined) return seen;
  }
  if (typeof value === 'string') {
    return value.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
      (whole, name: string, fallback?: string) => {
        const v = env[name];
        if (v !== undefined && v !== '') {
          // A credential from the environment stays secret even where the config misuses it.
          if (SECRET_VARIABLE_NAME.test(name)) secrets.push(v);
          return v;
        }
        if (fallback !== undefined) return fallback;
        issues.push({
          path,
          message: `environment variable ${name} is not set (referenced as ${whole})`,
        });
        return '';
      },
    );
  }
  if (Array.isArray(value)) {
    // Holes stay holes (a sparse list from the TypeScript API is reported, not filled).
    const out: unknown[] = new Array<unknown>(value.length);
    done.set(value, out);
    value.forEach((v, k) => {
      out[k] = interpolateEnv(v, `${path}[${k}]`, issues, env, secrets, done);
    });
    return out;
  }
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    done.set(value, out);
    for (const [k, v] of Object.entries(value))
      out[k] = interpolateEnv(v, path ? `${path}.${k}` : k, issues, env, secrets, done);
    return out;
  }
  return value;
}

/** Values a config may expand to through YAML aliases (`*name`): far above any real config. */
export const MAX_YAML_VALUES = 1_000_000;
/** Characters of all strings a config may expand to through aliases. */
export const MAX_YAML_CHARS = 64 * 1024 * 1024;

/**
 * The size a document has once every alias is expanded, computed once per shared node (linear in
 * the parsed document, whatever the expansion): a few hundred bytes of nested aliases ("billion
 * laughs") expand to billions of values, which any later walk would copy.
 */
function expandedSize(doc: unknown): { values: number; chars: number; cyclic: boolean } {
  const memo = new Map<object, { values: number; chars: number }>();
  const open = new Set<object>();
  let cyclic = false;
  const visit = (v: unknown): { values: number; chars: number } => {
    if (typeof v === 'string') return { values: 1, chars: v.length };
    if (!v || typeof v !== 'object' || v instanceof Date) return { values: 1, chars: 0 };
    const known = memo.get(v);
    if (known) return known;
    if (open.has(v)) {
      cyclic = true;
      return { values: 1, chars: 0 };
    }
    open.add(v);
    let values = 1;
    let chars = 0;
    const entries = Array.isArray(v) ? v : Object.entries(v).flat();
    for (const child of entries) {
      const c = visit(child);
      // Saturate: the exact figure of a bomb does not matter, only that it is too large.
      values = Math.min(values + c.values, Number.MAX_SAFE_INTEGER);
      chars = Math.min(chars + c.chars, Number.MAX_SAFE_INTEGER);
    }
    open.delete(v);
    const size = { values, chars };
    memo.set(v, size);
    return size;
  };
  const { values, chars } = visit(doc);
  return { values, chars, cyclic };
}

/**
 * Parses YAML text; syntax errors become a ConfigError naming `source:line`. A document whose
 * aliases expand beyond MAX_YAML_VALUES values or MAX_YAML_CHARS characters is refused.
 */
export function parseYaml(text: string, source = '<yaml>'): unknown {
  let doc: unknown;
  try {
    doc = load(text);
  } catch (err) {
    if (err instanceof YAMLException) {
      const line = err.mark ? err.mark.line + 1 : 0;
      throw new ConfigError(
        [{ path: `${source}:${line}`, message: `YAML syntax error: ${err.reason}` }],
        { cause: err },
      );
    }
    throw err;
  }
  const size = expandedSize(doc);
  if (size.cyclic || size.values > MAX_YAML_VALUES || size.chars > MAX_YAML_CHARS) {
    const what = size.cyclic
      ? 'refers to itself through an alias'
      : size.values > MAX_YAML_VALUES
        ? `expands to more than ${MAX_YAML_VALUES.toLocaleString('en-US')} values through aliases (*name)`
        : `expands to more than ${MAX_YAML_CHARS / 1024 / 1024} MiB of text through aliases (*name)`;
    const fix = size.cyclic
      ? 'an alias (*name) inside its own anchor (&name) has no end: write the values out'
      : 'a "billion laughs" document? Write the values out, or use fewer nested aliases';
    throw new ConfigError([{ path: source, message: `the YAML document ${what}: ${fix}` }]);
  }
  return doc;
}

/**
 * Validates a parsed configuration document (the original's format plus seed/start/end).
 * Collects every problem before throwing one ConfigError.
 * @param baseDir directory for relative paths inside the config (custom sensor CSV files)
 */
export function validateConfig(
  doc: unknown,
  options: { source?: string; baseDir?: string } = {},
): SimulatorConfig {
  const { config, issues } = checkConfig(doc, options);
  if (issues.length) throw new ConfigError(issues, { source: options.source });
  return config;
}

/**
 * Like `validateConfig`, but returns the problems with a best-effort config instead of throwing,
 * so that callers can add the problems of the sinks before reporting everything at once.
 */
export function checkConfig(
  doc: unknown,
  options: { source?: string; baseDir?: string } = {},
): { config: SimulatorConfig; issues: ConfigIssue[] } {
  const source = options.source;
  if (doc === undefined || doc === null) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(
      [
        {
          path: '',
          message: `the config must be a YAML mapping with simulator, custom_sensors and sinks; got ${describe(doc)}`,
        },
      ],
      { source },
    );
  }
  const issues: ConfigIssue[] = [];
  const secrets: string[] = [];
  const interpolated = interpolateEnv(doc, '', issues, process.env, secrets) as Record<
    string,
    unknown
  >;
  const top = new OptionReader(interpolated);
  const simRaw = top.raw('simulator') ?? {};
  const customRaw = top.raw('custom_sensors');
  const sinksRaw = top.raw('sinks');
  const serversRaw = top.raw('servers');

  // simulator
  let sim: Record<string, unknown> = {};
  if (typeof simRaw !== 'object' || Array.isArray(simRaw))
    top.problem('simulator', `must be a mapping, got ${describe(simRaw)}`);
  else sim = simRaw as Record<string, unknown>;
  const s = new OptionReader(sim, 'simulator.');
  const industries = s.stringArray('industries', []);
  const known = listIndustries();
  industries.forEach((name, i) => {
    if (!known.includes(name)) {
      const hint = closestNames(name, known);
      s.problem(
        `industries[${i}]`,
        `unknown industry '${name}': ${hint.length ? `did you mean ${hint.map((h) => `'${h}'`).join(' or ')}?` : "run 'iotsim list-industries' to see them"}`,
      );
    }
  });
  const updateRateHz = s.number('update_rate_hz', 1.0, { above: 0 });
  const duration = s.raw('duration_s');
  const durationS =
    duration === null || duration === undefined
      ? null
      : s.number('duration_s', null as unknown as number, { above: 0 });
  const levelRaw = s.string('log_level', 'INFO');
  const logLevel = parseLogLevel(levelRaw);
  if (!logLevel)
    s.problem(
      'log_level',
      `must be one of DEBUG, INFO, WARNING, ERROR; got ${JSON.stringify(levelRaw)}`,
    );
  const seed = s.number('seed', undefined, { integer: true, min: 0 });
  const time = (key: string): number | undefined => {
    const v = s.raw(key);
    if (v === undefined || v === null) return undefined;
    try {
      return parseTimePoint(v, `simulator.${key}`);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      return undefined;
    }
  };
  const start = time('start');
  const end = time('end');
  if (start !== undefined && end !== undefined && !(end > start))
    s.problem('end', 'must be after simulator.start');
  if (end !== undefined && start === undefined)
    s.problem('start', 'is required when simulator.end is set (backfill range)');
  const devicesPerIndustry = s.number('devices_per_industry', 1, { min: 1, integer: true });
  {
    // As the config resolves below: no industries and no custom sensors is mining.
    const hasCustom = customRaw !== undefined && customRaw !== null;
    let perDevice = 0;
    for (const name of industries.length || hasCustom ? industries : ['mining'])
      if (known.includes(name)) perDevice += getIndustrySensors(name).length;
    const tooBig = fleetMemoryProblem(perDevice * devicesPerIndustry, 'devices_per_industry');
    if (tooBig) s.problem(tooBig.path, tooBig.message);
  }
  const speed = s.number('speed', undefined, { above: 0 });
  const shutdownTimeoutS = s.number('shutdown_timeout_s', 30, { above: 0 });
  const workers = s.number('workers', 1, { min: 1, max: 256, integer: true });
  collect(s, issues);

  // custom_sensors: one group {industry, sensors | csv} or a list of groups
  const customSensors: CustomSensorGroup[] = [];
  if (customRaw !== undefined && customRaw !== null) {
    const groups = Array.isArray(customRaw) ? customRaw : [customRaw];
    groups.forEach((g, gi) => {
      const prefix = Array.isArray(customRaw) ? `custom_sensors[${gi}].` : 'custom_sensors.';
      if (typeof g !== 'object' || g === null || Array.isArray(g)) {
        issues.push({
          path: prefix.slice(0, -1),
          message: 'must be a mapping with industry and sensors',
        });
        return;
      }
      const r = new OptionReader(g, prefix);
      const industry = r.string('industry', 'custom');
      const badName = nameProblem(industry);
      if (badName) r.problem('industry', badName);
      else if (known.includes(industry)) {
        r.problem(
          'industry',
          `'${industry}' is a built-in industry; pick another label for custom sensors`,
        );
      }
      const sensors: ResolvedSensorConfig[] = [];
      const list = r.raw('sensors');
      const csv = r.string('csv');
      if (list !== undefined && list !== null && !Array.isArray(list))
        r.problem('sensors', `must be a list of sensors, got ${describe(list)}`);
      const names = new Set<string>();
      (Array.isArray(list) ? list : []).forEach((item, i) => {
        const path = `${prefix}sensors[${i}].`;
        if (typeof item !== 'object' || item === null || Array.isArray(item)) {
          issues.push({
            path: path.slice(0, -1),
            message: `must be a mapping of sensor fields, got ${describe(item)}`,
          });
          return;
        }
        const { config, issues: found } = checkSensorConfig(
          sensorConfigFromInput(item as Record<string, unknown>),
          path,
          true,
        );
        issues.push(...found);
        if (config) {
          if (names.has(config.name))
            issues.push({ path: `${path}name`, message: `duplicate sensor name '${config.name}'` });
          names.add(config.name);
          sensors.push(config);
        }
      });
      if (csv) {
        try {
          for (const c of loadSensorCsv(resolve(options.baseDir ?? '.', csv))) {
            if (names.has(c.name))
              issues.push({
                path: `${prefix}csv`,
                message: `duplicate sensor name '${c.name}' from ${csv}`,
              });
            names.add(c.name);
            sensors.push(c);
          }
        } catch (err) {
          if (err instanceof ConfigError) issues.push(...err.issues);
          else throw err;
        }
      }
      if (!sensors.length && !issues.length && list === undefined && !csv)
        r.problem('sensors', 'is required (a list of sensors, or csv: <file>)');
      collect(r, issues);
      customSensors.push({ industry, sensors });
    });
  }

  const sinks = pluginEntries(
    top,
    sinksRaw,
    'sinks',
    issues,
    'console, file, kafka, database, webhook, delta, azure_iot, aws_iot, zerobus, or a registered type',
  );
  const servers = pluginEntries(top, serversRaw, 'servers', issues, 'http, or a registered type');
  collect(top, issues);
  const config: SimulatorConfig = {
    industries: industries.length || customSensors.length ? industries : ['mining'],
    updateRateHz,
    durationS,
    logLevel: logLevel ?? 'info',
    seed,
    start,
    end,
    devicesPerIndustry,
    shutdownTimeoutS,
    customSensors,
    sinks,
    servers,
    speed,
    workers,
    secrets,
  };
  const redactor = new Redactor().add(...secrets);
  return {
    config,
    issues: issues.map((i) => ({ path: i.path, message: redactor.redact(i.message) })),
  };
}

function pluginEntries(
  top: OptionReader,
  raw: unknown,
  key: 'sinks' | 'servers',
  issues: ConfigIssue[],
  known: string,
): SinkEntry[] {
  const out: SinkEntry[] = [];
  if (raw === undefined || raw === null) return out;
  if (!Array.isArray(raw)) {
    top.problem(key, `must be a list of ${key.slice(0, -1)} mappings, got ${describe(raw)}`);
    return out;
  }
  raw.forEach((entry, i) => {
    const path = `${key}[${i}].`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({
        path: `${key}[${i}]`,
        message: `must be a mapping with a type, got ${describe(entry)}`,
      });
      return;
    }
    const { type, ...rest } = entry as Record<string, unknown>;
    if (typeof type !== 'string' || !type.trim()) {
      issues.push({ path: `${path}type`, message: `is required (${known})` });
      return;
    }
    out.push({ type, options: rest, path });
  });
  return out;
}

function collect(r: OptionReader, issues: ConfigIssue[]): void {
  try {
    r.finish();
  } catch {
    // finish() adds unknown-key problems to r.issues before throwing
  }
  for (const issue of r.issues) if (!issues.includes(issue)) issues.push(issue);
}

/** Reads, parses and validates a YAML config file. */
export function loadConfigFile(path: string): SimulatorConfig {
  const { config, issues } = checkConfigFile(path);
  if (issues.length) throw new ConfigError(issues, { source: path });
  return config;
}

/** Reads and parses a YAML config file; returns its problems instead of throwing (syntax errors still throw). */
export function checkConfigFile(path: string): { config: SimulatorConfig; issues: ConfigIssue[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      [
        {
          path,
          message: `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        },
      ],
      { cause: err },
    );
  }
  return checkConfig(parseYaml(text, path), { source: path, baseDir: dirname(path) });
}
