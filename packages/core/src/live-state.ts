import type { ChannelTable, Frame } from './frame.js';

/** The latest reading of every channel, as a server reads it. */
export interface LiveSnapshot {
  /** Increases by one with every frame published. */
  readonly version: number;
  /** The frame the readings come from. */
  readonly frame: Frame;
  /** Tick offset within the frame (its last tick). */
  readonly tickOffset: number;
  /** Index of that tick on the clock's grid. */
  readonly tick: number;
  /** Simulated time of that tick, epoch seconds. */
  readonly timestamp: number;
}

/** Called after each published frame. */
export type LiveStateListener = (snapshot: LiveSnapshot) => void;

/**
 * The latest frame of a run, versioned, with subscribe: what servers (HTTP, OPC UA, Modbus, an MQTT
 * broker) serve. Sinks get every reading pushed; a server reads the newest value of each channel
 * when it wants it. A listener that throws is reported through `onListenerError` and kept.
 *
 * @example
 * const off = state.subscribe((s) => console.log(s.version, state.value(0)));
 */
export class LiveState {
  private current: LiveSnapshot | undefined;
  private readonly listeners = new Set<LiveStateListener>();
  private versionCount = 0;

  constructor(
    /** The channels every frame of the run has. */
    readonly table: ChannelTable,
    private readonly onListenerError: (err: unknown) => void = () => {},
  ) {}

  /** The newest snapshot, or undefined before the first frame. */
  get latest(): LiveSnapshot | undefined {
    return this.current;
  }

  /** Number of frames published so far. */
  get version(): number {
    return this.versionCount;
  }

  /** The newest value of a channel (NaN before the first frame). */
  value(channel: number): number {
    const s = this.current;
    if (!s) return NaN;
    return s.frame.values[s.tickOffset * this.table.length + channel] ?? NaN;
  }

  /** True while the channel's anomaly is active in the newest frame. */
  faultActive(channel: number): boolean {
    const s = this.current;
    if (!s) return false;
    return s.frame.faults[s.tickOffset * this.table.length + channel] === 1;
  }

  /** Makes `frame` the latest and tells every listener. */
  publish(frame: Frame): void {
    if (frame.ticks === 0) return;
    const tickOffset = frame.ticks - 1;
    this.versionCount++;
    this.current = {
      version: this.versionCount,
      frame,
      tickOffset,
      tick: frame.tick0 + tickOffset,
      timestamp: frame.timestamps[tickOffset]!,
    };
    for (const l of this.listeners) {
      try {
        l(this.current);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  /** Calls `listener` after each frame; returns the function that unsubscribes it. */
  subscribe(listener: LiveStateListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * The newest readings as plain data, by industry, device and sensor:
   * `{ version, tick, timestamp, industries: { mining: { 'mining-001': { crusher_1_motor_power: { value, unit, fault_active } } } } }`.
   */
  toJSON(): LiveStateJson {
    const s = this.current;
    const industries: LiveStateJson['industries'] = {};
    for (const c of this.table.channels) {
      const devices = (industries[c.industry] ??= {});
      const sensors = (devices[c.deviceId] ??= {});
      sensors[c.sensorName] = {
        value: s ? this.value(c.index) : null,
        unit: c.unit,
        sensor_type: c.sensorType,
        fault_active: this.faultActive(c.index),
      };
    }
    return {
      version: this.versionCount,
      tick: s?.tick ?? null,
      timestamp: s?.timestamp ?? null,
      industries,
    };
  }
}

/** `LiveState.toJSON()`: what `GET /state` of the http server returns. */
export interface LiveStateJson {
  version: number;
  tick: number | null;
  timestamp: number | null;
  industries: Record<
    string,
    Record<
      string,
      Record<
        string,
        { value: number | null; unit: string; sensor_type: string; fault_active: boolean }
      >
    >
  >;
}
