// Writing a sink: extend Sink, implement connect and write (and close when it holds resources).
// Registered by name, it is usable from YAML too. Run: node examples/dist/custom-sink.js
import {
  registerSink,
  Simulator,
  Sink,
  type SensorRecord,
  type ThroughputOptions,
} from '@iotsim/core';

/** Tracks min / max / mean per sensor and prints them on close. */
export class StatsSink extends Sink {
  readonly type = 'stats';
  private readonly stats = new Map<string, { n: number; sum: number; min: number; max: number }>();

  constructor(options: ThroughputOptions = {}) {
    super(options);
  }

  async connect(): Promise<void> {}

  async write(records: readonly SensorRecord[]): Promise<void> {
    for (const r of records) {
      const s = this.stats.get(r.sensor_name) ?? { n: 0, sum: 0, min: Infinity, max: -Infinity };
      s.n++;
      s.sum += r.value;
      s.min = Math.min(s.min, r.value);
      s.max = Math.max(s.max, r.value);
      this.stats.set(r.sensor_name, s);
    }
  }

  override async close(): Promise<void> {
    for (const [name, s] of [...this.stats].sort()) {
      console.log(
        `${name.padEnd(32)} min ${s.min.toFixed(2)} max ${s.max.toFixed(2)} mean ${(s.sum / s.n).toFixed(2)}`,
      );
    }
  }
}

registerSink('stats', async () => ({ StatsSink }), 'StatsSink');

// The same sink built from a YAML-style document through the registry.
const sim = await Simulator.fromConfig({
  simulator: { industries: ['space'], seed: 1, start: 0, end: 600 },
  sinks: [{ type: 'stats', batch_size: 500 }],
});
await sim.run();
