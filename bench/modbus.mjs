// Modbus server throughput: reads/s of 125-register blocks (function 4) from concurrent clients.
// The server runs in this process on a live state ticking at 10 Hz (60 sensors on one unit, so a
// block of 125 registers is the header and 54.5 sensors); the clients are modbus-serial TCP
// clients, all in one child process, each with one request in flight (read, await, read again).
// Every answer's marker (registers 0-1, float32 123.456) is checked.
//   node bench/modbus.mjs clients1 | clients4 | clients16 | servertcp-clients1 | servertcp-clients16
// servertcp-* serve the same registers with modbus-serial's own ServerTCP (for the
// comparison in packages/server-modbus/README.md).
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DataGenerator, LiveState } from '@iotsim/core';
import { ModbusServer } from '@iotsim/server-modbus';
import { machineLoad, peakRssMb, report, scenarioArg } from './lib.mjs';

export const scenarios = [
  'clients1',
  'clients4',
  'clients16',
  'servertcp-clients1',
  'servertcp-clients16',
];

const SECONDS = 5;
const BLOCK = 125;
// modbus-serial is the server package's test client (its devDependency): resolve it from there.
const requireFromServer = createRequire(
  fileURLToPath(import.meta.resolve('@iotsim/server-modbus')),
);
const loadModbusSerial = () => requireFromServer('modbus-serial');

async function clients() {
  const [port, count, seconds] = process.argv.slice(3).map(Number);
  const ModbusRTU = loadModbusSerial();
  const conns = [];
  for (let i = 0; i < count; i++) {
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port });
    c.setID(1);
    c.setTimeout(5000);
    conns.push(c);
  }
  // Timed from the first request on, connected: the rate is the server's, not process start-up.
  const started = performance.now();
  const deadline = Date.now() + seconds * 1000;
  let reads = 0;
  let bad = 0;
  const one = async (c) => {
    while (Date.now() < deadline) {
      const r = await c.readInputRegisters(0, BLOCK);
      if (Math.abs(r.buffer.readFloatBE(0) - 123.456) > 1e-4) bad++;
      reads++;
    }
  };
  await Promise.all(conns.map(one));
  const elapsed = (performance.now() - started) / 1000;
  for (const c of conns) await new Promise((resolve) => c.close(resolve));
  process.send({ reads, bad, seconds: elapsed });
}

function plant() {
  const customSensors = Array.from({ length: 60 }, (_, i) => ({
    name: `sensor_${i}`,
    sensorType: 'temperature',
    unit: '°C',
    minValue: 0,
    maxValue: 100,
    nominalValue: 50,
  }));
  const generator = new DataGenerator({ customSensors, customIndustry: 'bench', seed: 1 });
  const table = generator.channelTable();
  const state = new LiveState(table);
  let k = 1_767_225_600 * 10;
  const tick = () => {
    state.publish(generator.generate(k, Float64Array.of(k / 10), 0.1));
    k++;
  };
  tick();
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const context = {
    logger,
    channels: table,
    control: generator.control,
    rateHz: 10,
    name: 'modbus',
  };
  return { state, tick, context };
}

/** modbus-serial's ServerTCP over the same registers, encoded per tick into a Uint16 array. */
async function startServerTcp(p) {
  const { ServerTCP } = loadModbusSerial();
  const words = new Uint16Array(16 + 2 * 60);
  const buf = Buffer.alloc(4);
  const encode = () => {
    buf.writeFloatBE(123.456, 0);
    words[0] = buf.readUInt16BE(0);
    words[1] = buf.readUInt16BE(2);
    for (let s = 0; s < 60; s++) {
      buf.writeFloatBE(p.state.value(s), 0);
      words[16 + 2 * s] = buf.readUInt16BE(0);
      words[17 + 2 * s] = buf.readUInt16BE(2);
    }
  };
  encode();
  const off = p.state.subscribe(encode);
  const vector = {
    getMultipleInputRegisters(addr, length, unitID, cb) {
      cb(null, Array.from(words.subarray(addr, addr + length)));
    },
  };
  const server = new ServerTCP(vector, { host: '127.0.0.1', port: 0, unitID: 255 });
  await once(server, 'initialized');
  return {
    port: server._server.address().port,
    stop: () => new Promise((resolve) => (off(), server.close(resolve))),
  };
}

async function main() {
  const scenario = scenarioArg('clients4');
  if (!scenarios.includes(scenario))
    throw new Error(`unknown scenario ${scenario}; one of ${scenarios.join(', ')}`);
  const count = Number(/clients(\d+)/.exec(scenario)[1]);
  const p = plant();
  let port;
  let stop;
  if (scenario.startsWith('servertcp')) {
    ({ port, stop } = await startServerTcp(p));
  } else {
    const server = new ModbusServer({ port: 0 });
    await server.start(p.state, p.context);
    port = server.boundPort;
    stop = () => server.stop();
  }
  const ticker = setInterval(p.tick, 100);
  const load1m = machineLoad();
  const child = fork(
    fileURLToPath(import.meta.url),
    ['--clients', String(port), String(count), String(SECONDS)],
    { stdio: 'inherit' },
  );
  const [{ reads, bad, seconds }] = await once(child, 'message');
  await once(child, 'exit');
  if (bad) throw new Error(`${bad} reads had a wrong marker`);
  report({
    scenario: `modbus:${scenario}`,
    records: reads,
    seconds,
    recordsPerSec: Math.round(reads / seconds),
    readsPerSec: Math.round(reads / seconds),
    registersPerSec: Math.round((reads * BLOCK) / seconds),
    clients: count,
    ...(scenario.startsWith('servertcp') ? {} : { goal: '>= 5,000 reads/s' }),
    peakRssMb: peakRssMb(),
    load1m,
  });
  clearInterval(ticker);
  await stop();
}

if (process.argv[2] === '--clients') await clients();
else await main();
