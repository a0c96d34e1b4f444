// Accounting under server faults with the real servers of scripts/services (pnpm test:services).
// Each test stops or restarts a shared service mid-run and always brings it back.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SERVICES_DIR, serviceCtl, serviceEnv, tempDir } from '@iotsim/test-utils';
import { recordKey } from './faults.js';
import { cli, parseSummary, sleep, STACK_FRAME, type CliResult } from './helpers.js';

const run = promisify(execFile);
let dir: { path: string; remove: () => Promise<void> };
const stamp = `${Date.now()}`;

beforeAll(async () => {
  dir = await tempDir('iotsim-faults-services-');
});
afterAll(async () => {
  await dir?.remove();
});

/** Runs the CLI on `yaml`; `fault` runs once the sink has connected (seen on the DEBUG log). */
async function runWithFault(
  name: string,
  yaml: string,
  fault: () => Promise<void>,
): Promise<{ r: CliResult; faultDone: boolean }> {
  const file = join(dir.path, `${name}.yaml`);
  writeFileSync(file, yaml);
  let started = false;
  let faultDone = false;
  let faulting: Promise<void> | undefined;
  const r = await cli(['run', '-c', file, '--log-level', 'DEBUG'], {
    timeoutMs: 150_000,
    onStderr: (text) => {
      if (!started && /: connected \(/.test(text)) {
        started = true;
        faulting = fault().then(() => void (faultDone = true));
      }
    },
  });
  await faulting;
  return { r, faultDone };
}

/** Every message value of a Kafka topic, read by Kafka's own console consumer. */
async function consumeAll(topic: string): Promise<string[]> {
  const args = [
    join(SERVICES_DIR, 'kafka-console-consumer.sh'),
    '--bootstrap-server',
    serviceEnv('IOTSIM_KAFKA_BROKERS'),
    '--topic',
    topic,
    '--from-beginning',
    '--timeout-ms',
    '6000',
  ];
  let stdout: string;
  try {
    ({ stdout } = await run('bash', args, { maxBuffer: 1024 ** 3, timeout: 120_000 }));
  } catch (err) {
    // The consumer exits non-zero on its idle timeout; what it printed is the result.
    const e = err as { stdout?: string; stderr?: string };
    if (!e.stderr?.includes('Processed a total of')) throw err;
    stdout = e.stdout ?? '';
  }
  return stdout.split('\n').filter((l) => l !== '');
}

async function psql(sql: string): Promise<string> {
  const { stdout } = await run('psql', [serviceEnv('IOTSIM_PG_URL'), '-tAc', sql], {
    timeout: 60_000,
  });
  return stdout.trim();
}

/** Shows the last non-debug lines of a run's stderr (its summary) in the test output. */
function echoTail(label: string, stderr: string): void {
  const tail = stderr
    .split('\n')
    .filter((l) => !/ DEBUG /.test(l))
    .slice(-8);
  process.stderr.write(`${label}:\n${tail.join('\n')}\n`);
}

describe('Fault: Kafka broker stopped for 5 s mid-run, then started (kafka sink, real broker)', () => {
  const topic = `iotsim-reliability-${stamp}`;

  it('generated = delivered + dropped + failed exactly, nothing buffered; the topic holds exactly the delivered records (each once)', async () => {
    let outageS = 0;
    const { r, faultDone } = await runWithFault(
      'kafka',
      `simulator: {industries: [mining], update_rate_hz: 20, duration_s: 16, seed: 5}\n` +
        `sinks:\n  - {type: kafka, bootstrap_servers: '${serviceEnv('IOTSIM_KAFKA_BROKERS')}', topic: '${topic}', batch_size: 200, rate_hz: 5, retry_count: 30, retry_delay_s: 1}\n`,
      async () => {
        await sleep(2000);
        try {
          await serviceCtl('kafka', 'stop');
          const down = performance.now();
          await sleep(5100);
          outageS = (performance.now() - down) / 1000;
        } finally {
          await serviceCtl('kafka', 'start');
        }
      },
    );
    expect(faultDone).toBe(true);
    expect(outageS).toBeGreaterThanOrEqual(5);
    expect(r.timedOut).toBe(false);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    const m = parseSummary(r.stderr).get('kafka')!;
    echoTail('kafka fault run', r.stderr);
    expect(m).toBeDefined();
    expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
    expect(m.generated).toBeGreaterThan(0);
    // The outage was bridged by retries: nothing lost, and the run still exits 0.
    expect(m.retries).toBeGreaterThan(0);
    expect(m.failed).toBe(0);
    expect(r.code).toBe(0);
    const values = await consumeAll(topic);
    const keys = new Set(
      values.map((v) => recordKey(JSON.parse(v) as Parameters<typeof recordKey>[0])),
    );
    expect(keys.size).toBe(m.delivered);
    // Each once: a produce request that reached the broker just before it stopped, unacknowledged
    // and then retried, would show here as a duplicate.
    expect(values.length).toBe(m.delivered);
  });
});

describe('Fault: PostgreSQL restarted mid-run (database sink, real server)', () => {
  const table = `reliability_${stamp}`;
  afterAll(async () => {
    await psql(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  });

  it('generated = delivered + dropped + failed exactly, nothing buffered; the table holds exactly the delivered records (each once)', async () => {
    const before = Date.now() / 1000;
    const { r, faultDone } = await runWithFault(
      'postgres',
      `simulator: {industries: [mining], update_rate_hz: 20, duration_s: 10, seed: 6}\n` +
        `sinks:\n  - {type: database, connection_string: '\${IOTSIM_PG_URL}', table: ${table}, batch_size: 50, rate_hz: 20, retry_count: 30, retry_delay_s: 0.5}\n`,
      async () => {
        await sleep(2000);
        await serviceCtl('postgres', 'restart');
      },
    );
    expect(faultDone).toBe(true);
    // The server really restarted during the run.
    expect(
      Number(await psql('SELECT extract(epoch FROM pg_postmaster_start_time())')),
    ).toBeGreaterThan(before);
    expect(r.timedOut).toBe(false);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    const m = parseSummary(r.stderr).get('database')!;
    echoTail('postgres fault run', r.stderr);
    expect(m).toBeDefined();
    expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
    expect(m.failed).toBe(0);
    expect(r.code).toBe(0);
    const [rows, distinct] = (
      await psql(
        `SELECT count(*), count(DISTINCT (industry, device_id, sensor_name, "timestamp")) FROM ${table}`,
      )
    )
      .split('|')
      .map(Number);
    expect(distinct).toBe(m.delivered);
    expect(rows).toBe(m.delivered);
  });
});
