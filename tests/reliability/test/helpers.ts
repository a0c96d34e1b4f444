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
  /** Kill the process (SIGKILL) after this many ms and report `timedOut`. Default 20,000. */
  timeoutMs?: number;
  /** Called once the child is running (to send signals). */
  onSpawn?: (child: ChildProcessWithoutNullStreams) => void;
  /** Called with each stderr chunk as it arrives. */
  onStderr?: (text: string, child: ChildProcessWithoutNullStreams) => void;
}

/** Runs `iotsim <args>` as a child process with a time limit; never rejects on a non-zero exit. */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NODE_OPTIONS: '', IOTSIM_DEBUG: '', ...options.env },
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
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

/** A stack frame line (`    at fn (file.js:1:2)`): user-facing errors must not contain one. */
export const STACK_FRAME = /\n\s+at .+:\d+:\d+/;

/** Runs async tasks with at most `n` at a time. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = (): void => {
    if (active >= n) return;
    const start = queue.shift();
    if (start) {
      active++;
      start();
    }
  };
  return <T>(task: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push(() => {
        task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          });
      });
      next();
    });
}

/** The per-sink rows of the CLI's run summary table: name → counters. */
export function parseSummary(stderr: string): Map<
  string,
  {
    generated: number;
    delivered: number;
    dropped: number;
    failed: number;
    retries: number;
  }
> {
  const out = new Map<
    string,
    { generated: number; delivered: number; dropped: number; failed: number; retries: number }
  >();
  const lines = stderr.split('\n');
  const head = lines.findIndex((l) => /^sink\s+generated\s+delivered\s+dropped\s+failed/.test(l));
  if (head < 0) return out;
  for (const line of lines.slice(head + 1)) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[\d.]+$/.exec(line);
    if (!m) break;
    out.set(m[1]!, {
      generated: Number(m[2]),
      delivered: Number(m[3]),
      dropped: Number(m[4]),
      failed: Number(m[5]),
      retries: Number(m[6]),
    });
  }
  return out;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
