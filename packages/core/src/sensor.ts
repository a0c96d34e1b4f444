import type { ResolvedSensorConfig } from './models.js';
import type { RandomStream } from './random.js';

/** The kinds of injected fault. One kind holds for an anomaly's whole length. */
export type AnomalyKind = 'spike' | 'offset' | 'oscillation';
const KINDS: readonly AnomalyKind[] = ['spike', 'offset', 'oscillation'];

const OSCILLATION_PERIOD = (2 * Math.PI) / 10;

/** Drift is a bounded random walk within ±5 % of the value. */
export const DRIFT_BOUND = 0.05;
/** Anomalies last between these many seconds of simulated time. */
export const ANOMALY_MIN_S = 5;
export const ANOMALY_MAX_S = 30;

/**
 * How far drift may take a sensor: ±5 % of its value, and never more than half the distance from
 * nominal to the nearer bound, so drift alone cannot pin a narrow-range sensor to its clamp.
 */
export function driftBoundOf(c: ResolvedSensorConfig): number {
  const nominal = Math.abs(c.nominalValue);
  if (nominal === 0) return DRIFT_BOUND;
  const headroom = Math.min(c.maxValue - c.nominalValue, c.nominalValue - c.minValue);
  return Math.min(DRIFT_BOUND, Math.max(0, (0.5 * headroom) / nominal));
}

/**
 * The model of one sensor: nominal value, cycle, bounded drift, Gaussian noise in the sensor's
 * unit, anomalies, clamped to the sensor's range. Deterministic for a given random stream.
 */
export class SensorModel {
  readonly config: ResolvedSensorConfig;
  private readonly rng: RandomStream;
  private readonly phase: number;
  private readonly range: number;
  private readonly driftBound: number;
  // The config's numbers, copied into fields of one shape: sample() runs per reading.
  private readonly nominal: number;
  private readonly min: number;
  private readonly max: number;
  private readonly cycleScale: number;
  private readonly cycleOmega: number;
  private readonly cyclePeriod: number;
  private readonly driftRate: number;
  private readonly noiseStd: number;
  private readonly anomalyLogQ: number;
  private readonly magnitude: number;
  private drift = 0;
  private lastT = NaN;
  private anomalyUntil = -Infinity;
  /** Eligible ticks left before the next random anomaly starts (a geometric draw, not a draw per tick). */
  private anomalyCountdown = 0;
  private anomalyKind: AnomalyKind = 'spike';
  /** Set while an anomaly is active. */
  faultActive = false;
  /** Anomalies started so far (identifies the current one). */
  anomalyCount = 0;
  private overrideValue = NaN;
  private hasOverride = false;
  private injected: { durationS: number; kind: AnomalyKind } | undefined;

  constructor(config: ResolvedSensorConfig, rng: RandomStream) {
    this.config = config;
    this.rng = rng;
    this.phase = config.cyclic ? rng.next() * 2 * Math.PI : 0;
    this.range = config.maxValue - config.minValue;
    this.driftBound = driftBoundOf(config);
    this.nominal = config.nominalValue;
    this.min = config.minValue;
    this.max = config.maxValue;
    this.cycleScale = config.cyclic ? config.cycleAmplitude * config.nominalValue : 0;
    this.cycleOmega = config.cyclic ? (2 * Math.PI) / config.cyclePeriodSeconds : 0;
    this.cyclePeriod = config.cyclePeriodSeconds;
    this.driftRate = config.driftRate;
    this.noiseStd = config.noiseStd;
    const p = config.anomalyProbability;
    this.anomalyLogQ = p <= 0 ? 0 : p >= 1 ? -Infinity : Math.log1p(-p);
    this.magnitude = config.anomalyMagnitude;
    this.anomalyCountdown = this.drawCountdown();
  }

  /** A value that replaces the model's output while set (a control request); the model keeps running underneath. */
  get override(): number | undefined {
    return this.hasOverride ? this.overrideValue : undefined;
  }
  set override(value: number | undefined) {
    this.hasOverride = value !== undefined;
    this.overrideValue = value ?? NaN;
  }

  /** The value at simulated time `t` (epoch seconds); `dt` defaults to the time since the last sample. */
  sample(t: number, dt?: number): number {
    const last = this.lastT;
    const step = dt ?? (last !== last ? 1 : Math.max(0, t - last));
    this.lastT = t;
    const rng = this.rng;

    let value = this.nominal;
    // `t % period` first (exact for doubles): sin of an epoch-sized argument costs ~40x more.
    if (this.cycleScale !== 0)
      value += this.cycleScale * Math.sin(this.cycleOmega * (t % this.cyclePeriod) + this.phase);
    if (this.driftRate > 0) {
      const bound = this.driftBound;
      let d = this.drift + this.driftRate * step * (rng.next() < 0.5 ? -1 : 1);
      if (d > bound) d = Math.max(-bound, 2 * bound - d);
      else if (d < -bound) d = Math.min(bound, -2 * bound - d);
      this.drift = d;
      value *= 1 + d;
    }
    if (this.noiseStd > 0) value += rng.gaussian() * this.noiseStd;

    if (this.injected) {
      const { durationS, kind } = this.injected;
      this.injected = undefined;
      this.faultActive = true;
      this.anomalyCount++;
      this.anomalyUntil = t + durationS;
      this.anomalyKind = kind;
    } else if (t >= this.anomalyUntil) {
      this.faultActive = false;
      if (this.anomalyLogQ !== 0 && --this.anomalyCountdown <= 0) {
        this.faultActive = true;
        this.anomalyCount++;
        this.anomalyUntil = t + ANOMALY_MIN_S + rng.next() * (ANOMALY_MAX_S - ANOMALY_MIN_S);
        this.anomalyKind = KINDS[Math.floor(rng.next() * KINDS.length)]!;
        this.anomalyCountdown = this.drawCountdown();
      }
    }
    if (this.faultActive) {
      switch (this.anomalyKind) {
        case 'spike':
          value *= this.magnitude;
          break;
        case 'offset':
          value += 0.3 * this.range;
          break;
        case 'oscillation':
          value += Math.sin(10 * (t % OSCILLATION_PERIOD)) * 0.2 * this.range;
          break;
      }
    }
    if (this.hasOverride) return this.overrideValue;
    if (value < this.min) return this.min;
    if (value > this.max) return this.max;
    // Extreme configs can overflow (cycle amplitude × nominal = Infinity, then × 0 or − Infinity):
    // never emit NaN.
    if (value !== value) return this.nominal;
    return value;
  }

  /**
   * Ticks until the next anomaly starts: the number of Bernoulli(p) trials up to the first success
   * (geometric), drawn once instead of once per tick. Same distribution, one draw per anomaly.
   */
  private drawCountdown(): number {
    const logQ = this.anomalyLogQ;
    if (logQ === 0) return Infinity;
    if (logQ === -Infinity) return 1;
    return Math.max(1, Math.ceil(Math.log1p(-this.rng.next()) / logQ));
  }

  /** Starts an anomaly of `kind` at the next sample, lasting `durationS` simulated seconds. */
  injectFault(durationS: number, kind: AnomalyKind = 'offset'): void {
    this.injected = { durationS, kind };
  }

  /** Ends the current anomaly (injected or random) at the next sample. */
  clearFault(): void {
    this.injected = undefined;
    this.anomalyUntil = -Infinity;
    this.faultActive = false;
  }

  /** The current anomaly kind, when one is active. */
  get anomaly(): AnomalyKind | undefined {
    return this.faultActive ? this.anomalyKind : undefined;
  }
}
