// Checks of a recorded Sparkplug session, shared by the unit tests (decoded by protobuf-decode.ts)
// and the services tests (decoded by Python pysparkplug).
import { expect } from '@jest/globals';

/** A Sparkplug message as a subscriber decoded it. */
export interface SpMessage {
  topic: string;
  kind: string;
  group: string;
  edge: string;
  device?: string;
  qos: number;
  retain: boolean;
  timestamp?: number;
  seq?: number;
  metrics: {
    name?: string;
    alias?: number;
    timestamp?: number;
    datatype?: number;
    value?: unknown;
    isNull?: boolean;
    properties?: Record<string, { type: number; value?: unknown }>;
  }[];
}

/** Topic parts of `spBv1.0/group/KIND/edge[/device]`. */
export function topicParts(topic: string): Pick<SpMessage, 'group' | 'kind' | 'edge' | 'device'> {
  const [ns, group, kind, edge, device] = topic.split('/');
  expect(ns).toBe('spBv1.0');
  return { group: group!, kind: kind!, edge: edge!, device };
}

/**
 * The edge node's messages from one NBIRTH on follow the spec: NBIRTH seq 0 with bdSeq (Int64) and
 * `Node Control/Rebirth` (Boolean false, no alias); DBIRTH before any DDATA of its device; every
 * alias in DDATA declared in a DBIRTH, aliases unique; seq +1 per message mod 256; QoS 0 and not
 * retained for births and data. Returns the alias → (device, name) map and the NBIRTH bdSeq.
 */
export function checkSession(messages: readonly SpMessage[]): {
  bdSeq: number;
  aliases: Map<number, { device: string; name: string }>;
  wrapped: boolean;
} {
  const nbirth = messages[0]!;
  expect(nbirth.kind).toBe('NBIRTH');
  expect(nbirth.seq).toBe(0);
  expect(nbirth.qos).toBe(0);
  expect(nbirth.retain).toBe(false);
  expect(typeof nbirth.timestamp).toBe('number');
  const bd = nbirth.metrics.find((m) => m.name === 'bdSeq');
  expect(bd?.datatype).toBe(4); // Int64
  for (const m of nbirth.metrics) expect(typeof m.timestamp).toBe('number');
  const rebirth = nbirth.metrics.find((m) => m.name === 'Node Control/Rebirth');
  expect(rebirth).toMatchObject({ datatype: 11, value: false });
  expect(rebirth?.alias).toBeUndefined();
  const aliases = new Map<number, { device: string; name: string }>();
  const born = new Set<string>();
  let seq = 0;
  let wrapped = false;
  for (const m of messages.slice(1)) {
    expect(typeof m.timestamp).toBe('number');
    if (m.kind === 'NDEATH') {
      expect(m.seq).toBeUndefined();
      continue;
    }
    const expected = (seq + 1) % 256;
    expect({ topic: m.topic, seq: m.seq }).toEqual({ topic: m.topic, seq: expected });
    if (expected === 0) wrapped = true;
    seq = expected;
    expect(m.qos).toBe(0);
    expect(m.retain).toBe(false);
    if (m.kind === 'DBIRTH') {
      born.add(m.device!);
      for (const x of m.metrics) {
        expect(typeof x.name).toBe('string');
        expect(typeof x.alias).toBe('number');
        expect(x.datatype).toBe(10); // Double
        expect(typeof x.timestamp).toBe('number');
        expect(Object.keys(x.properties ?? {}).sort()).toEqual([
          'Quality',
          'engHigh',
          'engLow',
          'engUnit',
        ]);
        expect(x.properties!.Quality!.type).toBe(3); // Int32
        expect([0, 192]).toContain(x.properties!.Quality!.value);
        const prev = aliases.get(x.alias!);
        // unique across the edge node: a re-birth may repeat the same alias for the same metric only
        if (prev) expect(prev).toEqual({ device: m.device, name: x.name });
        aliases.set(x.alias!, { device: m.device!, name: x.name! });
      }
    } else if (m.kind === 'DDATA') {
      expect(born.has(m.device!)).toBe(true);
      for (const x of m.metrics) {
        expect(x.name).toBeUndefined();
        expect(aliases.get(x.alias!)?.device).toBe(m.device);
        expect(typeof x.timestamp).toBe('number');
      }
    } else if (m.kind === 'DDEATH') {
      expect(born.has(m.device!)).toBe(true);
    }
  }
  const names = [...aliases.values()].map((a) => `${a.device}/${a.name}`);
  expect(new Set(names).size).toBe(names.length);
  return { bdSeq: Number(bd!.value), aliases, wrapped };
}
