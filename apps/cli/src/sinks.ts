import { registerSink } from '@iotsim/core';

/** A first-party sink type: the package that provides it and how to load it. */
export interface FirstPartySink {
  /** Exported class name. */
  className: string;
  /** npm package. */
  packageName: string;
  /** Static loader, so bundlers and `tsc` see every first-party package. */
  load: () => Promise<Record<string, unknown>>;
  /** One line for `list-sinks`. */
  summary: string;
}

/** The first-party sink types, keyed by the type name used in YAML and `--sink`. */
export const FIRST_PARTY_SINKS: Readonly<Record<string, FirstPartySink>> = {
  console: {
    className: 'ConsoleSink',
    packageName: '@iotsim/core',
    load: () => import('@iotsim/core') as Promise<Record<string, unknown>>,
    summary: 'text or JSON lines on stdout',
  },
  callback: {
    className: 'CallbackSink',
    packageName: '@iotsim/core',
    load: () => import('@iotsim/core') as Promise<Record<string, unknown>>,
    summary: 'your function (TypeScript API only)',
  },
};

/** Registers every first-party type with the core registry (loading nothing). */
export function registerFirstPartySinks(): void {
  for (const [type, s] of Object.entries(FIRST_PARTY_SINKS)) {
    if (type === 'callback') continue;
    registerSink(type, s.load, s.className, s.packageName);
  }
}

/** True when the package of a sink type can be resolved (without loading it). */
export function isInstalled(packageName: string): boolean {
  try {
    import.meta.resolve(packageName);
    return true;
  } catch {
    return false;
  }
}
