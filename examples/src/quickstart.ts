// The original's five-line quick start: mining sensors on the console.
// Run: node examples/dist/quickstart.js   (EXAMPLE_DURATION_S shortens it)
import { ConsoleSink, Simulator } from '@iotsim/core';

const sim = new Simulator({ industries: ['mining'], updateRateHz: 2 });
sim.addSink(new ConsoleSink(), { rateHz: 0.5 });
const summary = await sim.run({ durationS: Number(process.env.EXAMPLE_DURATION_S ?? 10) });
console.error(`delivered ${summary.sinks[0]!.delivered} of ${summary.records} records`);
