// Scrape cost of core's HttpServer on a large plant (16 industries x 30 devices, 11,370 channels):
// `metrics` is GET /metrics (what Prometheus scrapes from every pod of the Helm chart), `state`
// GET /state (every value as JSON) for comparison. records = requests; extra: ms per request, bytes.
import { DataGenerator, HttpServer, LiveState, listIndustries } from '@iotsim/core';
import { measure, scenarioArg } from './lib.mjs';

export const scenarios = ['metrics', 'state'];

const scenario = scenarioArg('metrics');
const path = scenario === 'state' ? '/state' : '/metrics';
const generator = new DataGenerator({
  industries: listIndustries(),
  devicesPerIndustry: 30,
  seed: 1,
});
const table = generator.channelTable();
const state = new LiveState(table);
const quiet = () => {};
const server = new HttpServer({ port: 0 });
await server.start(state, {
  logger: { debug: quiet, info: quiet, warn: quiet, error: quiet },
  channels: table,
  control: generator.control,
  rateHz: 1,
  name: 'http',
});
state.publish(generator.generate(1_767_225_600, Float64Array.of(1_767_225_600), 1));
const get = async () => (await (await fetch(`${server.address}${path}`)).text()).length;
for (let i = 0; i < 20; i++) await get(); // warm up
const requests = scenario === 'state' ? 100 : 1000;
let bytes = 0;
const started = performance.now();
await measure(`http:${scenario}`, async () => {
  for (let i = 0; i < requests; i++) bytes = await get();
  return {
    records: requests,
    extra: {
      channels: table.length,
      msPerRequest: Math.round(((performance.now() - started) / requests) * 100) / 100,
      bytes,
    },
  };
});
await server.stop();
