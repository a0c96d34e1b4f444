import { ConfigError, IotSimError, SinkNotInstalledError, UnknownSinkTypeError } from './errors.js';
import { Sink } from './sink.js';
import { ConsoleSink } from './sinks/console-sink.js';

/** A class that builds a sink from a YAML mapping: any subclass of `Sink` has `fromConfig`. */
export interface SinkClass {
  readonly name: string;
  readonly prototype: Sink;
  fromConfig(config: Readonly<Record<string, unknown>>, path?: string): Sink;
}

/** How to load the implementation of a sink type. */
export interface SinkRegistration {
  /** Imports the module that exports the class. */
  load: () => Promise<Record<string, unknown>>;
  /** Name of the exported class. */
  exportName: string;
  /** The npm package that provides it, for the not-installed message. */
  packageName?: string;
}

const registry = new Map<string, SinkRegistration>();

/**
 * Registers a sink type for YAML configs, as the original's `register_sink`.
 * `module` is a module specifier (resolved from this package) or a loader function.
 *
 * @example
 * registerSink('stats', () => import('./stats-sink.js'), 'StatsSink');
 */
export function registerSink(
  type: string,
  module: string | (() => Promise<Record<string, unknown>>),
  exportName: string,
  packageName?: string,
): void {
  const load =
    typeof module === 'string' ? () => import(module) as Promise<Record<string, unknown>> : module;
  registry.set(type, {
    load,
    exportName,
    packageName: packageName ?? (typeof module === 'string' ? module : undefined),
  });
}

/** Registered sink type names. */
export function registeredSinkTypes(): string[] {
  return [...registry.keys()];
}

/** The registration of a type, if any. */
export function getSinkRegistration(type: string): SinkRegistration | undefined {
  return registry.get(type);
}

/** True when `err` says that `packageName` itself (not one of its dependencies) could not be found. */
export function isModuleMissing(err: unknown, packageName: string): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return err.message.includes(`'${packageName}'`) || err.message.includes(`"${packageName}"`);
}

/** Loads the class registered for `type`, checking that it is a Sink. */
export async function loadSinkClass(type: string, path = ''): Promise<SinkClass> {
  const reg = registry.get(type);
  if (!reg) throw new UnknownSinkTypeError(type, registeredSinkTypes(), path);
  let mod: Record<string, unknown>;
  try {
    mod = await reg.load();
  } catch (err) {
    if (reg.packageName && isModuleMissing(err, reg.packageName)) {
      throw new SinkNotInstalledError(type, reg.packageName, { cause: err });
    }
    throw err;
  }
  const cls = mod[reg.exportName];
  if (typeof cls !== 'function' || !(cls.prototype instanceof Sink)) {
    throw new IotSimError(
      `sink type '${type}': ${reg.packageName ?? 'its module'} exports ${typeof cls === 'function' ? 'a class' : 'nothing'} named '${reg.exportName}' that does not extend Sink from @iotsim/core`,
    );
  }
  return cls as unknown as SinkClass;
}

/** Builds a sink from a YAML mapping (`type` plus snake_case options). */
export async function createSink(
  config: Readonly<Record<string, unknown>>,
  path = '',
): Promise<Sink> {
  const { type, ...options } = config;
  if (typeof type !== 'string' || !type) {
    throw new ConfigError([
      {
        path: `${path}type`,
        message: `is required; known types: ${registeredSinkTypes().join(', ')}`,
      },
    ]);
  }
  const cls = await loadSinkClass(type, `${path}type`);
  return cls.fromConfig(options, path);
}

registerSink('console', async () => ({ ConsoleSink }), 'ConsoleSink', '@iotsim/core');
