// An independent Modbus client: pymodbus 3.16 from the harness venv (IOTSIM_PYTHON, set by
// scripts/services/env.sh). It reads every register of the map that `iotsim modbus-map` prints,
// decodes float32 with pymodbus's own helpers, and writes coils and overrides. The last test runs
// the CLI (`iotsim run` with a modbus server and a file sink) while pymodbus polls it.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { freePort, runPython, tempDir, testPlant, type TestPlant } from '@iotsim/test-utils';
import { ModbusServer, type WordOrder } from '../src/index.js';

const BIN = fileURLToPath(new URL('../../../apps/cli/dist/bin.js', import.meta.url));

/** pymodbus decodes ABCD/CDAB itself (word_order big/little); BADC/DCBA also swap bytes first. */
const PY_DECODE = `
import json, sys, csv
from pymodbus.client import ModbusTcpClient
DT = ModbusTcpClient.DATATYPE

def decode_float(regs, order):
    if order in ('BADC', 'DCBA'):
        regs = [((r & 0xff) << 8) | (r >> 8) for r in regs]
    word = 'big' if order in ('ABCD', 'BADC') else 'little'
    return ModbusTcpClient.convert_from_registers(regs, DT.FLOAT32, word_order=word)

def encode_float(value, order):
    word = 'big' if order in ('ABCD', 'BADC') else 'little'
    regs = ModbusTcpClient.convert_to_registers(value, DT.FLOAT32, word_order=word)
    if order in ('BADC', 'DCBA'):
        regs = [((r & 0xff) << 8) | (r >> 8) for r in regs]
    return regs

def client(port):
    c = ModbusTcpClient('127.0.0.1', port=port, timeout=3)
    assert c.connect(), 'cannot connect'
    return c

def nan_to_none(v):
    return None if v != v else v
`;

const READ_MAP = `${PY_DECODE}
port, order, csv_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = client(port)
out = []
with open(csv_path, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
        unit, reg, table, typ = int(row['unit_id']), int(row['register']), row['table'], row['type']
        if table in ('input', 'holding'):
            read = c.read_input_registers if table == 'input' else c.read_holding_registers
            rr = read(reg, count=2 if typ == 'float32' else 1, device_id=unit)
            assert not rr.isError(), (row, rr)
            value = nan_to_none(decode_float(rr.registers, row['word_order'])) if typ == 'float32' else rr.registers[0]
        else:
            read = c.read_coils if table == 'coil' else c.read_discrete_inputs
            rr = read(reg, count=1, device_id=unit)
            assert not rr.isError(), (row, rr)
            value = bool(rr.bits[0])
        out.append({**row, 'value': value})
c.close()
print(json.dumps(out))
`;

const EXCEPTIONS = `${PY_DECODE}
port, last_input = int(sys.argv[1]), int(sys.argv[2])
c = client(port)
codes = {}
codes['input_past_end'] = c.read_input_registers(last_input, count=2, device_id=1).exception_code
codes['holding_gap'] = c.read_holding_registers(999, count=1, device_id=1).exception_code
codes['write_read_only'] = c.write_register(16, 1, device_id=1).exception_code
codes['unknown_unit'] = c.read_input_registers(0, count=2, device_id=99).exception_code
codes['illegal_function'] = c.read_exception_status(device_id=1).exception_code
codes['fifo_illegal_function'] = c.read_fifo_queue(address=0, device_id=1).exception_code
ok = c.read_input_registers(0, count=2, device_id=1)
codes['marker_after'] = decode_float(ok.registers, 'ABCD')
c.close()
print(json.dumps(codes))
`;

const WRITE = `${PY_DECODE}
port, order, unit, k, value = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
c = client(port)
r1 = c.write_coil(k, True, device_id=unit)
r2 = c.write_registers(1100 + 2 * k, encode_float(value, order), device_id=unit)
assert not r1.isError() and not r2.isError(), (r1, r2)
c.close()
`;

const READ_SENSOR = `${PY_DECODE}
port, order, unit, k = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = client(port)
rr = c.read_input_registers(16 + 2 * k, count=2, device_id=unit)
di = c.read_discrete_inputs(0, count=k + 1, device_id=unit)
ov = c.read_holding_registers(1100 + 2 * k, count=2, device_id=unit)
c.close()
print(json.dumps({'value': nan_to_none(decode_float(rr.registers, order)), 'faults': [bool(b) for b in di.bits[:k + 1]], 'override': nan_to_none(decode_float(ov.registers, order))}))
`;

/** Polls unit 1 (header and every sensor, one block read) every 100 ms for `seconds`. */
const POLL = `${PY_DECODE}
import time
port, sensors, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
c = ModbusTcpClient('127.0.0.1', port=port, timeout=3)
end = time.time() + 30
while not c.connect():
    assert time.time() < end, 'the CLI never listened'
    time.sleep(0.1)
samples = []
stop = time.time() + seconds
while time.time() < stop:
    rr = c.read_input_registers(0, count=16 + 2 * sensors, device_id=1)
    assert not rr.isError(), rr
    regs = rr.registers
    ts = c.convert_from_registers(regs[4:8], DT.UINT64)
    tick = c.convert_from_registers(regs[8:12], DT.UINT64)
    values = [decode_float(regs[16 + 2 * k: 18 + 2 * k], 'ABCD') for k in range(sensors)]
    samples.append({'timestamp_ms': ts, 'tick': tick, 'values': [nan_to_none(v) for v in values]})
    time.sleep(0.1)
c.close()
print(json.dumps(samples))
`;

function runCli(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; stderr: string }>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.resume();
  const done = new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
  return { child, done };
}

const started: ModbusServer[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});

async function serve(order: WordOrder, plant: TestPlant): Promise<number> {
  const server = ModbusServer.fromConfig({ port: 0, word_order: order });
  await server.start(plant.state, plant.context);
  started.push(server);
  return server.boundPort!;
}

const dirs: { remove(): Promise<void> }[] = [];
afterAll(async () => {
  for (const d of dirs) await d.remove();
});

interface MapReading {
  unit_id: string;
  table: string;
  register: string;
  type: string;
  word_order: string;
  industry: string;
  device_id: string;
  sensor_name: string;
  writable: string;
  value: number | boolean | null;
}

describe('ModbusServer with pymodbus 3.16', () => {
  it.each(['ABCD', 'CDAB', 'BADC', 'DCBA'] as WordOrder[])(
    'pymodbus reads every register of the `iotsim modbus-map` CSV (%s) and gets the generated values',
    async (order) => {
      const dir = await tempDir();
      dirs.push(dir);
      const plant = testPlant({ industries: ['mining', 'utilities'], devicesPerIndustry: 2 });
      plant.tick();
      const values = plant.tick();
      const port = await serve(order, plant);
      const map = runCli([
        'modbus-map',
        '-i',
        'mining',
        'utilities',
        '--devices',
        '2',
        '--word-order',
        order,
      ]);
      let csv = '';
      map.child.stdout!.removeAllListeners('data');
      map.child.stdout!.on('data', (d: Buffer) => (csv += d.toString()));
      expect((await map.done).code).toBe(0);
      const csvPath = join(dir.path, 'map.csv');
      writeFileSync(csvPath, csv);
      const rows = JSON.parse(
        await runPython(READ_MAP, [String(port), order, csvPath]),
      ) as MapReading[];
      expect(rows).toHaveLength(csv.trim().split('\n').length - 1);
      const latest = plant.state.latest!;
      const header: Record<string, number> = {};
      let sensorReads = 0;
      for (const r of rows) {
        const unitId = Number(r.unit_id);
        if (r.sensor_name.startsWith('header.') || r.sensor_name.startsWith('control.')) {
          header[`${unitId}/${r.table}/${r.sensor_name}`] = r.value as number;
          continue;
        }
        const channel = plant.table.indexOf(r.industry, r.device_id, r.sensor_name);
        expect(channel).toBeGreaterThanOrEqual(0);
        if (r.table === 'coil' || r.table === 'discrete') {
          expect(r.value).toBe(plant.state.faultActive(channel));
        } else if (r.writable === 'true') {
          expect(r.value).toBeNull(); // no override written: NaN
        } else {
          expect([r.sensor_name, r.value]).toEqual([r.sensor_name, Math.fround(values[channel]!)]);
          sensorReads++;
        }
      }
      expect(sensorReads).toBe(2 * plant.table.length);
      const words = (unit: number, name: string): number =>
        [0, 1, 2, 3].reduce(
          (acc, i) => acc * 65536 + header[`${unit}/input/header.${name}[${i}]`]!,
          0,
        );
      for (let unit = 1; unit <= 4; unit++) {
        for (const t of ['input', 'holding']) {
          expect(header[`${unit}/${t}/header.marker`]).toBe(Math.fround(123.456));
          expect(header[`${unit}/${t}/header.layout_version`]).toBe(1);
          expect(header[`${unit}/${t}/header.unit_id`]).toBe(unit);
        }
        expect(words(unit, 'timestamp_ms')).toBe(latest.timestamp * 1000);
        expect(words(unit, 'tick')).toBe(latest.tick);
        expect(header[`${unit}/holding/control.fault_duration_s`]).toBe(60);
      }
      expect(header['1/input/header.sensor_count']).toBe(17);
    },
  );

  it('exceptions: 0x02 outside a unit and for read-only writes, 0x0B for an unknown unit, 0x01 for unserved functions', async () => {
    const plant = testPlant();
    plant.tick();
    const port = await serve('ABCD', plant);
    const codes = JSON.parse(
      await runPython(EXCEPTIONS, [String(port), String(16 + 2 * 17 - 1)]),
    ) as Record<string, number>;
    expect(codes).toEqual({
      input_past_end: 2,
      holding_gap: 2,
      write_read_only: 2,
      unknown_unit: 0x0b,
      illegal_function: 1,
      fifo_illegal_function: 1,
      marker_after: Math.fround(123.456),
    });
  });

  it.each(['ABCD', 'DCBA'] as WordOrder[])(
    'writes (%s): a coil raises the fault flag in the discrete inputs, an override replaces the value',
    async (order) => {
      const plant = testPlant();
      plant.tick();
      const port = await serve(order, plant);
      const k = 4;
      await runPython(WRITE, [String(port), order, '2', String(k), '-12.5']);
      const values = plant.tick();
      const channel = plant.table.indexOf(
        'mining',
        'mining-002',
        plant.table.channels[k]!.sensorName,
      );
      expect(values[channel]).toBe(-12.5);
      const read = JSON.parse(
        await runPython(READ_SENSOR, [String(port), order, '2', String(k)]),
      ) as {
        value: number;
        faults: boolean[];
        override: number;
      };
      expect(read.value).toBe(-12.5);
      expect(read.override).toBe(-12.5);
      expect(read.faults).toEqual([false, false, false, false, true]);
      expect(plant.state.faultActive(channel)).toBe(true);
    },
  );
});

describe('iotsim run with a modbus server and a file sink', () => {
  it('the value pymodbus reads at a tick equals the value the file sink wrote for that tick', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const out = join(dir.path, 'out');
    const cfg = join(dir.path, 'run.yaml');
    // A free port, given in the config: the poller connects (retrying) while the CLI starts.
    const port = await freePort();
    writeFileSync(
      cfg,
      `simulator: { industries: [mining], update_rate_hz: 4, seed: 11 }\nservers:\n  - { type: modbus, port: ${port} }\nsinks:\n  - { type: file, path: ${JSON.stringify(out)}, format: csv }\n`,
    );
    const run = runCli(['run', '-c', cfg, '-d', '6']);
    const samples = JSON.parse(await runPython(POLL, [String(port), '17', '3'])) as {
      timestamp_ms: number;
      tick: number;
      values: (number | null)[];
    }[];
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(`Modbus TCP on 127\\.0\\.0\\.1:${port}, unit id 1 \\(1 device\\)`),
    );
    const files = readdirSync(out, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.csv'));
    expect(files.length).toBeGreaterThan(0);
    const written = new Map<string, number>();
    for (const f of files) {
      const [head, ...lines] = readFileSync(join(out, f), 'utf8').trim().split('\n');
      const cols = head!.split(',');
      const at = (name: string): number => cols.indexOf(name);
      for (const line of lines) {
        const v = line.split(',');
        if (v[at('device_id')] !== 'mining-001') continue;
        written.set(
          `${Math.round(Number(v[at('timestamp')]) * 1000)}/${v[at('sensor_name')]}`,
          Number(v[at('value')]),
        );
      }
    }
    const sensors = [...new Set([...written.keys()].map((k) => k.split('/')[1]!))];
    expect(sensors).toHaveLength(17);
    const ticks = new Set(samples.filter((s) => s.timestamp_ms > 0).map((s) => s.timestamp_ms));
    expect(ticks.size).toBeGreaterThanOrEqual(5); // 3 s of polling at 4 ticks/s
    // The register order is the table's sensor order, which is the order `iotsim list-sensors` prints.
    const order = plant17();
    let compared = 0;
    for (const s of samples) {
      if (s.timestamp_ms === 0) continue;
      for (let k = 0; k < 17; k++) {
        const fileValue = written.get(`${s.timestamp_ms}/${order[k]}`);
        expect([s.timestamp_ms, order[k], fileValue !== undefined]).toEqual([
          s.timestamp_ms,
          order[k],
          true,
        ]);
        expect(s.values[k]).toBe(Math.fround(fileValue!));
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(5 * 17);
  });
});

/** Mining's sensor names in channel-table order. */
function plant17(): string[] {
  return testPlant({ devicesPerIndustry: 1 }).table.channels.map((c) => c.sensorName);
}
