import {
  SensorRecord,
  type MetadataValue,
  type RecordChannel,
  type ResolvedSensorConfig,
} from './models.js';

/** One channel of a run's table: a (industry, device, sensor) with its constant fields. */
export interface TableChannel extends RecordChannel {
  readonly table: ChannelTable;
  /** 0-based device index within the industry (device id `<industry>-<index + 1>`). */
  readonly deviceIndex: number;
}

/** The serialisable form of a channel table (for worker threads and shards). */
export interface ChannelTableData {
  readonly channels: readonly {
    readonly sensorName: string;
    readonly industry: string;
    readonly deviceId: string;
    readonly deviceIndex: number;
    readonly unit: string;
    readonly sensorType: string;
    readonly minValue: number;
    readonly maxValue: number;
    readonly nominalValue: number;
    readonly metadata: Readonly<Record<string, MetadataValue>>;
  }[];
}

/**
 * The channels of a run, made once: every (industry, device, sensor) with its unit, type, range,
 * nominal value and metadata. Frames carry only values; a value's channel is its position.
 */
export class ChannelTable {
  readonly channels: readonly TableChannel[];
  private byKey: Map<string, number> | undefined;

  constructor(data: ChannelTableData) {
    this.channels = Object.freeze(
      data.channels.map((c, index) =>
        Object.freeze({
          ...channelData(c),
          metadata: Object.freeze({ ...c.metadata }),
          table: this,
          index,
        }),
      ),
    );
  }

  /** A table of sensors per (industry, device). */
  static fromSensors(
    groups: readonly {
      industry: string;
      deviceId: string;
      deviceIndex: number;
      sensor: ResolvedSensorConfig;
    }[],
  ): ChannelTable {
    return new ChannelTable({
      channels: groups.map((g) => ({
        sensorName: g.sensor.name,
        industry: g.industry,
        deviceId: g.deviceId,
        deviceIndex: g.deviceIndex,
        unit: g.sensor.unit,
        sensorType: g.sensor.sensorType,
        minValue: g.sensor.minValue,
        maxValue: g.sensor.maxValue,
        nominalValue: g.sensor.nominalValue,
        metadata: g.sensor.metadata,
      })),
    });
  }

  /** Number of channels. */
  get length(): number {
    return this.channels.length;
  }

  /** The plain data of the table (structured-clone friendly). */
  toData(): ChannelTableData {
    return { channels: this.channels.map(channelData) };
  }

  /** The index of a channel by industry, device id and sensor name; -1 when there is none. */
  indexOf(industry: string, deviceId: string, sensorName: string): number {
    if (!this.byKey) {
      this.byKey = new Map();
      for (const c of this.channels)
        this.byKey.set(`${c.industry}\u0000${c.deviceId}\u0000${c.sensorName}`, c.index);
    }
    return this.byKey.get(`${industry}\u0000${deviceId}\u0000${sensorName}`) ?? -1;
  }
}

type ChannelData = ChannelTableData['channels'][number];

/** The plain fields of a channel (no table link). */
function channelData(c: ChannelData): ChannelData {
  return {
    sensorName: c.sensorName,
    industry: c.industry,
    deviceId: c.deviceId,
    deviceIndex: c.deviceIndex,
    unit: c.unit,
    sensorType: c.sensorType,
    minValue: c.minValue,
    maxValue: c.maxValue,
    nominalValue: c.nominalValue,
    metadata: c.metadata,
  };
}

/** What crosses a thread: the frame's typed arrays (transferred) and its tick range. */
export interface FrameMessage {
  readonly tick0: number;
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
  readonly faults: Uint8Array;
}

/**
 * The unit that flows from the model to sinks and live state: `ticks` consecutive ticks of every
 * channel of a table. Values are row-major by tick: the value of channel c at tick offset k is
 * `values[k * channels + c]`. Cheap to hand to a worker thread (`toMessage()` and `transfer()`).
 */
export class Frame {
  constructor(
    readonly table: ChannelTable,
    /** Index of the first tick on the clock's grid. */
    readonly tick0: number,
    /** Simulated time of each tick, epoch seconds. */
    readonly timestamps: Float64Array,
    /** Values, `ticks × channels`, row-major by tick. */
    readonly values: Float64Array,
    /** 1 where an anomaly is active, same layout as `values`. */
    readonly faults: Uint8Array,
  ) {
    if (values.length !== timestamps.length * table.length || faults.length !== values.length) {
      throw new RangeError(
        `frame: ${values.length} values and ${faults.length} fault flags do not fit ${timestamps.length} ticks × ${table.length} channels`,
      );
    }
  }

  /** An empty frame of `ticks` ticks for `table`. */
  static allocate(table: ChannelTable, tick0: number, ticks: number): Frame {
    const n = ticks * table.length;
    return new Frame(table, tick0, new Float64Array(ticks), new Float64Array(n), new Uint8Array(n));
  }

  /** Rebuilds a frame from a message (after a thread hop) over the receiver's copy of the table. */
  static fromMessage(message: FrameMessage, table: ChannelTable): Frame {
    return new Frame(table, message.tick0, message.timestamps, message.values, message.faults);
  }

  /** Number of ticks. */
  get ticks(): number {
    return this.timestamps.length;
  }

  /** Number of readings (ticks × channels). */
  get size(): number {
    return this.values.length;
  }

  /** The frame's arrays, for `postMessage(frame.toMessage(), frame.transfer())`. */
  toMessage(): FrameMessage {
    return {
      tick0: this.tick0,
      timestamps: this.timestamps,
      values: this.values,
      faults: this.faults,
    };
  }

  /** The buffers to transfer with `toMessage()` (they are detached on the sending side). */
  transfer(): ArrayBuffer[] {
    return [
      this.timestamps.buffer as ArrayBuffer,
      this.values.buffer as ArrayBuffer,
      this.faults.buffer as ArrayBuffer,
    ];
  }

  /** The record at flat position `i` (tick offset `i / channels`, channel `i % channels`). */
  record(i: number): SensorRecord {
    const n = this.table.length;
    const k = (i / n) | 0;
    return SensorRecord.view(
      this.table.channels[i - k * n]!,
      this.values[i]!,
      this.timestamps[k]!,
      this.faults[i] === 1,
    );
  }

  /** Every record of the frame, tick by tick. */
  records(): SensorRecord[] {
    return frameRecords(this, 0, this.size);
  }
}

function frameRecords(frame: Frame, start: number, end: number): SensorRecord[] {
  const out = new Array<SensorRecord>(end - start);
  const channels = frame.table.channels;
  const n = channels.length;
  const { values, timestamps, faults } = frame;
  let k = (start / n) | 0;
  let c = start - k * n;
  let t = timestamps[k]!;
  for (let i = start, j = 0; i < end; i++, j++) {
    out[j] = SensorRecord.view(channels[c]!, values[i]!, t, faults[i] === 1);
    if (++c === n) {
      c = 0;
      k++;
      t = timestamps[k]!;
    }
  }
  return out;
}

/**
 * A run of consecutive readings: positions `[start, end)` of a frame, or of an array of records
 * (records that did not come from a frame, e.g. built in a test).
 */
export type BatchSegment =
  | {
      readonly frame: Frame;
      readonly records?: undefined;
      readonly start: number;
      readonly end: number;
    }
  | {
      readonly frame?: undefined;
      readonly records: readonly SensorRecord[];
      readonly start: number;
      readonly end: number;
    };

/** Called for each reading of a batch, in order, without building a record object. */
export type ReadingVisitor = (
  channel: RecordChannel,
  value: number,
  timestamp: number,
  faultActive: boolean,
) => void;

/**
 * The readings a sink is handed in one write: a list of segments of frames (or record arrays).
 * `records` builds the row views on first use; columnar consumers read `segments` or call
 * `forEach` and never pay for them.
 */
export class RecordBatch {
  private cached: readonly SensorRecord[] | undefined;

  constructor(
    readonly segments: readonly BatchSegment[],
    /** Number of readings. */
    readonly size: number,
  ) {}

  /** A batch of records that are already objects. */
  static of(records: readonly SensorRecord[]): RecordBatch {
    const b = new RecordBatch([{ records, start: 0, end: records.length }], records.length);
    b.cached = records;
    return b;
  }

  /** The readings as SensorRecord views, in order (built once). */
  get records(): readonly SensorRecord[] {
    if (this.cached) return this.cached;
    const segs = this.segments;
    if (segs.length === 1) {
      const s = segs[0]!;
      this.cached = s.frame
        ? frameRecords(s.frame, s.start, s.end)
        : s.start === 0 && s.end === s.records.length
          ? s.records
          : s.records.slice(s.start, s.end);
      return this.cached;
    }
    const out: SensorRecord[] = [];
    for (const s of segs) {
      if (s.frame) {
        for (const r of frameRecords(s.frame, s.start, s.end)) out.push(r);
      } else for (let i = s.start; i < s.end; i++) out.push(s.records[i]!);
    }
    this.cached = out;
    return out;
  }

  /** Calls `visit` for every reading, in order. */
  forEach(visit: ReadingVisitor): void {
    for (const s of this.segments) {
      if (s.frame) {
        const { values, timestamps, faults } = s.frame;
        const channels = s.frame.table.channels;
        const n = channels.length;
        let k = (s.start / n) | 0;
        let c = s.start - k * n;
        let t = timestamps[k]!;
        for (let i = s.start; i < s.end; i++) {
          visit(channels[c]!, values[i]!, t, faults[i] === 1);
          if (++c === n) {
            c = 0;
            k++;
            t = timestamps[k]!;
          }
        }
      } else {
        for (let i = s.start; i < s.end; i++) {
          const r = s.records[i]!;
          visit(r.channel, r.value, r.timestamp, r.fault_active);
        }
      }
    }
  }

  /**
   * Where reading `i` of the batch sits in its generator's stream: `tick × channels + channel`,
   * ticks counted from the run's start. Undefined for readings that did not come from a frame.
   * Positions rise through a batch and through a sink's successive batches; they identify a
   * reading only together with `SinkContext.stream` (one generator, one backfill range).
   */
  position(i: number): number | undefined {
    let at = i;
    for (const s of this.segments) {
      const len = s.end - s.start;
      if (at < len) {
        const first = streamPosition(s);
        return first === undefined ? undefined : first + at;
      }
      at -= len;
    }
    return undefined;
  }

  /**
   * How many readings at the front of the batch have stream positions below `position` (the part
   * an earlier run of the same stream already delivered). Readings without a position count as
   * not delivered.
   */
  countBefore(position: number): number {
    let n = 0;
    for (const s of this.segments) {
      const len = s.end - s.start;
      const first = streamPosition(s);
      if (first === undefined) return n;
      if (first + len <= position) {
        n += len;
        continue;
      }
      return n + Math.max(0, position - first);
    }
    return n;
  }

  /** The readings from position `from` on (the part of a batch still to deliver after a partial write). */
  slice(from: number): RecordBatch {
    if (from <= 0) return this;
    const out: BatchSegment[] = [];
    let skip = from;
    for (const s of this.segments) {
      const len = s.end - s.start;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      out.push(
        s.frame
          ? { frame: s.frame, start: s.start + skip, end: s.end }
          : { records: s.records, start: s.start + skip, end: s.end },
      );
      skip = 0;
    }
    return new RecordBatch(out, Math.max(0, this.size - from));
  }
}

/** The stream position of a segment's first reading (`tick × channels + channel`); undefined without a frame. */
function streamPosition(s: BatchSegment): number | undefined {
  return s.frame ? s.frame.tick0 * s.frame.table.length + s.start : undefined;
}
