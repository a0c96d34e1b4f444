import type { OptionReader } from '@iotsim/core';

/** How a float32 is laid out over its two registers (A = most significant byte). */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

/** The word orders, default first. */
export const WORD_ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

/** Options of ModbusServer (YAML: `servers: [{ type: modbus, port, word_order }]`). */
export interface ModbusServerOptions {
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host?: string;
  /** TCP port; 0 picks a free one (see `boundPort`). Default 5020. */
  port?: number;
  /** Float32 layout over two registers: `ABCD` (big-endian, default), `CDAB`, `BADC` or `DCBA`. */
  wordOrder?: WordOrder;
  /** Simulated seconds a fault written through a coil lasts, until a unit's register 1000 changes it. Default 60. */
  faultDurationS?: number;
}

/** ModbusServer options after validation. */
export interface ResolvedModbusOptions {
  readonly host: string;
  readonly port: number;
  readonly wordOrder: WordOrder;
  readonly faultDurationS: number;
}

/** Reads and validates the Modbus server's options. */
export function readModbusOptions(r: OptionReader): ResolvedModbusOptions {
  return {
    host: r.string('host', '127.0.0.1'),
    port: r.number('port', 5020, { min: 0, max: 65535, integer: true }),
    wordOrder: readWordOrder(r),
    faultDurationS: r.number('faultDurationS', 60, { min: 1, max: 65535, integer: true }),
  };
}

function readWordOrder(r: OptionReader): WordOrder {
  const raw = r.raw('wordOrder');
  // Accept `abcd` as well: the choice is a name, not a case-sensitive token.
  if (typeof raw === 'string') {
    const upper = raw.trim().toUpperCase();
    if ((WORD_ORDERS as readonly string[]).includes(upper)) return upper as WordOrder;
  }
  return r.oneOf('wordOrder', WORD_ORDERS, 'ABCD');
}
