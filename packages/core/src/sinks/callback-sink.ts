import type { SensorRecord } from '../models.js';
import { Sink, type ThroughputOptions } from '../sink.js';

/** A function that receives each batch; may be async. */
export type RecordCallback = (records: readonly SensorRecord[]) => void | Promise<void>;

/**
 * Hands every batch to a function (sync or async). `Simulator.addSink(fn)` wraps a function in one.
 *
 * @example
 * const all: SensorRecord[] = [];
 * sim.addSink(new CallbackSink((batch) => { all.push(...batch); }, { batchSize: 500 }));
 */
export class CallbackSink extends Sink {
  readonly type = 'callback';
  private readonly callback: RecordCallback;

  constructor(callback: RecordCallback, options: ThroughputOptions = {}) {
    super(options);
    if (typeof callback !== 'function') {
      throw new TypeError(`CallbackSink needs a function, got ${typeof callback}`);
    }
    this.callback = callback;
  }

  async connect(): Promise<void> {}

  async write(records: readonly SensorRecord[]): Promise<void> {
    await this.callback(records);
  }

  override describe(): string {
    return `callback (${this.callback.name || 'anonymous'})`;
  }
}
