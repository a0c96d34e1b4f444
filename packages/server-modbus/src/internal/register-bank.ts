import type { LiveSnapshot } from '@iotsim/core';
import {
  HEADER_REGISTERS,
  LAYOUT_VERSION,
  MARKER_VALUE,
  inputRegisterCount,
  type ModbusMap,
  type ModbusUnit,
} from '../modbus-map.js';
import type { WordOrder } from '../options.js';

/** Position in the register pair of each byte of the big-endian float32 (A B C D). */
const PERMUTATION: Readonly<Record<WordOrder, readonly [number, number, number, number]>> = {
  ABCD: [0, 1, 2, 3],
  CDAB: [2, 3, 0, 1],
  BADC: [1, 0, 3, 2],
  DCBA: [3, 2, 1, 0],
};

/** Writes and reads float32 values in one word order. */
export class FloatCodec {
  private readonly scratch = Buffer.alloc(4);
  private readonly perm: readonly [number, number, number, number];

  constructor(readonly wordOrder: WordOrder) {
    this.perm = PERMUTATION[wordOrder];
  }

  write(buf: Buffer, offset: number, value: number): void {
    if (this.wordOrder === 'ABCD') {
      buf.writeFloatBE(value, offset);
      return;
    }
    const s = this.scratch;
    s.writeFloatBE(value, 0);
    const p = this.perm;
    buf[offset + p[0]] = s[0]!;
    buf[offset + p[1]] = s[1]!;
    buf[offset + p[2]] = s[2]!;
    buf[offset + p[3]] = s[3]!;
  }

  read(buf: Buffer, offset: number): number {
    if (this.wordOrder === 'ABCD') return buf.readFloatBE(offset);
    const s = this.scratch;
    const p = this.perm;
    s[0] = buf[offset + p[0]]!;
    s[1] = buf[offset + p[1]]!;
    s[2] = buf[offset + p[2]]!;
    s[3] = buf[offset + p[3]]!;
    return s.readFloatBE(0);
  }
}

/** The registers of one unit, encoded once per published frame. */
export interface UnitRegisters {
  readonly unit: ModbusUnit;
  /** Input registers (and the read-only holding mirror): header, then one float32 per sensor. */
  readonly input: Buffer;
  /** The writable override block: one float32 per sensor, NaN where none was written. */
  readonly overrides: Buffer;
  /** Fault flag of each sensor in the newest frame (discrete inputs and coils). */
  readonly faults: Uint8Array;
  /** Simulated seconds a fault written through a coil lasts. */
  faultDurationS: number;
}

/**
 * Every unit's registers in prebuilt buffers. `encode()` writes the newest frame into them, so a
 * read is a slice of a buffer; reads and encodes run on the same thread and never interleave.
 */
export class RegisterBank {
  readonly codec: FloatCodec;
  private readonly units: (UnitRegisters | undefined)[] = [];

  constructor(
    readonly map: ModbusMap,
    faultDurationS: number,
  ) {
    this.codec = new FloatCodec(map.wordOrder);
    for (const unit of map.units) {
      const input = Buffer.alloc(inputRegisterCount(unit) * 2);
      const overrides = Buffer.alloc(unit.channels.length * 4);
      this.codec.write(input, 0, MARKER_VALUE);
      input.writeUInt16BE(unit.channels.length, 4);
      input.writeUInt16BE(LAYOUT_VERSION, 6);
      input.writeUInt16BE(unit.unitId, 28);
      for (let k = 0; k < unit.channels.length; k++) {
        this.codec.write(input, (HEADER_REGISTERS + 2 * k) * 2, NaN);
        this.codec.write(overrides, 4 * k, NaN);
      }
      this.units[unit.unitId] = {
        unit,
        input,
        overrides,
        faults: new Uint8Array(unit.channels.length),
        faultDurationS,
      };
    }
  }

  /** The registers of a unit id, or undefined when no device has it. */
  unit(unitId: number): UnitRegisters | undefined {
    return this.units[unitId];
  }

  /** Writes the newest tick of `snapshot` into every unit's buffers. */
  encode(snapshot: LiveSnapshot): void {
    const { frame, tickOffset } = snapshot;
    const n = frame.table.length;
    const row = tickOffset * n;
    const values = frame.values;
    const faults = frame.faults;
    const ms = Math.round(snapshot.timestamp * 1000);
    const codec = this.codec;
    for (const u of this.units) {
      if (!u) continue;
      const buf = u.input;
      writeUint64Words(buf, 8, ms);
      writeUint64Words(buf, 16, snapshot.tick);
      buf.writeUInt32BE(snapshot.version >>> 0, 24);
      const channels = u.unit.channels;
      let faultCount = 0;
      for (let k = 0; k < channels.length; k++) {
        const i = row + channels[k]!;
        codec.write(buf, (HEADER_REGISTERS + 2 * k) * 2, values[i]!);
        const f = faults[i]!;
        u.faults[k] = f;
        faultCount += f;
      }
      buf.writeUInt16BE(Math.min(faultCount, 0xffff), 30);
    }
  }
}

/** A non-negative integer below 2^53 as four big-endian uint16 words at `offset`. */
function writeUint64Words(buf: Buffer, offset: number, value: number): void {
  const v = value > 0 ? value : 0;
  const hi = Math.floor(v / 0x1_0000_0000);
  buf.writeUInt32BE(hi >>> 0, offset);
  buf.writeUInt32BE((v - hi * 0x1_0000_0000) >>> 0, offset + 4);
}
