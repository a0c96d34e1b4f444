import { ConfigError } from './errors.js';
import type { ChannelTable } from './frame.js';
import type { ModelControl } from './generator.js';
import type { LiveState } from './live-state.js';
import type { Logger } from './logger.js';
import type { SinkMetrics } from './runner.js';
import {
  fromYamlKeys,
  issuesToYaml,
  toCamelCase,
  type OptionSchema,
  type StandardSchemaLike,
} from './schema.js';

/** What a server is given when it starts, beside the live state. */
export interface ServerContext {
  /** Where the server reports what it does. */
  readonly logger: Logger;
  /** The run's channels (the same table as `state.table`). */
  readonly channels: ChannelTable;
  /** Fault and override requests: their effect shows in every sink and server. */
  readonly control: ModelControl;
  /** Generator ticks per simulated second. */
  readonly rateHz: number;
  /** The server's name in this run (`opcua`, `http#2`). */
  readonly name: string;
  /** Live counters of the run's sinks (with workers: summed as last reported). Undefined outside a Simulator run. */
  readonly sinkMetrics?: () => readonly SinkMetrics[];
}

/** Brand that marks a server class (recognised across copies of @iotsim/core). */
export const SERVER_BRAND: unique symbol = Symbol.for('iotsim.server') as never;

/** True when `value` is a server instance. */
export function isServer(value: unknown): value is Server {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value.constructor as { [SERVER_BRAND]?: unknown } | undefined)?.[SERVER_BRAND] === true
  );
}

/** True when `value` is a server class. */
export function isServerClass(value: unknown): value is ServerClassLike {
  return (
    typeof value === 'function' && (value as { [SERVER_BRAND]?: unknown })[SERVER_BRAND] === true
  );
}

/** What the registry needs of a server class. */
export interface ServerClassLike {
  readonly name: string;
  readonly type: string;
  /** The schema of its options, when it declares one. */
  readonly schema?: OptionSchema | StandardSchemaLike;
  fromConfig(config: Readonly<Record<string, unknown>>, path?: string): Server;
}

/**
 * A plugin that serves the live simulation (HTTP, OPC UA, Modbus, an MQTT broker): it reads the
 * latest frame from `LiveState` when it wants, and may send control requests. It has no buffer and
 * no delivery counts. `stop()` closes everything `start()` opened and always completes.
 *
 * @example
 * class EchoServer extends Server {
 *   static override readonly type = 'echo';
 *   async start(state: LiveState) { this.off = state.subscribe((s) => log(s.version)); }
 *   async stop() { this.off?.(); }
 * }
 */
export abstract class Server {
  /** The server type name used in YAML (`servers:`) and `--server`. */
  static readonly type: string = 'server';
  static readonly [SERVER_BRAND] = true;

  /** The server type, from the class. */
  get type(): string {
    return (this.constructor as typeof Server).type;
  }

  /** Starts serving; throw `ServerStartError` (port in use …) or `ConfigError` on failure. */
  abstract start(state: LiveState, context: ServerContext): Promise<void>;

  /** Stops serving and closes every connection and resource. */
  abstract stop(): Promise<void>;

  /** A one-line description for logs (address, security); must not contain secrets. */
  describe(): string {
    return this.type;
  }

  private readonly ownSecrets = new Set<string>();

  /** Credentials this server was given (user passwords): the run redacts them everywhere. */
  get secrets(): readonly string[] {
    return [...this.ownSecrets];
  }

  /** Marks a credential so the run redacts it from every log line, error and summary. */
  protected registerSecret(value: string | undefined | null): void {
    if (typeof value === 'string' && value.length >= 3) this.ownSecrets.add(value);
  }

  /** The schema of the server's options (`opt.object({...})`); YAML keys are mapped with it. */
  static readonly schema?: OptionSchema | StandardSchemaLike;

  /** Builds the server from its YAML options (snake_case keys, `type` removed). */
  static fromConfig<T extends Server>(
    this: (new (options: never) => T) & { schema?: OptionSchema | StandardSchemaLike },
    config: Readonly<Record<string, unknown>>,
    path = '',
  ): T {
    const options = this.schema
      ? fromYamlKeys(this.schema, config)
      : Object.fromEntries(Object.entries(config).map(([k, v]) => [toCamelCase(k), v]));
    try {
      return new this(options as never);
    } catch (err) {
      if (err instanceof ConfigError)
        throw new ConfigError(issuesToYaml(err.issues, path), { cause: err });
      throw err;
    }
  }
}
