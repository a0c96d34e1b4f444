import { Sink, SinkWriteError, type SensorRecord, type ThroughputOptions } from '@iotsim/core';

/** Keeps every batch it receives, in order. */
export class MemorySink extends Sink {
  readonly type = 'memory';
  readonly batches: SensorRecord[][] = [];
  connected = false;
  flushed = 0;
  closed = false;

  constructor(options: ThroughputOptions = {}) {
    super(options);
  }
  async connect(): Promise<void> {
    this.connected = true;
  }
  async write(records: readonly SensorRecord[]): Promise<void> {
    this.batches.push([...records]);
  }
  override async flush(): Promise<void> {
    this.flushed++;
  }
  override async close(): Promise<void> {
    this.closed = true;
  }
  /** Every record received, in order. */
  get records(): SensorRecord[] {
    return this.batches.flat();
  }
}

/** Throws on every `failEvery`-th write call (1-based), delivering otherwise. */
export class FlakySink extends MemorySink {
  calls = 0;
  constructor(
    private readonly failEvery: number,
    options: ThroughputOptions = {},
    private readonly error: () => Error = () => new Error('flaky sink: injected failure'),
  ) {
    super(options);
  }
  override async write(records: readonly SensorRecord[]): Promise<void> {
    this.calls++;
    if (this.calls % this.failEvery === 0) throw this.error();
    await super.write(records);
  }
}

/** Always fails; `retryable` false makes it a permanent failure. */
export class FailingSink extends MemorySink {
  calls = 0;
  constructor(
    options: ThroughputOptions = {},
    private readonly retryable = true,
  ) {
    super(options);
  }
  override async write(): Promise<void> {
    this.calls++;
    throw new SinkWriteError('failing sink: destination rejected the batch', {
      retryable: this.retryable,
    });
  }
}

/** Takes `delayMs` per write (real timers). */
export class SlowSink extends MemorySink {
  constructor(
    private readonly delayMs: number,
    options: ThroughputOptions = {},
  ) {
    super(options);
  }
  override async write(records: readonly SensorRecord[]): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    await super.write(records);
  }
}

/** A write that never settles (a hung destination). `release()` lets pending writes finish. */
export class HangingSink extends MemorySink {
  private releases: (() => void)[] = [];
  override async write(records: readonly SensorRecord[]): Promise<void> {
    await new Promise<void>((r) => this.releases.push(r));
    await super.write(records);
  }
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
}
