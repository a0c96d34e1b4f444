import { createHash } from 'node:crypto';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { SensorGroup } from './generator.js';

/**
 * One share of a run's devices: shard `index` of `count` (0-based). Devices are assigned by a
 * stable hash of (industry, device index), never by sensor, so a device's sensors stay together;
 * every shard knows its share with no coordinator.
 */
export interface ShardSpec {
  /** 0-based shard index, `0 <= index < count`. */
  readonly index: number;
  /** Number of shards. */
  readonly count: number;
}

/** The whole run: shard 0 of 1. */
export const WHOLE_RUN: ShardSpec = Object.freeze({ index: 0, count: 1 });

/** Where a sink runs in a sharded or multi-threaded run (`SinkContext.shard`). */
export interface SinkShard {
  /** Shard index of this process (0-based). */
  readonly index: number;
  /** Shards of the run. */
  readonly count: number;
  /** Worker thread of this sink inside the shard (0-based; 0 without workers). */
  readonly worker: number;
  /** Worker threads of the shard (1 without workers). */
  readonly workers: number;
  /** The run's seed. */
  readonly seed: number;
  /**
   * A label unique to this (shard, worker) in the run, empty for one process on one thread:
   * `shard2of3`, `w1`, `shard2of3-w1`. File names carry it.
   */
  readonly id: string;
  /**
   * A stable identity of this writer derived from (seed, shard, worker), the same on a retry of
   * the same shard: `iotsim-<seed>` or `iotsim-<seed>-<id>`. Kafka's client id and Delta's app id use it.
   */
  readonly clientId: string;
}

/** The 32-bit FNV-1a hash of `text`, finished with the murmur3 mixer (well spread for short keys). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The shard (of `count`) that device `deviceIndex` (0-based) of `industry` belongs to. */
export function shardOfDevice(industry: string, deviceIndex: number, count: number): number {
  if (count <= 1) return 0;
  return hash32(`${industry}\u0000${deviceIndex}`) % count;
}

/** True when the device belongs to `shard`. */
export function inShard(shard: ShardSpec, industry: string, deviceIndex: number): boolean {
  return shard.count <= 1 || shardOfDevice(industry, deviceIndex, shard.count) === shard.index;
}

/**
 * The sub-shard of worker `worker` of `workers` inside `shard`: shard `index + count × worker` of
 * `count × workers`. Since `h mod (N·W) mod N = h mod N`, the workers of shard K/N together own
 * exactly the devices of K/N.
 */
export function subShard(shard: ShardSpec, worker: number, workers: number): ShardSpec {
  if (workers <= 1) return shard;
  return { index: shard.index + shard.count * worker, count: shard.count * workers };
}

/** The identity a sink sees (`SinkContext.shard`) for `shard`, worker `worker` of `workers`. */
export function sinkShard(shard: ShardSpec, seed: number, worker = 0, workers = 1): SinkShard {
  const parts: string[] = [];
  if (shard.count > 1) parts.push(`shard${shard.index}of${shard.count}`);
  if (workers > 1) parts.push(`w${worker}`);
  const id = parts.join('-');
  return Object.freeze({
    index: shard.index,
    count: shard.count,
    worker,
    workers,
    seed,
    id,
    clientId: id ? `iotsim-${seed}-${id}` : `iotsim-${seed}`,
  });
}

/**
 * The readings one sink instance is handed, when a rerun gives the same ones (`SinkContext.stream`):
 * set in a backfill for a sink fed by one generator (not a singleton fed by several worker
 * threads). With `RecordBatch.position`, a sink can tell which readings of a retried run an earlier
 * attempt already delivered (Delta's idempotent `txn`).
 */
export interface SinkStream {
  /**
   * `<SinkShard.clientId>-<16 hex digits>`: the digest covers everything that decides the readings
   * (seed, shard, worker, devices, sensors, rate, backfill range). Equal for a rerun of the same
   * backfill, different for any other run.
   */
  readonly id: string;
}

/** What decides a backfill's readings, for `backfillStream`. */
export interface StreamInputs {
  readonly seed: number;
  readonly shard: ShardSpec;
  readonly worker: number;
  readonly workers: number;
  readonly devicesPerIndustry: number;
  readonly groups: readonly SensorGroup[];
  readonly rateHz: number;
  /** The backfill range, epoch seconds. */
  readonly start: number;
  readonly end: number;
}

/** The stream identity of a backfill's sink instance (see `SinkStream`). */
export function backfillStream(inputs: StreamInputs): SinkStream {
  const { seed, shard, worker, workers } = inputs;
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        seed,
        shard.index,
        shard.count,
        worker,
        workers,
        inputs.devicesPerIndustry,
        inputs.groups,
        inputs.rateHz,
        inputs.start,
        inputs.end,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  return Object.freeze({ id: `${sinkShard(shard, seed, worker, workers).clientId}-${digest}` });
}

/** A problem with a shard given as text (`K/N`), or undefined; `what` names the flag or key. */
function shardProblem(text: string, what: string): string | undefined {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m)
    return `must be K/N with 0 <= K < N (shard K of N, 0-based, e.g. 0/3), got '${text}' (${what})`;
  const k = Number(m[1]);
  const n = Number(m[2]);
  if (!(n >= 1)) return `must have N >= 1 shards, got '${text}' (${what})`;
  if (!(k < n))
    return `must have K < N (K is 0-based: the shards of ${n} are 0/${n} … ${n - 1}/${n}), got '${text}' (${what})`;
  return undefined;
}

/** Parses `K/N`; throws a ConfigError at `path` naming the fix. */
export function parseShard(text: string, path = 'shard'): ShardSpec {
  const problem = shardProblem(text, path);
  if (problem) throw new ConfigError([{ path, message: problem }]);
  const [k, n] = text.split('/').map((s) => Number(s.trim()));
  return { index: k!, count: n! };
}

/** Where a shard may come from: flags first, then the environment. */
export interface ShardSources {
  /** `--shard K/N`. */
  readonly shard?: string;
  /** `--shard-count N` (with the index from `JOB_COMPLETION_INDEX`). */
  readonly shardCount?: number;
  /** The environment. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The shard of this process: `--shard K/N`, else `IOTSIM_SHARD=K/N`, else Kubernetes'
 * `JOB_COMPLETION_INDEX` with `--shard-count N` (or `IOTSIM_SHARD_COUNT`); undefined when none
 * is given. Every problem is one ConfigError naming the flag or variable.
 */
export function resolveShard(sources: ShardSources): ShardSpec | undefined {
  const env = sources.env ?? process.env;
  const issues: ConfigIssue[] = [];
  let count: number | undefined;
  let countFrom = '--shard-count';
  if (sources.shardCount !== undefined) count = sources.shardCount;
  else if (env.IOTSIM_SHARD_COUNT !== undefined && env.IOTSIM_SHARD_COUNT !== '') {
    count = Number(env.IOTSIM_SHARD_COUNT);
    countFrom = 'IOTSIM_SHARD_COUNT';
  }
  if (count !== undefined && !(Number.isInteger(count) && count >= 1))
    issues.push({
      path: countFrom,
      message: `must be a whole number >= 1, got ${String(sources.shardCount ?? env.IOTSIM_SHARD_COUNT)}`,
    });
  const fromText = (text: string, path: string): ShardSpec | undefined => {
    const problem = shardProblem(text, path);
    if (problem) {
      issues.push({ path, message: problem });
      return undefined;
    }
    const spec = parseShard(text, path);
    if (count !== undefined && Number.isInteger(count) && count !== spec.count)
      issues.push({
        path,
        message: `says ${spec.count} shards but ${countFrom} says ${count}: give one of them`,
      });
    return spec;
  };
  let spec: ShardSpec | undefined;
  if (sources.shard !== undefined) spec = fromText(sources.shard, '--shard');
  else if (env.IOTSIM_SHARD !== undefined && env.IOTSIM_SHARD !== '')
    spec = fromText(env.IOTSIM_SHARD, 'IOTSIM_SHARD');
  else if (count !== undefined) {
    const raw = env.JOB_COMPLETION_INDEX;
    if (raw === undefined || raw === '')
      issues.push({
        path: countFrom,
        message: `needs the shard index: set JOB_COMPLETION_INDEX (a Kubernetes Indexed Job does) or give --shard K/${count}`,
      });
    else if (!/^\d+$/.test(raw.trim()))
      issues.push({
        path: 'JOB_COMPLETION_INDEX',
        message: `must be a whole number >= 0, got '${raw}'`,
      });
    else if (Number.isInteger(count) && count >= 1) {
      const index = Number(raw.trim());
      if (index >= count)
        issues.push({
          path: 'JOB_COMPLETION_INDEX',
          message: `must be < the shard count ${count} (0-based), got ${index}`,
        });
      else spec = { index, count };
    }
  }
  if (issues.length) throw new ConfigError(issues);
  return spec;
}
