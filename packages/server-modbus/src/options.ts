import { field, opt, v, type InputOf, type OutputOf } from '@iotsim/core';

/** How a float32 is laid out over its two registers (A = most significant byte). */
export type WordOrder = 'ABCD' | 'CDAB' | 'BADC' | 'DCBA';

/** The word orders, default first. */
export const WORD_ORDERS: readonly WordOrder[] = ['ABCD', 'CDAB', 'BADC', 'DCBA'];

const oneOfWordOrders = opt.oneOf(WORD_ORDERS);

/** A word order; `abcd` is accepted as well (the choice is a name, not a case-sensitive token). */
const wordOrder = field<WordOrder>({ enum: [...WORD_ORDERS] }, (value, problem) => {
  const upper = typeof value === 'string' ? value.trim().toUpperCase() : undefined;
  if ((WORD_ORDERS as readonly (string | undefined)[]).includes(upper)) return upper as WordOrder;
  const read = v.safeParse(oneOfWordOrders, value);
  if (!read.success) for (const issue of read.issues) problem(issue.message);
  return 'ABCD';
});

export const ModbusServerSchema = opt.object({
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host: v.nullish(opt.string(), '127.0.0.1'),
  /** TCP port; 0 picks a free one (see `boundPort`). Default 5020. */
  port: v.nullish(opt.number({ min: 0, max: 65535, integer: true }), 5020),
  /** Float32 layout over two registers: `ABCD` (big-endian, default), `CDAB`, `BADC` or `DCBA`. */
  wordOrder: v.nullish(wordOrder, 'ABCD'),
  /** Simulated seconds a fault written through a coil lasts, until a unit's register 1000 changes it. Default 60. */
  faultDurationS: v.nullish(opt.number({ min: 1, max: 65535, integer: true }), 60),
});

/** Options of ModbusServer (YAML: `servers: [{ type: modbus, port, word_order }]`). */
export type ModbusServerOptions = InputOf<typeof ModbusServerSchema>;

/** ModbusServer options after validation. */
export type ResolvedModbusOptions = Readonly<OutputOf<typeof ModbusServerSchema>>;
