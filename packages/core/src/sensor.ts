import type { ResolvedSensorConfig } from './models.js';
import type { RandomStream } from './random.js';

/** The kinds of injected fault. One kind holds for an anomaly's whole length. */
export type AnomalyKind = 'spike' | 'offset' | 'oscillation';
const KINDS: readonly AnomalyKind[] = ['spike', 'offset', 'oscillation'];

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
  private drift = 0;
  private lastT: number | undefined;
  private anomalyUntil = -Infinity;
  private anomalyKind: AnomalyKind = 'spike';
  /** Set while an anomaly is active. */
  faultActive = false;
  /** Anomalies started so far (identifies the current one). */
  anomalyCount = 0;
  /** A value that replaces the model's output while set (a control request); the model keeps running underneath. */
  override: number | undefined;
  private injected: { durationS: number; kind: AnomalyKind } | undefined;

  constructor(config: ResolvedSensorConfig, rng: RandomStream) {
    this.config = config;
    this.rng = rng;
    this.phase = config.cyclic ? rng.next() * 2 * Math.PI : 0;
    this.range = config.maxValue - config.minValue;
    this.driftBound = driftBoundOf(config);
  }

  /** The value at simulated time `t` (epoch seconds); `dt` defaults to the time since the last sample. */
  sample(t: number, dt?: number): number {
    const c = this.config;
    const step = dt ?? (this.lastT === undefined ? 1 : Math.max(0, t - this.lastT));
    this.lastT = t;
    const rng = this.rng;

    let value = c.nominalValue;
    if (c.cyclic) {
      value +=
        c.cycleAmplitude *
        c.nominalValue *
        Math.sin((2 * Math.PI * t) / c.cyclePeriodSeconds + this.phase);
    }
    if (c.driftRate > 0) {
      const bound = this.driftBound;
      let d = this.drift + c.driftRate * step * (rng.next() < 0.5 ? -1 : 1);
      if (d > bound) d = Math.max(-bound, 2 * bound - d);
      else if (d < -bound) d = Math.min(bound, -2 * bound - d);
      this.drift = d;
      value *= 1 + d;
    }
    if (c.noiseStd > 0) value += rng.gaussian() * c.noiseStd;

    if (this.injected) {
      const { durationS, kind } = this.injected;
      this.injected = undefined;
      this.faultActive = true;
      this.anomalyCount++;
      this.anomalyUntil = t + durationS;
      this.anomalyKind = kind;
    } else if (t >= this.anomalyUntil) {
      this.faultActive = false;
      if (c.anomalyProbability > 0 && rng.next() < c.anomalyProbability) {
        this.faultActive = true;
        this.anomalyCount++;
        this.anomalyUntil = t + ANOMALY_MIN_S + rng.next() * (ANOMALY_MAX_S - ANOMALY_MIN_S);
        this.anomalyKind = KINDS[Math.floor(rng.next() * KINDS.length)]!;
      }
    }
    if (this.faultActive) {
      switch (this.anomalyKind) {
        case 'spike':
          value *= c.anomalyMagnitude;
          break;
        case 'offset':
          value += 0.3 * this.range;
          break;
        case 'oscillation':
          value += Math.sin(10 * t) * 0.2 * this.range;
          break;
      }
    }
    if (this.override !== undefined) return this.override;
    if (value < c.minValue) return c.minValue;
    if (value > c.maxValue) return c.maxValue;
    // Extreme configs can overflow (cycle amplitude × nominal = Infinity, then × 0 or − Infinity):
    // never emit NaN.
    if (Number.isNaN(value)) return c.nominalValue;
    return value;
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
