// A small Sparkplug B decoder for the tests, written from the protobuf wire format and the field
// numbers of the spec's sparkplug_b.proto, independent of the codec the sink encodes with.

/** A decoded metric (only the fields the sink uses). */
export interface DecodedMetric {
  name?: string;
  alias?: number;
  timestamp?: number;
  datatype?: number;
  isNull?: boolean;
  value?: number | boolean | string;
  properties?: Record<string, { type: number; value?: number | boolean | string }>;
}

/** A decoded payload. */
export interface DecodedPayload {
  timestamp?: number;
  seq?: number;
  metrics: DecodedMetric[];
}

/** Sparkplug B data types used by the sink. */
export const DataType = {
  Int32: 3,
  Int64: 4,
  UInt64: 8,
  Double: 10,
  Boolean: 11,
  String: 12,
} as const;

class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 1;
    for (;;) {
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * shift;
      if (b < 0x80) return result;
      shift *= 128;
    }
  }
  bytes(): Uint8Array {
    const n = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  double(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  /** Next field: [field number, wire type]. */
  tag(): [number, number] {
    const t = this.varint();
    return [Math.floor(t / 8), t % 8];
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`wire type ${wire}`);
  }
}

const text = new TextDecoder();

function int32(n: number): number {
  // a negative int32 is sent as a 10-byte varint of its 64-bit two's complement
  return n > 0x7fffffff ? n - 2 ** 64 : n;
}

function decodePropertyValue(buf: Uint8Array): { type: number; value?: number | boolean | string } {
  const r = new Reader(buf);
  const out: { type: number; value?: number | boolean | string } = { type: 0 };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) out.type = r.varint();
    else if (f === 3) out.value = int32(r.varint());
    else if (f === 4) out.value = r.varint();
    else if (f === 5) out.value = r.float();
    else if (f === 6) out.value = r.double();
    else if (f === 7) out.value = r.varint() !== 0;
    else if (f === 8) out.value = text.decode(r.bytes());
    else r.skip(w);
  }
  return out;
}

function decodePropertySet(
  buf: Uint8Array,
): Record<string, { type: number; value?: number | boolean | string }> {
  const r = new Reader(buf);
  const keys: string[] = [];
  const values: { type: number; value?: number | boolean | string }[] = [];
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) keys.push(text.decode(r.bytes()));
    else if (f === 2) values.push(decodePropertyValue(r.bytes()));
    else r.skip(w);
  }
  if (keys.length !== values.length)
    throw new Error('PropertySet keys and values differ in length');
  return Object.fromEntries(keys.map((k, i) => [k, values[i]!]));
}

function decodeMetric(buf: Uint8Array): DecodedMetric {
  const r = new Reader(buf);
  const m: DecodedMetric = {};
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) m.name = text.decode(r.bytes());
    else if (f === 2) m.alias = r.varint();
    else if (f === 3) m.timestamp = r.varint();
    else if (f === 4) m.datatype = r.varint();
    else if (f === 7) m.isNull = r.varint() !== 0;
    else if (f === 9) m.properties = decodePropertySet(r.bytes());
    else if (f === 10) m.value = int32(r.varint());
    else if (f === 11) m.value = r.varint();
    else if (f === 12) m.value = r.float();
    else if (f === 13) m.value = r.double();
    else if (f === 14) m.value = r.varint() !== 0;
    else if (f === 15) m.value = text.decode(r.bytes());
    else r.skip(w);
  }
  return m;
}

/** Decodes a Sparkplug B payload. */
export function decodeSparkplug(buf: Uint8Array): DecodedPayload {
  const r = new Reader(buf);
  const p: DecodedPayload = { metrics: [] };
  while (!r.done) {
    const [f, w] = r.tag();
    if (f === 1) p.timestamp = r.varint();
    else if (f === 2) p.metrics.push(decodeMetric(r.bytes()));
    else if (f === 3) p.seq = r.varint();
    else r.skip(w);
  }
  return p;
}
