import {
  ConfigError,
  parseTimePoint,
  resolveShard,
  type ConfigIssue,
  type SimulatorOptions,
} from '@iotsim/core';

/** The scale flags of `iotsim run`. */
export interface ScaleArgs {
  /** `--workers N`. */
  workers?: number;
  /** `--shard K/N`. */
  shard?: string;
  /** `--shard-count N` (with `JOB_COMPLETION_INDEX`). */
  shardCount?: number;
  /** `--start-at <ISO time>`. */
  startAt?: string;
  /** `--start` (a backfill), which `--start-at` does not go with. */
  start?: string;
  /** `--speed`, which `--start-at` does not go with. */
  speed?: number;
}

/**
 * The simulator options of the scale flags (`--workers`, `--shard` / `IOTSIM_SHARD` /
 * `JOB_COMPLETION_INDEX` with `--shard-count`, `--start-at`); every bad value is one ConfigError
 * (exit 2) naming the flag or variable.
 */
export function scaleOptions(
  args: ScaleArgs,
  env: NodeJS.ProcessEnv = process.env,
): Pick<SimulatorOptions, 'workers' | 'shard' | 'startAt'> {
  const problems: ConfigIssue[] = [];
  const out: Pick<SimulatorOptions, 'workers' | 'shard' | 'startAt'> = {};
  if (args.workers !== undefined) {
    if (!(Number.isInteger(args.workers) && args.workers >= 1 && args.workers <= 256))
      problems.push({
        path: '--workers',
        message: `must be a whole number from 1 to 256 (worker threads, about one per core), got ${Number.isNaN(args.workers) ? 'something that is not a number' : args.workers}`,
      });
    else out.workers = args.workers;
  }
  if (args.shardCount !== undefined && Number.isNaN(args.shardCount))
    problems.push({
      path: '--shard-count',
      message: 'must be a whole number >= 1, got something that is not a number',
    });
  else {
    try {
      const shard = resolveShard({ shard: args.shard, shardCount: args.shardCount, env });
      if (shard) out.shard = shard;
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.issues);
      else throw err;
    }
  }
  if (args.startAt !== undefined) {
    try {
      out.startAt = parseTimePoint(args.startAt, '--start-at');
      if (args.start !== undefined || args.speed !== undefined)
        problems.push({
          path: '--start-at',
          message:
            'is the common start of real time across shards; not with --start (a backfill range) or --speed',
        });
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.issues);
      else throw err;
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}
