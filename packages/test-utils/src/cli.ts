import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built CLI (`pnpm exec turbo run build` makes it). */
export const BIN = fileURLToPath(new URL('../../../apps/cli/dist/bin.js', import.meta.url));

/** What a CLI child process did. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process had to be killed at the time limit (a hang). */
  timedOut: boolean;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
}

/** Options of `cli`. */
export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process (SIGKILL) after this many ms and report `timedOut`. Default 120,000. */
  timeoutMs?: number;
  /** Node flags before the script (`--import …`). */
  nodeArgs?: readonly string[];
  /** Called once the child is running (to send signals). */
  onSpawn?: (child: ChildProcessWithoutNullStreams) => void;
  /** Called with each stderr chunk as it arrives. */
  onStderr?: (text: string, child: ChildProcessWithoutNullStreams) => void;
}

/** Runs `iotsim <args>` as a child process with a time limit; never rejects on a non-zero exit. */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
      // The parent's shard (a test run inside a Kubernetes job) must not leak into the child.
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        IOTSIM_DEBUG: '',
        IOTSIM_SHARD: '',
        IOTSIM_SHARD_COUNT: '',
        JOB_COMPLETION_INDEX: '',
        ...options.env,
      },
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      options.onStderr?.(text, child);
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: performance.now() - started });
    });
    options.onSpawn?.(child);
  });
}
