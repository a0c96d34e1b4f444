// Independent MQTT peers for the services tests: Mosquitto's own mosquitto_sub, Python paho-mqtt
// 1.6.1 from the harness venv, and extra Mosquitto brokers (TLS, password file) started from a
// test on a free port with their config in a temp dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { serviceEnv } from '@iotsim/test-utils';
import mqtt from 'mqtt';

/** One message as an independent subscriber printed it. */
export interface PeerMessage {
  topic: string;
  payload: string;
  qos?: number;
  contentType?: string | null;
  expiry?: number | null;
}

/** A running subscriber process and the messages it printed so far. */
export interface PeerSubscriber {
  readonly messages: PeerMessage[];
  /** Waits until `count` messages (not counting probes) arrived, or `timeoutMs` passed. */
  settle(count: number, timeoutMs?: number): Promise<PeerMessage[]>;
  stop(): Promise<void>;
}

function lines(child: ChildProcess, onLine: (line: string) => void): void {
  createInterface({ input: child.stdout! }).on('line', onLine);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** Publishes probes on `<prefix>/probe` until the subscriber shows one: then it is subscribed. */
async function untilSubscribed(
  url: string,
  prefix: string,
  sub: { messages: PeerMessage[] },
  all: PeerMessage[],
): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      await client.publishAsync(`${prefix}/probe`, 'probe', { qos: 0 });
      await new Promise((r) => setTimeout(r, 100));
      if (all.some((m) => m.topic === `${prefix}/probe`)) return;
    }
    throw new Error(`subscriber on ${prefix}/# never showed a probe`);
  } finally {
    await client.endAsync(true);
    void sub;
  }
}

function subscriber(child: ChildProcess, all: PeerMessage[], prefix: string): PeerSubscriber {
  const messages: PeerMessage[] = [];
  const isData = (m: PeerMessage): boolean =>
    m.topic !== `${prefix}/probe` && m.topic !== `${prefix}/status`;
  return {
    messages,
    async settle(count, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until && all.filter(isData).length < count) {
        await new Promise((r) => setTimeout(r, 50));
      }
      // a little longer: a duplicate or an extra message must show too
      await new Promise((r) => setTimeout(r, 300));
      messages.splice(0, messages.length, ...all.filter(isData));
      return messages;
    },
    stop: () => stopChild(child),
  };
}

/** `mosquitto_sub` on `<prefix>/#` at `qos`, printing topic and payload per line. */
export async function mosquittoSub(
  url: string,
  prefix: string,
  qos: 0 | 1 | 2,
  extra: string[] = [],
): Promise<PeerSubscriber> {
  const u = new URL(url);
  const child = spawn(
    'mosquitto_sub',
    [
      '-h',
      u.hostname,
      '-p',
      u.port || '1883',
      '-t',
      `${prefix}/#`,
      '-q',
      String(qos),
      '-F',
      '%t\t%q\t%p',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const all: PeerMessage[] = [];
  lines(child, (line) => {
    const [topic, q, ...rest] = line.split('\t');
    all.push({ topic: topic!, qos: Number(q), payload: rest.join('\t') });
  });
  const sub = subscriber(child, all, prefix);
  await untilSubscribed(url, prefix, sub, all);
  return sub;
}

const PAHO = `
import json, sys, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
host, port, prefix, qos, proto, client_id, clean = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7] == '1'
v5 = proto == 5
kw = dict(client_id=client_id, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
if not v5: kw['clean_session'] = clean
c = mqtt.Client(**kw)
def on_connect(client, userdata, flags, rc, properties=None):
    client.subscribe(prefix + '/#', qos=qos)
def on_message(client, userdata, m):
    p = getattr(m, 'properties', None)
    out = {'topic': m.topic, 'payload': m.payload.decode('utf-8'), 'qos': m.qos}
    if v5:
        out['contentType'] = getattr(p, 'ContentType', None)
        out['expiry'] = getattr(p, 'MessageExpiryInterval', None)
    sys.stdout.write(json.dumps(out) + '\\n'); sys.stdout.flush()
c.on_connect = on_connect
c.on_message = on_message
c.reconnect_delay_set(min_delay=0.2, max_delay=1)
if v5: c.connect(host, port, clean_start=clean)
else: c.connect(host, port)
c.loop_forever(retry_first_connection=True)
`;

/** A Python paho-mqtt 1.6.1 subscriber on `<prefix>/#`, reconnecting by itself. */
export async function pahoSub(
  url: string,
  prefix: string,
  qos: 0 | 1 | 2,
  options: { protocolVersion?: 4 | 5; clientId?: string; clean?: boolean } = {},
): Promise<PeerSubscriber> {
  const u = new URL(url);
  const child = spawn(
    serviceEnv('IOTSIM_PYTHON'),
    [
      '-u',
      '-c',
      PAHO,
      u.hostname,
      u.port || '1883',
      prefix,
      String(qos),
      String(options.protocolVersion ?? 5),
      options.clientId ?? `paho-${process.pid}-${Math.random().toString(16).slice(2)}`,
      options.clean === false ? '0' : '1',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const all: PeerMessage[] = [];
  lines(child, (line) => all.push(JSON.parse(line) as PeerMessage));
  const sub = subscriber(child, all, prefix);
  await untilSubscribed(url, prefix, sub, all);
  return sub;
}

/** A Python subscriber (`script` prints one JSON message per line, with `topic`) on `<prefix>/#`. */
export async function pythonSubscriber(
  url: string,
  prefix: string,
  script: string,
  args: string[],
): Promise<PeerSubscriber & { all: PeerMessage[] }> {
  const child = spawn(serviceEnv('IOTSIM_PYTHON'), ['-u', '-c', script, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const all: PeerMessage[] = [];
  lines(child, (line) => all.push(JSON.parse(line) as PeerMessage));
  const sub = subscriber(child, all, prefix);
  await untilSubscribed(url, prefix, sub, all);
  return Object.assign(sub, { all });
}

/** A Mosquitto of the test's own on `port`, with `config` lines; stop() ends it. */
export async function ownMosquitto(
  dir: string,
  port: number,
  config: string[],
): Promise<{ stop(): Promise<void> }> {
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'persistence false',
      'log_dest stderr',
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...config,
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const until = Date.now() + 10_000;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) break;
    if (child.exitCode !== null || Date.now() > until)
      throw new Error(`mosquitto -c ${conf} did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { stop: () => stopChild(child) };
}
