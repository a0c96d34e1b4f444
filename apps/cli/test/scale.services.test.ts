// Pseudo-cluster: 3 local processes as the pods of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX
// 0..2, --shard-count 3; one of them on 2 worker threads) backfill into one Kafka topic and one
// Delta table, at the same time. Independent readers (Kafka's own console consumer; delta-rs in
// Python) check that the union equals a single-process run: the counts and a digest of the values.
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cli, runPython, serviceEnv, tempDirs } from '@iotsim/test-utils';

const run = promisify(execFile);
const freshDir = tempDirs();
const services =
  process.env.IOTSIM_SERVICES_DIR ??
  fileURLToPath(new URL('../../../scripts/services', import.meta.url));

const TICKS = 60;
const DEVICES = 4;
const SENSORS = 17 + 26; // mining + oil_gas
const RECORDS = TICKS * DEVICES * SENSORS;

/** The simulator block of a backfill from 2024-05-01T00:00:00Z to `end`. */
const simulator = (end: string): string => `simulator:
  industries: [mining, oil_gas]
  devices_per_industry: ${DEVICES}
  seed: 77
  update_rate_hz: 1
  start: 2024-05-01T00:00:00Z
  end: ${end}
  log_level: WARNING
`;

const CONFIG = `${simulator('2024-05-01T00:01:00Z')}sinks:
  - type: kafka
    bootstrap_servers: \${BROKERS}
    topic: \${TOPIC}
    batch_size: 500
  - type: delta
    table_path: \${TABLE}
    batch_size: 2000
`;

/** Every message of a topic (Kafka's console consumer, until 10 s without one), as sorted `device|sensor|timestamp|value` lines. */
async function topicLines(topic: string, expected: number): Promise<string[]> {
  const { stdout } = await run(
    'bash',
    [
      join(services, 'kafka-console-consumer.sh'),
      '--topic',
      topic,
      '--from-beginning',
      // One more than expected: a duplicate from overlapping shards would show.
      '--max-messages',
      String(expected + 1),
      '--timeout-ms',
      '10000',
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const r = JSON.parse(l) as Record<string, unknown>;
      return `${String(r.device_id)}|${String(r.sensor_name)}|${String(r.timestamp)}|${String(r.value)}`;
    })
    .sort();
}

const digest = (lines: string[]): string =>
  createHash('sha256').update(lines.join('\n')).digest('hex');

/** A Delta table read by delta-rs: its row count and a digest of its sorted rows. */
async function tableDigest(
  path: string,
): Promise<{ rows: number; digest: string; devices: number }> {
  const out = await runPython(
    `
import sys, json, hashlib
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
lines = sorted(f"{r['device_id']}|{r['sensor_name']}|{r['timestamp']}|{r['value']!r}" for r in t)
print(json.dumps({'rows': len(lines), 'digest': hashlib.sha256('\\n'.join(lines).encode()).hexdigest(), 'devices': len({r['device_id'] for r in t})}))
`,
    [path],
  );
  return JSON.parse(out.trim().split('\n').pop()!) as {
    rows: number;
    digest: string;
    devices: number;
  };
}

describe('pseudo-cluster: 3 shards into one Kafka topic and one Delta table', () => {
  it('the union of the shards equals one process: counts and digests (Kafka console consumer, delta-rs)', async () => {
    const brokers = serviceEnv('IOTSIM_KAFKA_BROKERS');
    const dir = await freshDir();
    const config = join(dir, 'pods.yaml');
    writeFileSync(config, CONFIG);
    const id = Date.now();
    const single = { BROKERS: brokers, TOPIC: `iotsim-scale-one-${id}`, TABLE: join(dir, 'one') };
    const pods = { BROKERS: brokers, TOPIC: `iotsim-scale-pods-${id}`, TABLE: join(dir, 'pods') };
    const one = await cli(['run', '-c', config], { env: single });
    expect(one.stderr).toContain('run summary');
    expect(one.code).toBe(0);
    const results = await Promise.all(
      [0, 1, 2].map((k) =>
        cli(['run', '-c', config, '--shard-count', '3', ...(k === 2 ? ['--workers', '2'] : [])], {
          env: { ...pods, JOB_COMPLETION_INDEX: String(k) },
        }),
      ),
    );
    for (const r of results) {
      expect(r.stderr).toContain('run summary');
      expect(r.code).toBe(0);
    }

    const a = await topicLines(single.TOPIC, RECORDS);
    const b = await topicLines(pods.TOPIC, RECORDS);
    expect(a.length).toBe(RECORDS);
    expect(b.length).toBe(RECORDS);
    expect(digest(b)).toBe(digest(a));

    const ta = await tableDigest(single.TABLE);
    const tb = await tableDigest(pods.TABLE);
    expect(ta.rows).toBe(RECORDS);
    expect(tb).toEqual(ta);
    expect(tb.devices).toBe(2 * DEVICES);
  }, 240_000);
});

// A pod of the Indexed Job killed mid-backfill (node eviction, OOM) is retried by Kubernetes with
// the same JOB_COMPLETION_INDEX: the retry must add only what the killed attempt had not committed.
const LONG_TICKS = 1800;
const KILLED_CONFIG = `${simulator('2024-05-01T00:30:00Z')}sinks:
  - type: delta
    table_path: \${TABLE}
    batch_size: 200
`;

/** The commits in a Delta table's log so far. */
function commits(table: string): number {
  try {
    return readdirSync(join(table, '_delta_log')).filter((f) => /^\d{20}\.json$/.test(f)).length;
  } catch {
    return 0;
  }
}

describe('pseudo-cluster: a pod killed mid-backfill and retried with the same index', () => {
  it('the retry skips what the killed attempt committed: the table equals one process (delta-rs)', async () => {
    const dir = await freshDir();
    const config = join(dir, 'killed.yaml');
    writeFileSync(config, KILLED_CONFIG);
    const single = { TABLE: join(dir, 'one') };
    const pods = { TABLE: join(dir, 'pods') };
    const one = await cli(['run', '-c', config], { env: single });
    expect(one.code).toBe(0);

    // Pod 1 (on 2 worker threads) is SIGKILLed once 20 of its commits are in the log.
    const pod1 = ['run', '-c', config, '--shard-count', '3', '--workers', '2'];
    const env1 = { ...pods, JOB_COMPLETION_INDEX: '1' };
    let poll: NodeJS.Timeout | undefined;
    const killed = await cli(pod1, {
      env: env1,
      onSpawn: (child) => {
        poll = setInterval(() => {
          if (commits(pods.TABLE) >= 21) child.kill('SIGKILL');
        }, 10);
      },
    });
    clearInterval(poll);
    expect(killed.signal).toBe('SIGKILL');
    const before = commits(pods.TABLE);
    expect(before).toBeGreaterThan(20);

    const retry = await cli(pod1, { env: env1 });
    expect(retry.code).toBe(0);
    // The killed attempt's rows are counted as already committed, not written again.
    const skipped = /rows_committed_before (\d+)/.exec(retry.stderr);
    expect(Number(skipped?.[1])).toBeGreaterThanOrEqual((before - 1) * 200);
    const others = await Promise.all(
      [0, 2].map((k) =>
        cli(['run', '-c', config, '--shard-count', '3'], {
          env: { ...pods, JOB_COMPLETION_INDEX: String(k) },
        }),
      ),
    );
    for (const r of others) expect(r.code).toBe(0);

    const ta = await tableDigest(single.TABLE);
    const tb = await tableDigest(pods.TABLE);
    expect(ta.rows).toBe(LONG_TICKS * DEVICES * SENSORS);
    expect(tb).toEqual(ta);
  }, 240_000);
});
