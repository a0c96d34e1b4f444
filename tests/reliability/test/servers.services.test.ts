// One run serving OPC UA and Modbus TCP while a file sink writes: the value a client of either
// protocol reads for a sensor at a tick equals what the file sink wrote for that tick. The clients
// are Python asyncua and pymodbus (the harness venv), not ours.
import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runPython, tempDir } from '@iotsim/test-utils';
import { cli } from './helpers.js';

const READ = `
import asyncio, calendar, json, struct, sys, time
from asyncua import Client
from pymodbus.client import ModbusTcpClient
opcua_port, modbus_port = int(sys.argv[1]), int(sys.argv[2])
async def opcua_reads():
    out = []
    await asyncio.sleep(1.5)  # the clock starts once every server and sink is up
    async with Client(f"opc.tcp://127.0.0.1:{opcua_port}") as c:
        ns = await c.get_namespace_index("urn:iotsim")
        node = c.get_node(f"ns={ns};s=mining/mining-001/conveyor_belt_1_speed")
        for _ in range(6):
            dv = await node.read_data_value()
            ts = dv.SourceTimestamp
            out.append([calendar.timegm(ts.utctimetuple()) + ts.microsecond / 1e6, dv.Value.Value])
            await asyncio.sleep(0.35)
    return out
def modbus_reads():
    out = []
    m = ModbusTcpClient("127.0.0.1", port=modbus_port)
    m.connect()
    for _ in range(6):
        regs = m.read_input_registers(0, count=18, device_id=1).registers
        ms = (regs[4] << 48) | (regs[5] << 32) | (regs[6] << 16) | regs[7]
        value = struct.unpack(">f", struct.pack(">HH", regs[16], regs[17]))[0]
        out.append([ms / 1000, value])
        time.sleep(0.35)
    m.close()
    return out
print(json.dumps({"opcua": asyncio.run(opcua_reads()), "modbus": modbus_reads()}))
`;

describe('Servers: OPC UA and Modbus TCP serve one run while a file sink writes it', () => {
  it('asyncua and pymodbus read, for a sensor at a tick, the value the file sink wrote for that tick', async () => {
    const dir = await tempDir();
    try {
      const [opcua, modbus] = [await freePort(), await freePort()];
      const config = join(dir.path, 'both.yaml');
      writeFileSync(
        config,
        `simulator: {industries: [mining], update_rate_hz: 2, seed: 5}\n` +
          `servers:\n  - {type: opcua, port: ${opcua}, pki_dir: '${join(dir.path, 'pki')}'}\n` +
          `  - {type: modbus, port: ${modbus}}\n` +
          `sinks:\n  - {type: file, path: '${join(dir.path, 'out')}'}\n`,
      );
      let reads: Promise<string> | undefined;
      const run = cli(['run', '-c', config, '-d', '12'], {
        timeoutMs: 90_000,
        onStderr: (text) => {
          if (!reads && /serving OPC UA/.test(text))
            reads = runPython(READ, [String(opcua), String(modbus)]);
        },
      });
      const r = await run;
      expect(r.code).toBe(0);
      expect(reads).toBeDefined();
      const got = JSON.parse(await reads!) as {
        opcua: [number, number][];
        modbus: [number, number][];
      };
      const [file] = readdirSync(join(dir.path, 'out'));
      const lines = readFileSync(join(dir.path, 'out', file!), 'utf8')
        .trim()
        .split('\n');
      const head = lines[0]!.split(',');
      const written = new Map<number, number>();
      for (const line of lines.slice(1)) {
        const f = line.split(',');
        if (f[head.indexOf('sensor_name')] === 'conveyor_belt_1_speed')
          written.set(Number(f[head.indexOf('timestamp')]), Number(f[head.indexOf('value')]));
      }
      expect(got.opcua.length).toBe(6);
      expect(got.modbus.length).toBe(6);
      for (const [t, v] of got.opcua) expect(v).toBe(written.get(Math.round(t * 2) / 2));
      for (const [t, v] of got.modbus)
        expect(v).toBe(Math.fround(written.get(Math.round(t * 2) / 2)!));
    } finally {
      await dir.remove();
    }
  }, 120_000);
});
