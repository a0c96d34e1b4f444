// Writing a sink: extend Sink, set its type, implement connect and write (and close when it holds
// resources). Throughput (batch size, rate, buffer, retries) is not the sink's business: it is
// given beside it. Registered by name, it is usable from YAML too. Run: node examples/dist/custom-sink.js
import {
  opt,
  parseSinkOptions,
  registerSink,
  Simulator,
  Sink,
  v,
  type InputOf,
  type WriteRequest,
} from '@iotsim/core';

/** The schema of StatsSink's options: validation, the YAML key mapping and the type come from it. */
const StatsSinkSchema = opt.object({
  /** Decimals printed per figure. Default 2. */
  decimals: v.nullish(opt.number({ min: 0, max: 10, integer: true }), 2),
});

/** Options of StatsSink (YAML: `decimals`). */
export type StatsSinkOptions = InputOf<typeof StatsSinkSchema>;

/** Tracks min / max / mean per sensor and prints them on close. */
export class StatsSink extends Sink {
  static override readonly type = 'stats';
  /** Its options: the loader rejects any other key with a did-you-mean. */
  static override readonly schema = StatsSinkSchema;
  private readonly decimals: number;
  private readonly stats = new Map<string, { n: number; sum: number; min: number; max: number }>();

  constructor(options: StatsSinkOptions = {}) {
    super();
    this.decimals = parseSinkOptions(StatsSinkSchema, options).decimals;
  }

  async connect(): Promise<void> {}

  // One request per batch; a retry has the same request.batchId. request.batch reads the same
  // readings as columns (batch.forEach) without building record objects.
  async write(request: WriteRequest): Promise<void> {
    request.batch.forEach((channel, value) => {
      const s = this.stats.get(channel.sensorName) ?? {
        n: 0,
        sum: 0,
        min: Infinity,
        max: -Infinity,
      };
      s.n++;
      s.sum += value;
      s.min = Math.min(s.min, value);
      s.max = Math.max(s.max, value);
      this.stats.set(channel.sensorName, s);
    });
  }

  override async close(): Promise<void> {
    const d = this.decimals;
    for (const [name, s] of [...this.stats].sort()) {
      console.log(
        `${name.padEnd(32)} min ${s.min.toFixed(d)} max ${s.max.toFixed(d)} mean ${(s.sum / s.n).toFixed(d)}`,
      );
    }
  }
}

registerSink('stats', async () => ({ StatsSink }), 'StatsSink');

// The same sink built from a YAML-style document through the registry: `decimals` goes to the
// sink, `batch_size` to its runner.
const sim = await Simulator.fromConfig({
  simulator: { industries: ['space'], seed: 1, start: 0, end: 600 },
  sinks: [{ type: 'stats', decimals: 2, batch_size: 500 }],
});
await sim.run();
