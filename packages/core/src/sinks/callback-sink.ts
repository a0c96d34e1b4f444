import type { SensorRecord } from '../models.js';
import { Sink, type WriteRequest } from '../sink.js';

/** A function that receives each batch; may be async. */
export type RecordCallback = (records: readonly SensorRecord[]) => void | Promise<void>;

/**
 * Hands every batch to a function (sync or async). `Simulator.addSink(fn)` wraps a function in one.
 *
 * @example
 * const all: SensorRecord[] = [];
 * sim.addSink(new CallbackSink((batch) => { all.push(...batch); }), { batchSize: 500 });
 */
export class CallbackSink extends Sink {
  static override readonly type = 'callback';
  private readonly callback: RecordCallback;

  constructor(callback: RecordCallback) {
    super();
    if (typeof callback !== 'function') {
      throw new TypeError(`CallbackSink needs a function, got ${typeof callback}`);
    }
    this.callback = callback;
  }

  async connect(): Promise<void> {}

  async write(request: WriteRequest): Promise<void> {
    const done = this.callback(request.records);
    if (done !== undefined) await done;
  }

  override describe(): string {
    return `callback (${this.callback.name || 'anonymous'})`;
  }
}
