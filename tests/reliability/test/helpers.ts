import { cli as runCli, type CliOptions, type CliResult } from '@iotsim/test-utils';

export { BIN, type CliOptions, type CliResult } from '@iotsim/test-utils';

/** Runs `iotsim <args>` with the reliability suites' time limit (20 s unless given). */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return runCli(args, { timeoutMs: 20_000, ...options });
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
