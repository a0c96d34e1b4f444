import { connect, type Socket } from 'node:net';
import modbusSerial from 'modbus-serial';
import type { ChannelTable } from '@iotsim/core';

// modbus-serial is CommonJS: its module.exports is the client class, which its types call `default`.
const ModbusRTU = modbusSerial as unknown as typeof modbusSerial.default;
/** The modbus-serial client. */
export type ModbusClient = InstanceType<typeof ModbusRTU>;

/** A modbus-serial TCP client connected to 127.0.0.1:port, talking to `unitId`. */
export async function openClient(port: number, unitId = 1): Promise<ModbusClient> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(unitId);
  client.setTimeout(3000);
  return client;
}

/** Closes a modbus-serial client. */
export function closeClient(client: ModbusClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.isOpen) return resolve();
    client.close(() => resolve());
  });
}

/**
 * Decodes a float32 from 4 wire bytes (two registers as sent) in `order`: the letters name the
 * big-endian bytes A (most significant) … D as they appear on the wire.
 */
export function decodeFloat(wire: Buffer, offset: number, order: string): number {
  const be = Buffer.alloc(4);
  for (const [i, letter] of ['A', 'B', 'C', 'D'].entries())
    be[i] = wire[offset + order.indexOf(letter)]!;
  return be.readFloatBE(0);
}

/** Encodes a float32 as two register values in `order` (the inverse of decodeFloat). */
export function encodeFloat(value: number, order: string): number[] {
  const be = Buffer.alloc(4);
  be.writeFloatBE(value, 0);
  const wire = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) wire[i] = be['ABCD'.indexOf(order[i]!)]!;
  return [wire.readUInt16BE(0), wire.readUInt16BE(2)];
}

/** Where the documented layout puts a channel: its unit id (devices in table order) and sensor index. */
export function locate(table: ChannelTable, channel: number): { unitId: number; k: number } {
  const units = new Map<string, number[]>();
  for (const c of table.channels) {
    const key = `${c.industry}/${c.deviceIndex}`;
    if (!units.has(key)) units.set(key, []);
    units.get(key)!.push(c.index);
  }
  let unitId = 0;
  for (const channels of units.values()) {
    unitId++;
    const k = channels.indexOf(channel);
    if (k >= 0) return { unitId, k };
  }
  throw new Error(`channel ${channel} is not in the table`);
}

/** Sends raw bytes on a fresh socket and collects `bytes` bytes of answer. */
export async function rawExchange(port: number, request: Buffer, bytes: number): Promise<Buffer> {
  const socket: Socket = connect(port, '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const chunks: Buffer[] = [];
    let got = 0;
    const done = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${got} of ${bytes} bytes`)),
        3000,
      );
      socket.on('data', (d: Buffer) => {
        chunks.push(d);
        got += d.length;
        if (got >= bytes) {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        }
      });
    });
    socket.write(request);
    return await done;
  } finally {
    socket.destroy();
  }
}

/** A request ADU: MBAP header (transaction id, protocol 0, length, unit) and the PDU. */
export function adu(transaction: number, unitId: number, pdu: number[]): Buffer {
  const out = Buffer.alloc(7 + pdu.length);
  out.writeUInt16BE(transaction, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out[6] = unitId;
  Buffer.from(pdu).copy(out, 7);
  return out;
}
