import { readFileSync } from 'node:fs';
import { load, YAMLException } from 'js-yaml';
import { getIndustrySensors, listIndustries } from './catalog.js';
import { closestNames, ConfigError, type ConfigIssue } from './errors.js';
import { fleetMemoryProblem } from './memory.js';
import type { LogLevel } from './logger.js';
import { nameProblem, SensorConfigSchema, type ResolvedSensorConfig } from './models.js';
import { configIssues, describe, field, fromYamlKeys, opt, v } from './schema.js';
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
  /** Plugin modules (paths from the config's folder, or package names) with sink and server classes. */
  plugins: string[];
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

const KNOWN_SINKS =
  'console, file, kafka, database, webhook, delta, azure_iot, aws_iot, zerobus, mqtt, sparkplug, or a registered type';
const KNOWN_SERVERS = 'http, opcua, modbus, mqtt_broker, or a registered type';

const timePoint = field<string | number | Date, number>(
  { anyOf: [{ type: 'string' }, { type: 'number' }] },
  (value, problem) => {
    try {
      return parseTimePoint(value, '');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problem(err.issues[0]!.message);
      return NaN;
    }
  },
);

const logLevel = field<string, LogLevel>(
  {
    enum: [
      'DEBUG',
      'INFO',
      'WARNING',
      'ERROR',
      'CRITICAL',
      'debug',
      'info',
      'warning',
      'warn',
      'error',
    ],
  },
  (value, problem) => {
    const level = typeof value === 'string' ? parseLogLevel(value) : undefined;
    if (!level) problem(`must be one of DEBUG, INFO, WARNING, ERROR; got ${describe(value)}`);
    return level ?? 'info';
  },
);

/** The `simulator:` section. */
const SimulatorSection = opt.object({
  /** Built-in industries. Default: none when custom sensors are given, else `mining`. */
  industries: v.nullish(opt.stringList(), []),
  /** Generator ticks per second. Default 1. */
  updateRateHz: v.nullish(opt.number({ above: 0 }), 1.0),
  /** Seconds to run (real time); null or absent runs until stopped. */
  durationS: v.nullish(opt.number({ above: 0 })),
  /** DEBUG, INFO, WARNING or ERROR. Default INFO. */
  logLevel: v.nullish(logLevel, 'INFO'),
  /** Random seed: the same seed gives the same data. Default: a new one each run. */
  seed: v.nullish(opt.number({ integer: true, min: 0 })),
  /** Backfill start: ISO 8601, epoch seconds, `now` or relative like `-7d`. */
  start: v.nullish(timePoint),
  /** Backfill end (needs start). */
  end: v.nullish(timePoint),
  /** Devices per industry. Default 1. */
  devicesPerIndustry: v.nullish(opt.number({ min: 1, integer: true }), 1),
  /** Simulated seconds per wall-clock second (accelerated real time). */
  speed: v.nullish(opt.number({ above: 0 })),
  /** Seconds a stop may take before undelivered records count as failed. Default 30. */
  shutdownTimeoutS: v.nullish(opt.number({ above: 0 }), 30),
  /** Worker threads, each owning a share of the devices (about one per core). Default 1. */
  workers: v.nullish(opt.number({ min: 1, max: 256, integer: true }), 1),
});

/** One `custom_sensors:` group. */
const CustomSensorGroupSchema = opt.object(
  {
    /** Industry label of these sensors (not a built-in one). Default `custom`. */
    industry: v.nullish(opt.string(), 'custom'),
    /** The sensors. */
    sensors: v.nullish(opt.list(SensorConfigSchema, 'sensors')),
    /** A CSV file of sensors (relative to the config file). */
    csv: v.nullish(opt.string()),
  },
  { what: 'a mapping with industry and sensors' },
);

const pluginEntry = (known: string) =>
  v.looseObject({ type: opt.string({ nonEmpty: true, hint: known }) }, (issue) =>
    issue.path?.length
      ? `is required (${known})`
      : `must be a mapping with a type, got ${describe(issue.input)}`,
  );

/** The schema of a configuration document (YAML keys are the snake_case forms). */
export const ConfigSchema = opt.object({
  /** How the simulation runs. */
  simulator: v.nullish(SimulatorSection, {}),
  /** Sensors of your own: one group, or a list of groups. */
  customSensors: v.nullish(opt.oneOrList(CustomSensorGroupSchema, 'custom sensor groups')),
  /** Modules with your own sink and server classes: paths (from this file's folder) or package names. */
  plugins: v.nullish(opt.stringList(), []),
  /** Where records go; each entry has a `type` and that sink's options. */
  sinks: v.nullish(opt.list(pluginEntry(KNOWN_SINKS), 'sink mappings'), []),
  /** Protocol servers that serve the live values; each entry has a `type`. */
  servers: v.nullish(opt.list(pluginEntry(KNOWN_SERVERS), 'server mappings'), []),
});

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
  const interpolated = interpolateEnv(doc, '', issues, process.env, secrets);
  const result = v.safeParse(ConfigSchema, fromYamlKeys(ConfigSchema, interpolated));
  if (!result.success) issues.push(...configIssues(result.issues, 'yaml'));
  // What validated, for the checks below and a best-effort config (failed values read null).
  type Parsed = v.InferOutput<typeof ConfigSchema>;
  const parsed = (result.output ?? {}) as Partial<Parsed>;
  const sim = (parsed.simulator ?? {}) as Partial<Parsed['simulator']>;
  const problem = (path: string, message: string): void => {
    issues.push({ path, message });
  };

  const known = listIndustries();
  // A bad list keeps its raw value: only its strings are checked against the catalog.
  const industries = Array.isArray(sim.industries)
    ? sim.industries.filter((x): x is string => typeof x === 'string')
    : [];
  industries.forEach((name, i) => {
    if (!known.includes(name)) {
      const hint = closestNames(name, known);
      problem(
        `simulator.industries[${i}]`,
        `unknown industry '${name}': ${hint.length ? `did you mean ${hint.map((h) => `'${h}'`).join(' or ')}?` : "run 'iotsim list-industries' to see them"}`,
      );
    }
  });
  const start = typeof sim.start === 'number' && !Number.isNaN(sim.start) ? sim.start : undefined;
  const end = typeof sim.end === 'number' && !Number.isNaN(sim.end) ? sim.end : undefined;
  if (start !== undefined && end !== undefined && !(end > start))
    problem('simulator.end', 'must be after simulator.start');
  if (end !== undefined && sim.start == null)
    problem('simulator.start', 'is required when simulator.end is set (backfill range)');
  const devicesPerIndustry =
    typeof sim.devicesPerIndustry === 'number' ? sim.devicesPerIndustry : 1;
  const customRaw = (interpolated as Record<string, unknown>).custom_sensors;
  {
    // As the config resolves below: no industries and no custom sensors is mining.
    const hasCustom = customRaw !== undefined && customRaw !== null;
    let perDevice = 0;
    for (const name of industries.length || hasCustom ? industries : ['mining'])
      if (known.includes(name)) perDevice += getIndustrySensors(name).length;
    const tooBig = fleetMemoryProblem(perDevice * devicesPerIndustry, 'devices_per_industry');
    if (tooBig) problem(`simulator.${tooBig.path}`, tooBig.message);
  }

  // custom_sensors: labels, duplicate names, CSV files
  const customSensors: CustomSensorGroup[] = [];
  const groups = Array.isArray(parsed.customSensors) ? parsed.customSensors : [];
  groups.forEach((g, gi) => {
    if (!g) return;
    const prefix = Array.isArray(customRaw) ? `custom_sensors[${gi}].` : 'custom_sensors.';
    const industry = typeof g.industry === 'string' ? g.industry : 'custom';
    const badName = nameProblem(industry);
    if (badName) problem(`${prefix}industry`, badName);
    else if (known.includes(industry))
      problem(
        `${prefix}industry`,
        `'${industry}' is a built-in industry; pick another label for custom sensors`,
      );
    const sensors: ResolvedSensorConfig[] = [];
    const names = new Set<string>();
    (Array.isArray(g.sensors) ? g.sensors : []).forEach((config, i) => {
      if (!config) return;
      if (names.has(config.name))
        problem(`${prefix}sensors[${i}].name`, `duplicate sensor name '${config.name}'`);
      names.add(config.name);
      sensors.push(config);
    });
    const csv = typeof g.csv === 'string' && g.csv ? g.csv : undefined;
    if (csv) {
      try {
        for (const c of loadSensorCsv(resolve(options.baseDir ?? '.', csv))) {
          if (names.has(c.name))
            problem(`${prefix}csv`, `duplicate sensor name '${c.name}' from ${csv}`);
          names.add(c.name);
          sensors.push(c);
        }
      } catch (err) {
        if (err instanceof ConfigError) issues.push(...err.issues);
        else throw err;
      }
    }
    const rawGroup = (Array.isArray(customRaw) ? customRaw[gi] : customRaw) as
      Record<string, unknown> | undefined;
    if (!sensors.length && !issues.length && rawGroup?.sensors == null && !csv)
      problem(`${prefix}sensors`, 'is required (a list of sensors, or csv: <file>)');
    customSensors.push({ industry, sensors });
  });

  const entries = (list: unknown, key: 'sinks' | 'servers'): SinkEntry[] =>
    (Array.isArray(list) ? list : []).flatMap((entry: unknown, i) => {
      if (!entry || typeof entry !== 'object') return [];
      const { type, ...rest } = entry as Record<string, unknown>;
      return typeof type === 'string' && type.trim()
        ? [{ type, options: rest, path: `${key}[${i}].` }]
        : [];
    });
  const config: SimulatorConfig = {
    industries: industries.length || customSensors.length ? industries : ['mining'],
    updateRateHz: typeof sim.updateRateHz === 'number' ? sim.updateRateHz : 1,
    durationS: typeof sim.durationS === 'number' ? sim.durationS : null,
    logLevel: typeof sim.logLevel === 'string' ? sim.logLevel : 'info',
    seed: typeof sim.seed === 'number' ? sim.seed : undefined,
    start,
    end,
    devicesPerIndustry,
    shutdownTimeoutS: typeof sim.shutdownTimeoutS === 'number' ? sim.shutdownTimeoutS : 30,
    customSensors,
    sinks: entries(parsed.sinks, 'sinks'),
    servers: entries(parsed.servers, 'servers'),
    speed: typeof sim.speed === 'number' ? sim.speed : undefined,
    workers: typeof sim.workers === 'number' ? sim.workers : 1,
    plugins: Array.isArray(parsed.plugins)
      ? parsed.plugins.filter((p) => typeof p === 'string')
      : [],
    secrets,
  };
  const redactor = new Redactor().add(...secrets);
  return {
    config,
    issues: issues.map((i) => ({ path: i.path, message: redactor.redact(i.message) })),
  };
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
