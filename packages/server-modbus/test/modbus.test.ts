import { connect } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { ConfigError, DataGenerator } from '@iotsim/core';
import { describeServerConformance, freePort, testPlant, type TestPlant } from '@iotsim/test-utils';
import { buildModbusMap, ModbusServer, modbusMapCsv, type WordOrder } from '../src/index.js';
import {
  adu,
  closeClient,
  decodeFloat,
  encodeFloat,
  locate,
  openClient,
  rawExchange,
} from './client.js';

const HEADER = 16;

describeServerConformance('ModbusServer', {
  create: (port) => ModbusServer.fromConfig({ host: '127.0.0.1', port }),
  async read(_server, port, channels, plant) {
    const out: number[] = [];
    for (const c of channels) {
      const { unitId, k } = locate(plant.table, c);
      const client = await openClient(port, unitId);
      try {
        const r = await client.readInputRegisters(HEADER + 2 * k, 2);
        out.push(r.buffer.readFloatBE(0));
      } finally {
        await closeClient(client);
      }
    }
    return out;
  },
  async connect(port) {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return {
      closed,
      close: async () => {
        socket.destroy();
        await closed;
      },
    };
  },
  expected: (v) => Math.fround(v),
  knownKey: 'word_order',
});

const started: ModbusServer[] = [];
afterEach(async () => {
  for (const s of started.splice(0)) await s.stop();
});

async function serve(
  options: Record<string, unknown> = {},
  plant: TestPlant = testPlant(),
): Promise<{ server: ModbusServer; port: number; plant: TestPlant }> {
  const server = ModbusServer.fromConfig({ port: 0, ...options });
  await server.start(plant.state, plant.context);
  started.push(server);
  return { server, port: server.boundPort!, plant };
}

/** Modbus exception code of a rejected request (modbus-serial's `modbusCode`). */
async function exceptionOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
}

describe('ModbusServer register layout', () => {
  it('every sensor of every unit is its float32, header fields as documented, holding mirrors input', async () => {
    const plant = testPlant({ industries: ['mining', 'utilities'], devicesPerIndustry: 2 });
    plant.tick();
    const values = plant.tick();
    const { port } = await serve({}, plant);
    const units = new Set(plant.table.channels.map((c) => `${c.industry}/${c.deviceIndex}`)).size;
    expect(units).toBe(4);
    for (let unitId = 1; unitId <= units; unitId++) {
      const client = await openClient(port, unitId);
      try {
        const channels = plant.table.channels.filter(
          (c) => locate(plant.table, c.index).unitId === unitId,
        );
        const count = HEADER + 2 * channels.length;
        const input = (await client.readInputRegisters(0, count)).buffer;
        const holding = (await client.readHoldingRegisters(0, count)).buffer;
        expect(holding.equals(input)).toBe(true);
        expect(input.readFloatBE(0)).toBe(Math.fround(123.456));
        expect(input.readUInt16BE(4)).toBe(channels.length);
        expect(input.readUInt16BE(6)).toBe(1);
        expect(Number(input.readBigUInt64BE(8))).toBe(plant.state.latest!.timestamp * 1000);
        expect(Number(input.readBigUInt64BE(16))).toBe(plant.state.latest!.tick);
        expect(input.readUInt32BE(24)).toBe(plant.state.version);
        expect(input.readUInt16BE(28)).toBe(unitId);
        channels.forEach((c, k) => {
          expect(input.readFloatBE((HEADER + 2 * k) * 2)).toBe(Math.fround(values[c.index]!));
        });
      } finally {
        await closeClient(client);
      }
    }
  });

  it.each([
    ['ABCD', [0x42f6, 0xe979]],
    ['CDAB', [0xe979, 0x42f6]],
    ['BADC', [0xf642, 0x79e9]],
    ['DCBA', [0x79e9, 0xf642]],
  ] as [WordOrder, number[]][])(
    'word order %s puts the marker 123.456 as %j and every sensor in that order',
    async (order, marker) => {
      const plant = testPlant();
      const values = plant.tick();
      const { port } = await serve({ word_order: order }, plant);
      const client = await openClient(port, 1);
      try {
        const r = await client.readInputRegisters(0, HEADER + 2 * 17);
        expect(r.data.slice(0, 2)).toEqual(marker);
        for (let k = 0; k < 17; k++) {
          expect(decodeFloat(r.buffer, (HEADER + 2 * k) * 2, order)).toBe(Math.fround(values[k]!));
        }
        // The other orders decode something else (the test can fail).
        const wrong = (['ABCD', 'CDAB', 'BADC', 'DCBA'] as const).find((o) => o !== order)!;
        expect(decodeFloat(r.buffer, 0, wrong)).not.toBe(Math.fround(123.456));
      } finally {
        await closeClient(client);
      }
    },
  );

  it('a 125-register read returns the live values of the newest tick', async () => {
    const plant = testPlant({ industries: ['renewable_energy'], devicesPerIndustry: 1 });
    plant.tick();
    const { port } = await serve({}, plant);
    const values = plant.tick();
    const client = await openClient(port, 1);
    try {
      const n = plant.table.length;
      expect(HEADER + 2 * n).toBeGreaterThanOrEqual(80);
      const r = await client.readInputRegisters(0, HEADER + 2 * n);
      for (let k = 0; k < n; k++)
        expect(r.buffer.readFloatBE((HEADER + 2 * k) * 2)).toBe(Math.fround(values[k]!));
    } finally {
      await closeClient(client);
    }
  });

  it('answers requests pipelined in one TCP write, and a request split over two writes', async () => {
    const plant = testPlant();
    const values = plant.tick();
    const { port } = await serve({}, plant);
    const two = Buffer.concat([
      adu(1, 1, [4, 0, HEADER, 0, 2]),
      adu(2, 2, [4, 0, HEADER + 2, 0, 2]),
    ]);
    const answers = await rawExchange(port, two, 2 * 13);
    expect(answers.readUInt16BE(0)).toBe(1);
    expect(answers.readFloatBE(9)).toBe(Math.fround(values[0]!));
    expect(answers.readUInt16BE(13)).toBe(2);
    expect(answers[13 + 6]).toBe(2);
    expect(answers.readFloatBE(13 + 9)).toBe(Math.fround(values[17 + 1]!));

    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const got = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    const req = adu(7, 1, [4, 0, HEADER, 0, 2]);
    socket.write(req.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 20));
    socket.write(req.subarray(5));
    const reply = await got;
    socket.destroy();
    expect(reply.readUInt16BE(0)).toBe(7);
    expect(reply.readFloatBE(9)).toBe(Math.fround(values[0]!));
  });

  it('answers 3,000 requests pipelined in one write, in order', async () => {
    const plant = testPlant({ industries: ['renewable_energy'], devicesPerIndustry: 1 });
    plant.tick();
    const { port } = await serve({}, plant);
    const n = 3000;
    const count = Math.min(125, HEADER + 2 * plant.table.length);
    const requests = Buffer.concat(
      Array.from({ length: n }, (_, i) => adu(i, 1, [4, 0, 0, 0, count])),
    );
    const size = 9 + 2 * count;
    const answers = await rawExchange(port, requests, n * size);
    expect(answers.length).toBe(n * size);
    for (let i = 0; i < n; i += 499) {
      expect(answers.readUInt16BE(i * size)).toBe(i);
      expect(answers.readFloatBE(i * size + 9)).toBe(Math.fround(123.456));
    }
  });
});

describe('ModbusServer exceptions', () => {
  it('0x02 for reads outside a unit, 0x0B for unknown unit ids, 0x01 for unknown functions, 0x03 for bad quantities', async () => {
    const plant = testPlant();
    plant.tick();
    const { port } = await serve({}, plant);
    const end = HEADER + 2 * 17;
    const client = await openClient(port, 1);
    try {
      expect(await exceptionOf(client.readInputRegisters(end - 1, 2))).toBe(2);
      expect(await exceptionOf(client.readInputRegisters(end, 1))).toBe(2);
      expect(await exceptionOf(client.readHoldingRegisters(end, 1))).toBe(2);
      expect(await exceptionOf(client.readHoldingRegisters(999, 2))).toBe(2);
      expect(await exceptionOf(client.readDiscreteInputs(17, 1))).toBe(2);
      expect(await exceptionOf(client.readCoils(0, 18))).toBe(2);
      expect(await exceptionOf(client.readInputRegisters(0, 126))).toBe(3);
      // Still answers afterwards.
      expect((await client.readInputRegisters(end - 2, 2)).data).toHaveLength(2);
      client.setID(3); // mining with 2 devices: units 1 and 2
      expect(await exceptionOf(client.readInputRegisters(0, 2))).toBe(0x0b);
      client.setID(0);
      expect(await exceptionOf(client.readInputRegisters(0, 2))).toBe(0x0b);
    } finally {
      await closeClient(client);
    }
    // Function 7 (read exception status) and 43 are not served: 0x01, function code | 0x80.
    for (const fc of [7, 43, 0x41]) {
      const reply = await rawExchange(port, adu(9, 1, [fc, 0, 0]), 9);
      expect([...reply]).toEqual([0, 9, 0, 0, 0, 3, 1, fc | 0x80, 1]);
    }
    // An unknown unit id wins over an unknown function.
    const reply = await rawExchange(port, adu(10, 200, [7]), 9);
    expect([...reply.subarray(7)]).toEqual([0x87, 0x0b]);
  });

  it('writes to read-only registers are 0x02, bad values 0x03, and change nothing', async () => {
    const plant = testPlant();
    plant.tick();
    const { port } = await serve({}, plant);
    const client = await openClient(port, 1);
    try {
      expect(await exceptionOf(client.writeRegisters(HEADER, encodeFloat(1, 'ABCD')))).toBe(2);
      expect(await exceptionOf(client.writeRegister(0, 1))).toBe(2);
      expect(await exceptionOf(client.writeRegisters(1100 + 2 * 16, [0, 0, 0, 0]))).toBe(2);
      expect(await exceptionOf(client.writeRegister(1001, 5))).toBe(2);
      expect(await exceptionOf(client.writeCoil(17, true))).toBe(2);
      expect(await exceptionOf(client.writeRegister(1000, 0))).toBe(3);
      expect(await exceptionOf(client.writeRegisters(1100, encodeFloat(Infinity, 'ABCD')))).toBe(3);
      expect((await client.readHoldingRegisters(1000, 1)).data).toEqual([60]);
      expect(Number.isNaN((await client.readHoldingRegisters(1100, 2)).buffer.readFloatBE(0))).toBe(
        true,
      );
    } finally {
      await closeClient(client);
    }
  });
});

describe('ModbusServer framing', () => {
  it('malformed PDUs are 0x03; a bad MBAP header closes the connection and the server keeps serving', async () => {
    const plant = testPlant();
    plant.tick();
    const { port } = await serve({}, plant);
    const bad = async (pdu: number[]): Promise<number[]> => [
      ...(await rawExchange(port, adu(5, 1, pdu), 9)).subarray(7),
    ];
    expect(await bad([5, 0, 0, 0x12, 0x34])).toEqual([0x85, 3]); // coil value not FF00/0000
    expect(await bad([16, 0x04, 0x4c, 0, 2, 3, 0, 0, 0, 0])).toEqual([0x90, 3]); // byte count 3 for 2 registers
    expect(await bad([15, 0, 0, 0, 9, 1, 0xff])).toEqual([0x8f, 3]); // 9 coils in 1 byte
    expect(await bad([4, 0, 0])).toEqual([0x84, 3]); // truncated PDU
    expect(await bad([1, 0, 0, 0x07, 0xd1])).toEqual([0x81, 3]); // 2001 coils
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const frame = adu(1, 1, [4, 0, 0, 0, 2]);
    frame.writeUInt16BE(1, 2); // protocol id 1: not Modbus
    socket.write(frame);
    await closed;
    const ok = await rawExchange(port, adu(2, 1, [4, 0, 0, 0, 2]), 13);
    expect(ok.readFloatBE(9)).toBe(Math.fround(123.456));
  });
});

describe('ModbusServer writes', () => {
  it('coil 1 injects a fault (discrete input and every sink see it), coil 0 clears it', async () => {
    const plant = testPlant();
    plant.tick();
    const { port } = await serve({}, plant);
    const client = await openClient(port, 2);
    const k = 3;
    const channel = plant.table.channels.find((c) => c.deviceIndex === 1)!.index + k;
    try {
      expect(
        (await client.readDiscreteInputs(0, 17)).data.slice(0, 17).every((b: boolean) => !b),
      ).toBe(true);
      await client.writeCoil(k, true);
      plant.tick();
      expect(plant.state.faultActive(channel)).toBe(true);
      const di = (await client.readDiscreteInputs(0, 17)).data.slice(0, 17);
      expect(di.map((b: boolean, i: number) => (b ? i : -1)).filter((i: number) => i >= 0)).toEqual(
        [k],
      );
      expect((await client.readCoils(k, 1)).data[0]).toBe(true);
      expect((await client.readInputRegisters(HEADER - 1, 1)).data[0]).toBe(1); // fault count
      await client.writeCoil(k, false);
      plant.tick();
      expect(plant.state.faultActive(channel)).toBe(false);
      expect((await client.readDiscreteInputs(k, 1)).data[0]).toBe(false);
      // Function 15: several at once.
      await client.writeCoils(0, [true, false, true]);
      plant.tick();
      expect([0, 1, 2].map((i) => plant.state.faultActive(channel - k + i))).toEqual([
        true,
        false,
        true,
      ]);
    } finally {
      await closeClient(client);
    }
  });

  it('a fault lasts the duration set in holding register 1000 (simulated seconds)', async () => {
    const plant = testPlant({ rateHz: 1 });
    plant.tick();
    const { port } = await serve({ fault_duration_s: 30 }, plant);
    const client = await openClient(port, 1);
    try {
      expect((await client.readHoldingRegisters(1000, 1)).data).toEqual([30]);
      await client.writeRegister(1000, 3);
      expect((await client.readHoldingRegisters(1000, 1)).data).toEqual([3]);
      await client.writeCoil(0, true);
      const active: boolean[] = [];
      for (let i = 0; i < 6; i++) {
        plant.tick();
        active.push(plant.state.faultActive(0));
      }
      expect(active.slice(0, 3)).toEqual([true, true, true]);
      expect(active.slice(4)).toEqual([false, false]);
    } finally {
      await closeClient(client);
    }
  });

  it.each(['ABCD', 'CDAB', 'BADC', 'DCBA'] as WordOrder[])(
    'an override written as float32 (%s) replaces the value; NaN clears it',
    async (order) => {
      const plant = testPlant();
      plant.tick();
      const { port } = await serve({ word_order: order }, plant);
      const client = await openClient(port, 1);
      const k = 5;
      try {
        await client.writeRegisters(1100 + 2 * k, encodeFloat(42.25, order));
        const back = (await client.readHoldingRegisters(1100 + 2 * k, 2)).buffer;
        expect(decodeFloat(back, 0, order)).toBe(42.25);
        const values = plant.tick();
        expect(values[k]).toBe(42.25);
        const r = (await client.readInputRegisters(HEADER + 2 * k, 2)).buffer;
        expect(decodeFloat(r, 0, order)).toBe(42.25);
        await client.writeRegisters(1100 + 2 * k, encodeFloat(NaN, order));
        const after = plant.tick();
        expect(after[k]).not.toBe(42.25);
        const r2 = (await client.readInputRegisters(HEADER + 2 * k, 2)).buffer;
        expect(decodeFloat(r2, 0, order)).toBe(Math.fround(after[k]!));
      } finally {
        await closeClient(client);
      }
    },
  );
});

describe('ModbusServer options and limits', () => {
  it('a bad word_order is a ConfigError listing the choices; lower case is accepted', () => {
    expect(() => ModbusServer.fromConfig({ word_order: 'ABDC' }, 'servers[0].')).toThrow(
      /servers\[0\]\.word_order: must be one of 'ABCD', 'CDAB', 'BADC', 'DCBA', got "ABDC"/,
    );
    expect(ModbusServer.fromConfig({ word_order: 'cdab' }).describe()).toContain('word order CDAB');
    expect(() => ModbusServer.fromConfig({ port: 70000 })).toThrow(ConfigError);
    expect(() => ModbusServer.fromConfig({ fault_duration_s: 0 })).toThrow(/fault_duration_s/);
  });

  it('more than 247 devices is a ConfigError at start naming devices_per_industry, and nothing listens', async () => {
    const plant = testPlant({ industries: ['mining'], devicesPerIndustry: 248 });
    plant.tick();
    const port = await freePort();
    const server = ModbusServer.fromConfig({ port });
    const err = await server.start(plant.state, plant.context).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect(String(err)).toMatch(/248 devices.*247 unit ids.*devices_per_industry/);
    await server.stop();
    await expect(rawExchange(port, adu(1, 1, [4, 0, 0, 0, 1]), 1)).rejects.toThrow(/ECONNREFUSED/);
    // 247 is fine: the last unit answers.
    const ok = await serve({}, testPlant({ industries: ['mining'], devicesPerIndustry: 247 }));
    ok.plant.tick();
    const reply = await rawExchange(ok.port, adu(1, 247, [4, 0, 0, 0, 2]), 13);
    expect(reply.readFloatBE(9)).toBe(Math.fround(123.456));
  });
});

describe('buildModbusMap / modbusMapCsv', () => {
  it('lists every register with the documented columns, the same addresses the server answers', async () => {
    const table = new DataGenerator({
      industries: ['mining', 'oil_gas'],
      devicesPerIndustry: 2,
      seed: 1,
    }).channelTable();
    const csv = modbusMapCsv(buildModbusMap(table, 'CDAB'));
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe(
      'unit_id,table,register,type,word_order,industry,device_id,sensor_name,unit,min_value,max_value,writable',
    );
    const rows = lines.slice(1).map((l) => l.split(','));
    // Per unit: 15 header fields × 2 tables, and per sensor: input, holding, override, coil, discrete.
    const perUnit = (n: number): number => 30 + 1 + 5 * n;
    const sensors = (industry: string): number =>
      table.channels.filter((c) => c.industry === industry && c.deviceIndex === 0).length;
    expect(rows).toHaveLength(2 * perUnit(sensors('mining')) + 2 * perUnit(sensors('oil_gas')));
    const c0 = table.channels[0]!;
    expect(rows).toContainEqual([
      '1',
      'input',
      '16',
      'float32',
      'CDAB',
      'mining',
      'mining-001',
      c0.sensorName,
      c0.unit,
      String(c0.minValue),
      String(c0.maxValue),
      'false',
    ]);
    const lastUnit = rows.filter((r) => r[0] === '4');
    expect(lastUnit[0]!.slice(5, 7)).toEqual(['oil_gas', 'oil_gas-002']);
    expect(
      rows
        .filter((r) => r[1] === 'holding' && r[11] === 'true')
        .map((r) => Number(r[2]))
        .sort((a, b) => a - b)[0],
    ).toBe(1000);
    expect(rows.find((r) => r[7] === 'header.marker')).toEqual([
      '1',
      'input',
      '0',
      'float32',
      'CDAB',
      'mining',
      'mining-001',
      'header.marker',
      '',
      '',
      '',
      'false',
    ]);
  });
});
