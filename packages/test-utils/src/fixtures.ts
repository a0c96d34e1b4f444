import { Sink, SinkWriteError, type SensorRecord, type WriteRequest } from '@iotsim/core';

/** Keeps every batch it receives, in order. */
export class MemorySink extends Sink {
  static override readonly type: string = 'memory';
  readonly batches: SensorRecord[][] = [];
  /** The batch id of every write call, in order (retries repeat theirs). */
  readonly batchIds: number[] = [];
  connected = false;
  flushed = 0;
  closed = false;

  async connect(): Promise<void> {
    this.connected = true;
  }
  async write(request: WriteRequest): Promise<void> {
    this.batchIds.push(request.batchId);
    this.batches.push([...request.records]);
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
    private readonly error: () => Error = () => new Error('flaky sink: injected failure'),
  ) {
    super();
  }
  override async write(request: WriteRequest): Promise<void> {
    this.calls++;
    if (this.calls % this.failEvery === 0) throw this.error();
    await super.write(request);
  }
}

/** Always fails; `retryable` false makes it a permanent failure. */
export class FailingSink extends MemorySink {
  calls = 0;
  constructor(private readonly retryable = true) {
    super();
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
  constructor(private readonly delayMs: number) {
    super();
  }
  override async write(request: WriteRequest): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    await super.write(request);
  }
}

/** A write that never settles (a hung destination). `release()` lets pending writes finish. */
export class HangingSink extends MemorySink {
  private releases: (() => void)[] = [];
  /** The abort signal of every write still waiting. */
  readonly signals: AbortSignal[] = [];
  override async write(request: WriteRequest): Promise<void> {
    this.signals.push(request.signal);
    await new Promise<void>((r) => this.releases.push(r));
    await super.write(request);
  }
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }
}
