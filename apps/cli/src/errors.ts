import {
  ConfigError,
  IotSimError,
  PluginStartError,
  SdkNotInstalledError,
  ServerStartError,
  SinkConnectError,
  SinkNotInstalledError,
} from '@iotsim/core/errors';
import { redact } from '@iotsim/core/secrets';

/** Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A usage error found by the CLI itself (bad flag values). */
export class UsageError extends IotSimError {}

/** The exit code for an error. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof PluginStartError) {
    // Several sinks or servers failed at start: a usage error when every one of them is.
    return err.failures.every((f) => exitCodeFor(f) === EXIT.usage) ? EXIT.usage : EXIT.failure;
  }
  if (
    err instanceof ConfigError ||
    err instanceof SinkNotInstalledError ||
    err instanceof SdkNotInstalledError ||
    err instanceof SinkConnectError ||
    err instanceof ServerStartError ||
    err instanceof UsageError
  ) {
    return EXIT.usage;
  }
  return EXIT.failure;
}

/** One message for the user: no stack trace for our own errors, secrets redacted. */
export function formatError(err: unknown, debug = false): string {
  if (err instanceof IotSimError) {
    const cause = err.cause instanceof Error && debug ? `\n  caused by: ${err.cause.message}` : '';
    return redact(`error: ${err.message}${cause}`);
  }
  if (err instanceof Error) {
    return redact(debug && err.stack ? `error: ${err.stack}` : `error: ${err.message}`);
  }
  return redact(`error: ${String(err)}`);
}
