import { redact } from './secrets.js';

/** Log levels, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where library code reports what it does. Library code never prints on its own. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A logger that discards everything (the library default). */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * A logger writing `LEVEL message` lines to a stream (stderr by default), with every registered
 * secret redacted.
 */
export function createStreamLogger(
  level: LogLevel = 'info',
  stream: { write(chunk: string): unknown } = process.stderr,
  name = 'iotsim',
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const at = (l: LogLevel) => (message: string) => {
    if (LOG_LEVELS.indexOf(l) < min) return;
    stream.write(
      `${new Date().toISOString()} ${l.toUpperCase().padEnd(5)} ${name}: ${redact(message)}\n`,
    );
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
