import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The harness directory: IOTSIM_SERVICES_DIR (env.sh sets it), else the repository's scripts/services. */
export const SERVICES_DIR =
  process.env.IOTSIM_SERVICES_DIR ??
  resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/services');

/** A service the harness in scripts/services can start. */
export type ServiceName = 'kafka' | 'postgres' | 'mosquitto' | 'python' | 's3';

/** Starts, stops or restarts a service through `scripts/services/ctl.sh` (for fault tests). */
export async function serviceCtl(
  service: ServiceName,
  action: 'start' | 'stop' | 'restart' | 'status',
): Promise<void> {
  await run('bash', [join(SERVICES_DIR, 'ctl.sh'), service, action], { timeout: 180_000 });
}

/** An environment variable the services harness exports; throws a clear error when it is missing. */
export function serviceEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: run these tests with 'pnpm test:services' (scripts/services/env.sh exports it)`,
    );
  }
  return v;
}

/** Runs a Python snippet in the harness venv (IOTSIM_PYTHON) and returns its stdout. */
export async function runPython(code: string, args: string[] = []): Promise<string> {
  const python = serviceEnv('IOTSIM_PYTHON');
  if (!existsSync(python)) throw new Error(`IOTSIM_PYTHON=${python} does not exist`);
  // A script that got to its end has done its work: exit without interpreter teardown, where
  // delta-rs's runtime threads sometimes abort the process ("terminate called without an active
  // exception", delta-io/delta-rs#2184). An exception still exits 1 with its traceback.
  const script = `${code}\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n`;
  const { stdout } = await run(python, ['-c', script, ...args], {
    maxBuffer: 512 * 1024 * 1024,
    timeout: 300_000,
  });
  return stdout;
}
