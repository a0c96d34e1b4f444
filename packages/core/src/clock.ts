import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';

/** How a clock advances: real time, real time sped up (`speed`), or a backfill range as fast as sinks accept. */
export type ClockMode = 'realtime' | 'accelerated' | 'backfill';

/** A block of consecutive ticks the clock says are due. */
export interface ClockStep {
  /** Index of the first tick: on the absolute grid (`t = k / rate`) in real time, from `start` in a backfill. */
  readonly tick0: number;
  /** Simulated time of each tick, epoch seconds. */
  readonly timestamps: Float64Array;
  /** How late the first tick is, in wall-clock milliseconds (0 in a backfill). */
  readonly lagMs: number;
}

/** Where ticks come from. One loop in the engine asks `next()` until it returns undefined. */
export interface Clock {
  readonly mode: ClockMode;
  /** Ticks per simulated second. */
  readonly rateHz: number;
  /** Ticks the run will have, when known in advance. */
  readonly totalTicks: number | undefined;
  /** The next due block of at most `maxTicks` ticks (waiting for it in real time); undefined when the run is over. */
  next(maxTicks: number): Promise<ClockStep | undefined>;
  /** Ends the run: a pending `next()` resolves undefined at once. */
  stop(): void;
}

const EPS = 1e-7;

/** Options of a real-time clock. */
export interface RealTimeClockOptions {
  /** Ticks per simulated second. */
  rateHz: number;
  /** Simulated seconds per wall-clock second (60 plays an hour in a minute). Default 1. */
  speed?: number;
  /** Wall-clock seconds to run; undefined runs until `stop()`. */
  durationS?: number;
  /** Simulated start (epoch seconds). Default: now. */
  start?: number;
  /** Simulated end (epoch seconds, exclusive). Default: none. */
  end?: number;
  /**
   * Wall-clock time of the first tick (epoch seconds), for processes that must share one tick
   * range (shards): the clock waits until then; a process that starts late catches up from it.
   * Real time only (not with `start` or `speed`). Default: now.
   */
  startAt?: number;
  /** Where wall-clock jumps are reported. */
  logger?: Logger;
  /** Wall-clock source in ms (tests). Default `Date.now`. */
  wallNow?: () => number;
  /** Monotonic source in ms (tests). Default `performance.now`. */
  monoNow?: () => number;
}

/**
 * Real time on an absolute grid: tick k is at simulated time `k / rate`, so two processes (or a
 * restart) produce the same timestamps. Paced by the monotonic clock; when the wall clock jumps
 * (NTP step, suspend) by more than a second, the jump is logged and the grid is re-anchored to the
 * new wall time, so the run neither stalls nor bursts. With `speed`, simulated time runs that many
 * times faster than the wall clock.
 */
export class RealTimeClock implements Clock {
  readonly mode: ClockMode;
  readonly rateHz: number;
  readonly totalTicks: number | undefined;
  private readonly speed: number;
  private readonly logger: Logger;
  private readonly wallNow: () => number;
  private readonly monoNow: () => number;
  private readonly follow: boolean;
  private endTick: number;
  private readonly deadlineMono: number;
  private anchorMono: number;
  private anchorSim: number;
  private anchorWallOffset: number;
  private k: number;
  private stopped = false;
  private wake: (() => void) | undefined;
  /** Ticks of a bounded run that the duration ended before they were generated. */
  missedTicks = 0;

  constructor(options: RealTimeClockOptions) {
    this.rateHz = options.rateHz;
    this.speed = options.speed ?? 1;
    this.mode = this.speed === 1 && options.start === undefined ? 'realtime' : 'accelerated';
    this.logger = options.logger ?? silentLogger;
    this.wallNow = options.wallNow ?? Date.now;
    this.monoNow = options.monoNow ?? (() => performance.now());
    const mono = this.monoNow();
    const wall = this.wallNow();
    const at = this.mode === 'realtime' ? options.startAt : undefined;
    // With startAt, the anchor is that wall time on the monotonic clock (in the future or past).
    this.anchorMono = at === undefined ? mono : mono + (at * 1000 - wall);
    this.anchorSim = options.start ?? at ?? wall / 1000;
    this.anchorWallOffset = wall - mono;
    // Follow the wall clock only when simulated time is wall time.
    this.follow = this.mode === 'realtime';
    this.k = gridCeil(this.anchorSim * this.rateHz);
    const byDuration =
      options.durationS === undefined
        ? Infinity
        : gridCeil((this.anchorSim + options.durationS * this.speed) * this.rateHz);
    const byEnd = options.end === undefined ? Infinity : gridCeil(options.end * this.rateHz);
    this.endTick = Math.min(byDuration, byEnd);
    this.totalTicks = Number.isFinite(this.endTick)
      ? Math.max(0, this.endTick - this.k)
      : undefined;
    this.deadlineMono =
      options.durationS === undefined ? Infinity : this.anchorMono + options.durationS * 1000;
  }

  async next(maxTicks: number): Promise<ClockStep | undefined> {
    if (this.stopped) return undefined;
    this.checkWallClock();
    if (this.k >= this.endTick) {
      // A run of `durationS` lasts that long: wait out the rest of the window.
      if (Number.isFinite(this.deadlineMono)) await this.sleepUntil(this.deadlineMono);
      return undefined;
    }
    if (this.monoNow() >= this.deadlineMono) {
      // The duration is over but ticks are left: the rate was more than this process keeps up
      // with. The run ends at its duration; what it could not generate is said, not stretched.
      const missed = this.endTick - this.k;
      this.logger.warn(
        `the run fell behind its rate: ${missed.toLocaleString('en-US')} of ${(this.totalTicks ?? missed).toLocaleString('en-US')} ticks were not generated by the end of the duration (lag ${((this.monoNow() - this.dueMono(this.k)) / 1000).toFixed(1)} s); lower the rate or the fleet`,
      );
      this.missedTicks = missed;
      return undefined;
    }
    let due = this.dueMono(this.k);
    while (due > this.monoNow() + 0.5) {
      await this.sleepUntil(due);
      if (this.stopped) return undefined;
      if (this.checkWallClock()) due = this.dueMono(this.k);
    }
    const now = this.monoNow();
    let count = 1;
    while (count < maxTicks && this.k + count < this.endTick && this.dueMono(this.k + count) <= now)
      count++;
    const timestamps = new Float64Array(count);
    for (let i = 0; i < count; i++) timestamps[i] = (this.k + i) / this.rateHz;
    const step: ClockStep = { tick0: this.k, timestamps, lagMs: Math.max(0, now - due) };
    this.k += count;
    return step;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private dueMono(k: number): number {
    return this.anchorMono + ((k / this.rateHz - this.anchorSim) / this.speed) * 1000;
  }

  /** Re-anchors after a wall-clock jump; true when it did. */
  private checkWallClock(): boolean {
    if (!this.follow) return false;
    const mono = this.monoNow();
    const wall = this.wallNow();
    const drift = wall - mono - this.anchorWallOffset;
    if (Math.abs(drift) < 1000) return false;
    this.logger.warn(
      `the wall clock jumped ${drift > 0 ? 'forward' : 'back'} by ${(Math.abs(drift) / 1000).toFixed(1)} s; timestamps follow it from the next tick`,
    );
    this.anchorMono = mono;
    this.anchorSim = wall / 1000;
    this.anchorWallOffset = wall - mono;
    const ahead = this.endTick - this.k;
    this.k = gridCeil(this.anchorSim * this.rateHz);
    // A bounded run keeps its number of remaining ticks and its wall-clock deadline.
    if (Number.isFinite(ahead)) this.endTick = this.k + ahead;
    return true;
  }

  private sleepUntil(mono: number): Promise<void> {
    const ms = mono - this.monoNow();
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      // Timers are capped (2^31 - 1 ms); a longer wait is taken in steps.
      const done = (): void => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      this.wake = done;
    });
  }
}

/** Options of a backfill clock. */
export interface BackfillClockOptions {
  /** Ticks per simulated second. */
  rateHz: number;
  /** First simulated time, epoch seconds. */
  start: number;
  /** End of the range, epoch seconds (exclusive). */
  end: number;
}

/** A simulated range `start..end` at `rate`, as fast as the engine asks; never drops a tick. */
export class BackfillClock implements Clock {
  readonly mode: ClockMode = 'backfill';
  readonly rateHz: number;
  readonly totalTicks: number;
  private readonly start: number;
  private k = 0;
  private stopped = false;

  constructor(options: BackfillClockOptions) {
    this.rateHz = options.rateHz;
    this.start = options.start;
    this.totalTicks = Math.max(0, Math.ceil((options.end - options.start) * options.rateHz - 1e-9));
  }

  async next(maxTicks: number): Promise<ClockStep | undefined> {
    if (this.stopped || this.k >= this.totalTicks) return undefined;
    const count = Math.min(maxTicks, this.totalTicks - this.k);
    const timestamps = new Float64Array(count);
    for (let i = 0; i < count; i++) timestamps[i] = this.start + (this.k + i) / this.rateHz;
    const step: ClockStep = { tick0: this.k, timestamps, lagMs: 0 };
    this.k += count;
    return step;
  }

  stop(): void {
    this.stopped = true;
  }
}

function gridCeil(x: number): number {
  return Math.ceil(x - EPS);
}
