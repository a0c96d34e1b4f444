import type { ModelControl } from '@iotsim/core';
import { FAULT_DURATION_REGISTER, OVERRIDE_BASE, inputRegisterCount } from '../modbus-map.js';
import type { RegisterBank, UnitRegisters } from './register-bank.js';

/** Modbus exception codes the server answers with. */
export const EXCEPTION = {
  illegalFunction: 0x01,
  illegalDataAddress: 0x02,
  illegalDataValue: 0x03,
  gatewayTargetFailed: 0x0b,
} as const;

/** MBAP header (7 bytes: transaction, protocol, length, unit) before the PDU. */
export const MBAP_LENGTH = 7;

/** What a request needs beside its bytes. */
export interface RequestContext {
  readonly bank: RegisterBank;
  readonly control: ModelControl;
}

/**
 * Answers one request ADU (`frame` starts with its MBAP header) with the response ADU. Unknown
 * unit ids get 0x0B, unknown function codes 0x01, addresses outside a unit's blocks 0x02, bad
 * quantities and values 0x03.
 */
export function answer(frame: Buffer, ctx: RequestContext): Buffer {
  const unitId = frame[6]!;
  const fc = frame[7]!;
  const pdu = frame.subarray(MBAP_LENGTH);
  const regs = ctx.bank.unit(unitId);
  if (!regs) return exception(frame, fc, EXCEPTION.gatewayTargetFailed);
  switch (fc) {
    case 1:
    case 2:
      return readBits(frame, pdu, regs);
    case 3:
      return readHolding(frame, pdu, regs);
    case 4:
      return readInput(frame, pdu, regs);
    case 5:
      return writeCoil(frame, pdu, regs, ctx);
    case 6:
      return writeRegisters(frame, pdu, regs, ctx, true);
    case 15:
      return writeCoils(frame, pdu, regs, ctx);
    case 16:
      return writeRegisters(frame, pdu, regs, ctx, false);
    default:
      return exception(frame, fc, EXCEPTION.illegalFunction);
  }
}

/** An exception response: function code with bit 7 set, then the code. */
export function exception(frame: Buffer, fc: number, code: number): Buffer {
  const out = Buffer.allocUnsafe(MBAP_LENGTH + 2);
  header(out, frame, 3);
  out[7] = (fc | 0x80) & 0xff;
  out[8] = code;
  return out;
}

function header(out: Buffer, frame: Buffer, length: number): void {
  out[0] = frame[0]!;
  out[1] = frame[1]!;
  out[2] = 0;
  out[3] = 0;
  out.writeUInt16BE(length, 4);
  out[6] = frame[6]!;
}

function registerResponse(frame: Buffer, source: Buffer, start: number, quantity: number): Buffer {
  const bytes = quantity * 2;
  const out = Buffer.allocUnsafe(MBAP_LENGTH + 2 + bytes);
  header(out, frame, 3 + bytes);
  out[7] = frame[7]!;
  out[8] = bytes;
  source.copy(out, 9, start * 2, start * 2 + bytes);
  return out;
}

function addressAndQuantity(pdu: Buffer): [number, number] | undefined {
  if (pdu.length !== 5) return undefined;
  return [pdu.readUInt16BE(1), pdu.readUInt16BE(3)];
}

function readInput(frame: Buffer, pdu: Buffer, regs: UnitRegisters): Buffer {
  const aq = addressAndQuantity(pdu);
  if (!aq || aq[1] < 1 || aq[1] > 125) return exception(frame, 4, EXCEPTION.illegalDataValue);
  const [address, quantity] = aq;
  if (address + quantity > inputRegisterCount(regs.unit))
    return exception(frame, 4, EXCEPTION.illegalDataAddress);
  return registerResponse(frame, regs.input, address, quantity);
}

function readHolding(frame: Buffer, pdu: Buffer, regs: UnitRegisters): Buffer {
  const aq = addressAndQuantity(pdu);
  if (!aq || aq[1] < 1 || aq[1] > 125) return exception(frame, 3, EXCEPTION.illegalDataValue);
  const [address, quantity] = aq;
  const end = address + quantity;
  if (end <= inputRegisterCount(regs.unit))
    return registerResponse(frame, regs.input, address, quantity);
  if (address === FAULT_DURATION_REGISTER && quantity === 1) {
    const out = Buffer.allocUnsafe(MBAP_LENGTH + 4);
    header(out, frame, 5);
    out[7] = 3;
    out[8] = 2;
    out.writeUInt16BE(regs.faultDurationS, 9);
    return out;
  }
  const overrideEnd = OVERRIDE_BASE + 2 * regs.unit.channels.length;
  if (address >= OVERRIDE_BASE && end <= overrideEnd)
    return registerResponse(frame, regs.overrides, address - OVERRIDE_BASE, quantity);
  return exception(frame, 3, EXCEPTION.illegalDataAddress);
}

function readBits(frame: Buffer, pdu: Buffer, regs: UnitRegisters): Buffer {
  const fc = frame[7]!;
  const aq = addressAndQuantity(pdu);
  if (!aq || aq[1] < 1 || aq[1] > 2000) return exception(frame, fc, EXCEPTION.illegalDataValue);
  const [address, quantity] = aq;
  if (address + quantity > regs.faults.length)
    return exception(frame, fc, EXCEPTION.illegalDataAddress);
  const bytes = Math.ceil(quantity / 8);
  const out = Buffer.alloc(MBAP_LENGTH + 2 + bytes);
  header(out, frame, 3 + bytes);
  out[7] = fc;
  out[8] = bytes;
  for (let i = 0; i < quantity; i++) {
    if (regs.faults[address + i]) out[9 + (i >> 3)]! |= 1 << (i & 7);
  }
  return out;
}

function echo(frame: Buffer): Buffer {
  // Write responses echo the function code, address and value/quantity (5 PDU bytes).
  const out = Buffer.allocUnsafe(MBAP_LENGTH + 5);
  header(out, frame, 6);
  frame.copy(out, 7, 7, 12);
  return out;
}

function setFault(regs: UnitRegisters, ctx: RequestContext, k: number, on: boolean): void {
  const channel = regs.unit.channels[k]!;
  if (on) ctx.control.injectFault([channel], regs.faultDurationS);
  else ctx.control.clearFault([channel]);
}

function writeCoil(frame: Buffer, pdu: Buffer, regs: UnitRegisters, ctx: RequestContext): Buffer {
  const aq = addressAndQuantity(pdu);
  if (!aq || (aq[1] !== 0xff00 && aq[1] !== 0))
    return exception(frame, 5, EXCEPTION.illegalDataValue);
  const [address, value] = aq;
  if (address >= regs.faults.length) return exception(frame, 5, EXCEPTION.illegalDataAddress);
  setFault(regs, ctx, address, value === 0xff00);
  return echo(frame);
}

function writeCoils(frame: Buffer, pdu: Buffer, regs: UnitRegisters, ctx: RequestContext): Buffer {
  if (pdu.length < 6) return exception(frame, 15, EXCEPTION.illegalDataValue);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const bytes = pdu[5]!;
  if (
    quantity < 1 ||
    quantity > 1968 ||
    bytes !== Math.ceil(quantity / 8) ||
    pdu.length !== 6 + bytes
  )
    return exception(frame, 15, EXCEPTION.illegalDataValue);
  if (address + quantity > regs.faults.length)
    return exception(frame, 15, EXCEPTION.illegalDataAddress);
  for (let i = 0; i < quantity; i++) {
    setFault(regs, ctx, address + i, ((pdu[6 + (i >> 3)]! >> (i & 7)) & 1) === 1);
  }
  return echo(frame);
}

/** FC 6 (one register, `single`) and FC 16: the fault duration register or the override block. */
function writeRegisters(
  frame: Buffer,
  pdu: Buffer,
  regs: UnitRegisters,
  ctx: RequestContext,
  single: boolean,
): Buffer {
  const fc = single ? 6 : 16;
  let address: number;
  let quantity: number;
  let data: Buffer;
  if (single) {
    if (pdu.length !== 5) return exception(frame, fc, EXCEPTION.illegalDataValue);
    address = pdu.readUInt16BE(1);
    quantity = 1;
    data = pdu.subarray(3, 5);
  } else {
    if (pdu.length < 6) return exception(frame, fc, EXCEPTION.illegalDataValue);
    address = pdu.readUInt16BE(1);
    quantity = pdu.readUInt16BE(3);
    const bytes = pdu[5]!;
    if (quantity < 1 || quantity > 123 || bytes !== quantity * 2 || pdu.length !== 6 + bytes)
      return exception(frame, fc, EXCEPTION.illegalDataValue);
    data = pdu.subarray(6);
  }
  const end = address + quantity;
  if (address === FAULT_DURATION_REGISTER && quantity === 1) {
    const seconds = data.readUInt16BE(0);
    if (seconds === 0) return exception(frame, fc, EXCEPTION.illegalDataValue);
    regs.faultDurationS = seconds;
    return echo(frame);
  }
  const sensors = regs.unit.channels.length;
  if (address < OVERRIDE_BASE || end > OVERRIDE_BASE + 2 * sensors)
    return exception(frame, fc, EXCEPTION.illegalDataAddress);
  // Apply to a copy first: an infinite value rejects the whole write.
  const first = (address - OVERRIDE_BASE) >> 1;
  const last = (end - 1 - OVERRIDE_BASE) >> 1;
  const next = Buffer.from(regs.overrides.subarray(first * 4, (last + 1) * 4));
  data.copy(next, (address - OVERRIDE_BASE) * 2 - first * 4);
  const values: number[] = [];
  for (let k = first; k <= last; k++) {
    const v = ctx.bank.codec.read(next, (k - first) * 4);
    if (v === Infinity || v === -Infinity) return exception(frame, fc, EXCEPTION.illegalDataValue);
    values.push(v);
  }
  next.copy(regs.overrides, first * 4);
  for (let k = first; k <= last; k++) {
    const v = values[k - first]!;
    ctx.control.override([regs.unit.channels[k]!], Number.isNaN(v) ? null : v);
  }
  return echo(frame);
}
