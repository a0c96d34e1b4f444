import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  ConfigError,
  IotSimError,
  SinkNotInstalledError,
  UnknownServerTypeError,
  UnknownSinkTypeError,
  type ConfigIssue,
} from './errors.js';
import { issuesToYaml } from './schema.js';
import { isServerClass, type Server, type ServerClassLike } from './server.js';
import { HttpServer } from './servers/http-server.js';
import {
  DEFAULT_CAPABILITIES,
  inFlightProblem,
  isSinkClass,
  resolveThroughput,
  splitSinkConfig,
  type ResolvedThroughput,
  type Sink,
  type SinkClassLike,
} from './sink.js';
import { ConsoleSink } from './sinks/console-sink.js';
import { CallbackSink } from './sinks/callback-sink.js';

type Module = Record<string, unknown>;

/** A first-party plugin type: the package that provides it and the class it exports. */
export interface FirstPartyPlugin {
  /** npm package (`@iotsim/core` for the built-in ones). */
  readonly packageName: string;
  /** Exported class name. */
  readonly exportName: string;
  /** One line for `list-sinks` / `list-servers`. */
  readonly summary: string;
}

/** The first-party sink types, keyed by the type name used in YAML and `--sink`. */
export const FIRST_PARTY_SINKS: Readonly<Record<string, FirstPartyPlugin>> = Object.freeze({
  console: {
    packageName: '@iotsim/core',
    exportName: 'ConsoleSink',
    summary: 'text or JSON lines on stdout',
  },
  callback: {
    packageName: '@iotsim/core',
    exportName: 'CallbackSink',
    summary: 'your function (TypeScript API only)',
  },
  kafka: {
    packageName: '@iotsim/sink-kafka',
    exportName: 'KafkaSink',
    summary: 'Apache Kafka topics (kafkajs)',
  },
  file: {
    packageName: '@iotsim/sink-file',
    exportName: 'FileSink',
    summary: 'CSV, JSON Lines or Parquet files with rotation',
  },
  database: {
    packageName: '@iotsim/sink-database',
    exportName: 'DatabaseSink',
    summary: 'PostgreSQL (COPY) or SQLite tables',
  },
  webhook: {
    packageName: '@iotsim/sink-webhook',
    exportName: 'WebhookSink',
    summary: 'HTTP POST of JSON arrays (got)',
  },
  delta: {
    packageName: '@iotsim/sink-delta',
    exportName: 'DeltaSink',
    summary: 'Delta Lake tables, local or on S3',
  },
  mqtt: {
    packageName: '@iotsim/sink-mqtt',
    exportName: 'MqttSink',
    summary: 'MQTT 3.1.1/5 publishes to any broker',
  },
  sparkplug: {
    packageName: '@iotsim/sink-mqtt',
    exportName: 'SparkplugSink',
    summary: 'Sparkplug B 3.0 edge node over MQTT',
  },
  azure_iot: {
    packageName: '@iotsim/sink-azure-iot',
    exportName: 'AzureIoTSink',
    summary: 'Azure IoT Hub device-to-cloud messages',
  },
  aws_iot: {
    packageName: '@iotsim/sink-aws-iot',
    exportName: 'AWSIoTSink',
    summary: 'AWS IoT Core Publish API',
  },
  zerobus: {
    packageName: '@iotsim/sink-zerobus',
    exportName: 'ZerobusSink',
    summary: 'Databricks Zerobus Ingest (gRPC)',
  },
});

/** The first-party server types, keyed by the type name used in YAML `servers:` and `--server`. */
export const FIRST_PARTY_SERVERS: Readonly<Record<string, FirstPartyPlugin>> = Object.freeze({
  http: {
    packageName: '@iotsim/core',
    exportName: 'HttpServer',
    summary: 'GET /state (latest values as JSON) and /healthz',
  },
  opcua: {
    packageName: '@iotsim/server-opcua',
    exportName: 'OpcUaServer',
    summary: 'OPC UA server: every sensor an AnalogItem (node-opcua)',
  },
  modbus: {
    packageName: '@iotsim/server-modbus',
    exportName: 'ModbusServer',
    summary: 'Modbus TCP server: sensors as float32 registers',
  },
  mqtt_broker: {
    packageName: '@iotsim/sink-mqtt',
    exportName: 'MqttBroker',
    summary: 'embedded MQTT broker (aedes) on 127.0.0.1:1883',
  },
});

const BUILT_IN: Readonly<Record<string, () => Module>> = {
  ConsoleSink: () => ({ ConsoleSink }),
  CallbackSink: () => ({ CallbackSink }),
  HttpServer: () => ({ HttpServer }),
};

/** How to load the implementation of a plugin type. */
export interface PluginRegistration {
  /** A module specifier (package name or path, resolved from the registry's folders) or a loader. */
  readonly module: string | (() => Promise<Module>);
  /** Name of the exported class. */
  readonly exportName: string;
  /** The npm package that provides it, for the not-installed message. */
  readonly packageName?: string;
}

/** @deprecated name of PluginRegistration. */
export type SinkRegistration = PluginRegistration;

const globalSinks = new Map<string, PluginRegistration>();
const globalServers = new Map<string, PluginRegistration>();

/**
 * Registers a sink type for every registry made afterwards in this process, as the original's
 * `register_sink`. A module name resolves from the config file's folder, then the cwd. Prefer
 * `registry.registerSink` (per run) in libraries.
 *
 * @example
 * registerSink('stats', () => import('./stats-sink.js'), 'StatsSink');
 */
export function registerSink(
  type: string,
  module: string | (() => Promise<Module>),
  exportName: string,
  packageName?: string,
): void {
  globalSinks.set(type, { module, exportName, packageName });
}

/** Registers a server type for every registry made afterwards in this process. */
export function registerServer(
  type: string,
  module: string | (() => Promise<Module>),
  exportName: string,
  packageName?: string,
): void {
  globalServers.set(type, { module, exportName, packageName });
}

/** Options of a Registry. */
export interface RegistryOptions {
  /** Folders that package names and relative paths resolve from, in order (config folder, cwd, …). Default: the cwd. */
  resolveFrom?: readonly string[];
}

/** A sink built from a config entry, with the throughput options given beside it. */
export interface CreatedSink {
  readonly sink: Sink;
  readonly throughput: ResolvedThroughput;
}

/**
 * The plugin types of one run: the first-party tables, the process-wide registrations, and the
 * run's own. Package names resolve from `resolveFrom` (the config file's folder, then the cwd),
 * not from @iotsim/core's own folder, so they work under pnpm's isolated layout. A loaded class
 * is checked by brand, not `instanceof`.
 */
export class Registry {
  private readonly sinks = new Map<string, PluginRegistration>();
  private readonly servers = new Map<string, PluginRegistration>();
  readonly resolveFrom: readonly string[];

  constructor(options: RegistryOptions = {}) {
    this.resolveFrom = options.resolveFrom?.length ? [...options.resolveFrom] : [process.cwd()];
    for (const [type, p] of Object.entries(FIRST_PARTY_SINKS)) {
      if (type !== 'callback') this.sinks.set(type, firstParty(p));
    }
    for (const [type, p] of Object.entries(FIRST_PARTY_SERVERS))
      this.servers.set(type, firstParty(p));
    for (const [type, r] of globalSinks) this.sinks.set(type, r);
    for (const [type, r] of globalServers) this.servers.set(type, r);
  }

  /** Adds a sink type to this registry only. */
  registerSink(
    type: string,
    module: PluginRegistration['module'],
    exportName: string,
    packageName?: string,
  ): this {
    this.sinks.set(type, { module, exportName, packageName });
    return this;
  }

  /** Adds a server type to this registry only. */
  registerServer(
    type: string,
    module: PluginRegistration['module'],
    exportName: string,
    packageName?: string,
  ): this {
    this.servers.set(type, { module, exportName, packageName });
    return this;
  }

  /**
   * Loads a plugin module (`plugins:` in YAML, `--plugin` on the CLI): a file path or a package
   * name, resolved from this registry's folders. Every sink and server class it exports is
   * registered under its `static type`; returns the types added. A module that cannot be found,
   * fails to load or exports no sink or server class is a ConfigError at `path`.
   */
  async loadPlugin(specifier: string, path = ''): Promise<{ sinks: string[]; servers: string[] }> {
    const url = resolveModule(specifier, this.resolveFrom);
    if (!url) {
      const where = specifier.startsWith('.') || isAbsolute(specifier) ? 'file' : 'package';
      throw new ConfigError([
        {
          path,
          message: `cannot find the plugin ${where} '${specifier}' (looked in ${this.resolveFrom.join(', ')}); ${where === 'file' ? 'paths are relative to the config file, then the working directory' : `install it: npm install ${specifier}`}`,
        },
      ]);
    }
    let mod: Module;
    try {
      mod = (await import(url)) as Module;
    } catch (err) {
      throw new ConfigError(
        [{ path, message: `the plugin '${specifier}' failed to load: ${(err as Error).message}` }],
        { cause: err },
      );
    }
    // Registered by file path, so worker threads load the same module for their own sinks.
    const file = fileURLToPath(url);
    const added = { sinks: [] as string[], servers: [] as string[] };
    for (const [name, value] of Object.entries(mod)) {
      if (isSinkClass(value)) {
        this.registerSink(value.type, file, name, specifier);
        added.sinks.push(value.type);
      } else if (isServerClass(value)) {
        this.registerServer(value.type, file, name, specifier);
        added.servers.push(value.type);
      }
    }
    if (!added.sinks.length && !added.servers.length)
      throw new ConfigError([
        {
          path,
          message: `the plugin '${specifier}' exports no sink or server class: export a class that extends Sink (or Server) from @iotsim/core with a static type`,
        },
      ]);
    return added;
  }

  /** Registered sink type names. */
  sinkTypes(): string[] {
    return [...this.sinks.keys()];
  }

  /** Registered server type names. */
  serverTypes(): string[] {
    return [...this.servers.keys()];
  }

  /** The registration of a sink type, if any. */
  sinkRegistration(type: string): PluginRegistration | undefined {
    return this.sinks.get(type);
  }

  /** The registration of a server type, if any. */
  serverRegistration(type: string): PluginRegistration | undefined {
    return this.servers.get(type);
  }

  /** True when the package of a registration can be found (without loading it). */
  isInstalled(reg: PluginRegistration): boolean {
    if (typeof reg.module !== 'string') return true;
    if (reg.module === '@iotsim/core') return true;
    return resolveModule(reg.module, this.resolveFrom) !== undefined;
  }

  /** Loads the class registered for a sink type, checking its brand. */
  async loadSink(type: string, path = ''): Promise<SinkClassLike> {
    const reg = this.sinks.get(type);
    if (!reg) throw new UnknownSinkTypeError(type, this.sinkTypes(), path);
    const cls = await this.load(reg, type, 'sink');
    if (!isSinkClass(cls)) throw notAPlugin(type, 'sink', reg, cls);
    return cls;
  }

  /** Loads the class registered for a server type, checking its brand. */
  async loadServer(type: string, path = ''): Promise<ServerClassLike> {
    const reg = this.servers.get(type);
    if (!reg) throw new UnknownServerTypeError(type, this.serverTypes(), path);
    const cls = await this.load(reg, type, 'server');
    if (!isServerClass(cls)) throw notAPlugin(type, 'server', reg, cls);
    return cls;
  }

  /**
   * Builds a sink from one YAML mapping (`type` plus snake_case options): its own options go to
   * the sink, the throughput options beside it. Every problem is reported with its path.
   */
  async createSink(config: Readonly<Record<string, unknown>>, path = ''): Promise<CreatedSink> {
    const { type, ...rest } = config;
    if (typeof type !== 'string' || !type) {
      throw new ConfigError([
        {
          path: `${path}type`,
          message: `is required; known types: ${this.sinkTypes().join(', ')}`,
        },
      ]);
    }
    const cls = await this.loadSink(type, `${path}type`);
    const { throughput, own } = splitSinkConfig(rest);
    const issues: ConfigIssue[] = [];
    let resolved: ResolvedThroughput | undefined;
    try {
      resolved = resolveThroughput(throughput);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...issuesToYaml(err.issues, path));
      else throw err;
    }
    let sink: Sink | undefined;
    try {
      sink = cls.fromConfig(own, path);
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues);
      else throw err;
    }
    const tooMany =
      resolved &&
      inFlightProblem({ ...DEFAULT_CAPABILITIES, ...cls.capabilities }, type, resolved.maxInFlight);
    if (tooMany) issues.push({ path: `${path}max_in_flight`, message: tooMany });
    if (issues.length || !sink || !resolved) throw new ConfigError(issues);
    return { sink, throughput: resolved };
  }

  /** Builds a server from one YAML mapping (`type` plus snake_case options). */
  async createServer(config: Readonly<Record<string, unknown>>, path = ''): Promise<Server> {
    const { type, ...rest } = config;
    if (typeof type !== 'string' || !type) {
      throw new ConfigError([
        {
          path: `${path}type`,
          message: `is required; known types: ${this.serverTypes().join(', ')}`,
        },
      ]);
    }
    const cls = await this.loadServer(type, `${path}type`);
    return cls.fromConfig(rest, path);
  }

  private async load(
    reg: PluginRegistration,
    type: string,
    kind: 'sink' | 'server',
  ): Promise<unknown> {
    let mod: Module;
    if (typeof reg.module === 'function') {
      mod = await reg.module();
    } else if (reg.module === '@iotsim/core' && BUILT_IN[reg.exportName]) {
      mod = BUILT_IN[reg.exportName]!();
    } else {
      const url = resolveModule(reg.module, this.resolveFrom);
      if (!url) {
        throw new SinkNotInstalledError(type, reg.packageName ?? reg.module, { kind });
      }
      mod = (await import(url)) as Module;
    }
    return mod[reg.exportName];
  }
}

function firstParty(p: FirstPartyPlugin): PluginRegistration {
  return { module: p.packageName, exportName: p.exportName, packageName: p.packageName };
}

function notAPlugin(
  type: string,
  kind: 'sink' | 'server',
  reg: PluginRegistration,
  cls: unknown,
): IotSimError {
  const from = reg.packageName ?? (typeof reg.module === 'string' ? reg.module : 'its module');
  const what = typeof cls === 'function' ? 'a class' : 'nothing';
  const base = kind === 'sink' ? 'Sink' : 'Server';
  return new IotSimError(
    `${kind} type '${type}': ${from} exports ${what} named '${reg.exportName}' that is not a ${base} (extend ${base} from @iotsim/core)`,
  );
}

/**
 * Finds a module for `specifier` from the first folder of `bases` that has it: a relative or
 * absolute file path, or a package name (its `exports` entry for `import`, else its `main`).
 * Returns a file URL, or undefined when no folder has it.
 */
export function resolveModule(specifier: string, bases: readonly string[]): string | undefined {
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    for (const base of bases) {
      const file = resolve(base, specifier);
      if (existsSync(file)) return pathToFileURL(file).href;
    }
    return undefined;
  }
  const parts = specifier.split('/');
  const scoped = specifier.startsWith('@');
  const name = scoped ? parts.slice(0, 2).join('/') : parts[0]!;
  const sub = parts.slice(scoped ? 2 : 1).join('/');
  for (const base of bases) {
    // Node's lookup: <dir>/node_modules/<name> from the folder up to the root.
    for (let dir = resolve(base); ; dir = dirname(dir)) {
      const pkgJson = join(dir, 'node_modules', name, 'package.json');
      if (existsSync(pkgJson)) {
        const entry = entryOf(realpathSync(pkgJson), sub);
        if (entry) return pathToFileURL(entry).href;
      }
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

function entryOf(pkgJsonPath: string, sub: string): string | undefined {
  const pkg = JSON.parse(readFileSync(pkgJsonPath, 'utf8')) as {
    exports?: unknown;
    main?: string;
    module?: string;
  };
  const dir = pkgJsonPath.slice(0, -'package.json'.length);
  const key = sub ? `./${sub}` : '.';
  let target: unknown;
  if (pkg.exports !== undefined) {
    const ex = pkg.exports as Record<string, unknown> | string;
    target =
      typeof ex === 'string' || Array.isArray(ex) || !Object.keys(ex).some((k) => k.startsWith('.'))
        ? key === '.'
          ? ex
          : undefined
        : ex[key];
    const file = pickCondition(target);
    return file ? join(dir, file) : undefined;
  }
  if (sub) return undefined;
  return join(dir, pkg.main ?? 'index.js');
}

function pickCondition(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const f = pickCondition(t);
      if (f) return f;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    const t = target as Record<string, unknown>;
    for (const cond of ['node', 'import', 'module', 'default']) {
      if (cond in t) {
        const f = pickCondition(t[cond]);
        if (f) return f;
      }
    }
  }
  return undefined;
}

/** @deprecated Use `new Registry().sinkTypes()`: sink types of a fresh registry. */
export function registeredSinkTypes(): string[] {
  return new Registry().sinkTypes();
}

/** @deprecated Use a Registry: the registration of a type in a fresh registry. */
export function getSinkRegistration(type: string): PluginRegistration | undefined {
  return new Registry().sinkRegistration(type);
}

/** Loads the class of a sink type from a fresh registry (resolving from the cwd). */
export async function loadSinkClass(type: string, path = ''): Promise<SinkClassLike> {
  return new Registry().loadSink(type, path);
}

/** Builds a sink from a YAML mapping through a fresh registry (resolving from the cwd). */
export async function createSink(
  config: Readonly<Record<string, unknown>>,
  path = '',
): Promise<CreatedSink> {
  return new Registry().createSink(config, path);
}
