import { afterEach, describe, expect, it } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  listIndustries,
  Simulator,
  type BackpressurePolicy,
  type Sink,
  type SinkMetrics,
  type ThroughputOptions,
  type WriteRequest,
} from '@iotsim/core';
import { WebhookSink } from '@iotsim/sink-webhook';
import {
  FlakySink,
  HangingSink,
  MemorySink,
  readParquetRows,
  SlowSink,
  tempDir,
} from '@iotsim/test-utils';
import { expectBalanced, recordKey, RecordingServer, type Reply } from './faults.js';
import { BIN, cli, parseSummary, STACK_FRAME } from './helpers.js';

const T0 = 1_700_000_000;
const MINING = 17; // sensors of the mining industry

const servers: RecordingServer[] = [];
async function server(reply: (n: number) => Reply): Promise<RecordingServer> {
  const s = await new RecordingServer(reply).start();
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** A backfill of `ticks` seconds of the mining industry (17 records per tick) into `sinks`. */
async function backfill(
  ticks: number,
  sinks: (Sink | [Sink, ThroughputOptions])[],
  shutdownTimeoutS = 10,
) {
  const sim = new Simulator({
    industries: ['mining'],
    seed: 1,
    start: T0,
    end: T0 + ticks,
    updateRateHz: 1,
    shutdownTimeoutS,
  });
  for (const s of sinks) {
    if (Array.isArray(s)) sim.addSink(s[0], s[1]);
    else sim.addSink(s);
  }
  return sim.run();
}

describe('Fault: webhook server answers HTTP 500 for a while, then 200', () => {
  it('generated = delivered + failed exactly with nothing buffered; the server holds exactly the delivered records', async () => {
    // The first 8 requests fail: batch 1 exhausts its 1 + 5 attempts, batch 2 succeeds on its third.
    const s = await server((n) => (n < 8 ? '500' : 'ok'));
    const sink = new WebhookSink({ url: s.url });
    const summary = await backfill(200, [
      [sink, { batchSize: 100, retryCount: 5, retryDelayS: 0.01 }],
    ]);
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.generated).toBe(200 * MINING);
    expect(m.failed).toBeGreaterThan(0);
    expect(m.retries).toBeGreaterThanOrEqual(7);
    expect(m.lastError).toMatch(/HTTP 500/);
    expect(s.held.length).toBe(m.delivered);
    expect(s.distinctHeld()).toBe(m.delivered);
  });
});

describe('Fault: webhook server that hangs (receives the request, never answers)', () => {
  it('timed-out requests are retried and counted once; the server also holds the records of the unanswered requests (at-least-once: they landed although the client saw a timeout)', async () => {
    const s = await server((n) => (n < 2 ? 'hang' : 'ok'));
    const sink = new WebhookSink({ url: s.url, timeoutS: 0.3 });
    const summary = await backfill(100, [
      [sink, { batchSize: 100, retryCount: 3, retryDelayS: 0.01 }],
    ]);
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.failed).toBe(0);
    expect(m.retries).toBe(2);
    expect(m.delivered).toBe(100 * MINING);
    // Explicit: the destination holds the delivered records plus duplicates of the unanswered ones.
    expect(s.unanswered.length).toBeGreaterThan(0);
    expect(s.held.length).toBe(m.delivered + s.unanswered.length);
    expect(s.distinctHeld()).toBe(m.delivered);
  });
});

describe('Fault: webhook server that resets the connection', () => {
  it('reset requests are retried; generated = delivered exactly and the server holds exactly the delivered records', async () => {
    const s = await server((n) => (n % 4 === 1 ? 'reset' : 'ok'));
    const sink = new WebhookSink({ url: s.url });
    const summary = await backfill(100, [
      [sink, { batchSize: 100, retryCount: 3, retryDelayS: 0.01 }],
    ]);
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.retries).toBeGreaterThan(0);
    expect(m.failed).toBe(0);
    expect(m.delivered).toBe(100 * MINING);
    expect(s.held.length).toBe(m.delivered);
    expect(s.distinctHeld()).toBe(m.delivered);
  });
});

describe('Fault: a sink whose write throws on every third call', () => {
  it('with retries, every record is delivered once: generated = delivered = records the sink holds', async () => {
    const sink = new FlakySink(3);
    const summary = await backfill(60, [[sink, { batchSize: 50, retryCount: 2, retryDelayS: 0 }]]);
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.retries).toBeGreaterThan(0);
    expect(m.failed).toBe(0);
    expect(sink.records.length).toBe(m.delivered);
    expect(new Set(sink.records.map(recordKey)).size).toBe(m.delivered);
  });

  it('without retries, every third batch is counted failed with its error; the sink holds exactly the delivered records', async () => {
    const sink = new FlakySink(3);
    const summary = await backfill(60, [[sink, { batchSize: 51, retryCount: 0 }]]);
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.failedBatches).toBe(Math.floor(sink.calls / 3));
    expect(m.failed).toBeGreaterThan(0);
    expect(m.lastError).toContain('injected failure');
    expect(sink.records.length).toBe(m.delivered);
  });
});

describe('Fault: a sink that never resolves (shutdown_timeout_s)', () => {
  it('real time: stop ends within the shutdown timeout and every undelivered record counts as failed', async () => {
    const sink = new HangingSink();
    const sim = new Simulator({
      industries: ['mining'],
      seed: 1,
      updateRateHz: 10,
      shutdownTimeoutS: 1,
    });
    sim.addSink(sink);
    const started = performance.now();
    const summary = await sim.run({ durationS: 0.5 });
    const seconds = (performance.now() - started) / 1000;
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.delivered).toBe(0);
    expect(m.failed).toBe(summary.records);
    expect(m.lastError).toMatch(/shutdown timeout of 1s/);
    expect(seconds).toBeLessThan(0.5 + 1 + 5); // bounded: duration + timeout + generous slack
    sink.release();
  });

  it('backfill: stop() while the generator waits for room still ends within the shutdown timeout', async () => {
    const sink = new HangingSink();
    const sim = new Simulator({
      industries: ['mining'],
      seed: 1,
      start: T0,
      end: T0 + 1000,
      updateRateHz: 1,
      shutdownTimeoutS: 1,
    });
    sim.addSink(sink, { maxBufferSize: 100, batchSize: 50 });
    const running = sim.run();
    await new Promise((r) => setTimeout(r, 200));
    const stopped = performance.now();
    sim.stop();
    const outcome = await Promise.race([
      running,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 8000)),
    ]);
    sink.release();
    expect(outcome).not.toBe('hung');
    const summary = outcome as Awaited<typeof running>;
    const m = summary.sinks[0]!;
    expectBalanced(m);
    expect(m.failed).toBe(m.generated);
    expect((performance.now() - stopped) / 1000).toBeLessThan(1 + 5);
  });

  it('CLI --shutdown-timeout 1 with a webhook that never answers: exits 1 in bounded time, all records failed; the server holds the records of the request that landed unanswered', async () => {
    const s = await server(() => 'hang');
    const dir = await tempDir();
    const config = join(dir.path, 'hang.yaml');
    writeFileSync(
      config,
      `simulator: {industries: [mining], update_rate_hz: 10}\nsinks:\n  - {type: webhook, url: '${s.url}', timeout_s: 60, retry_count: 0}\n`,
    );
    const r = await cli(['run', '-c', config, '-d', '0.5', '--shutdown-timeout', '1'], {
      timeoutMs: 20_000,
    });
    await dir.remove();
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    const m = parseSummary(r.stderr).get('webhook')!;
    expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
    expect(m.delivered).toBe(0);
    expect(m.failed).toBe(m.generated);
    expect(r.stderr).toMatch(/shutdown timeout of 1s reached/);
    // Explicit: records counted failed that the destination did receive (their response never came).
    expect(s.held.length).toBe(s.unanswered.length);
    expect(s.held.length).toBeLessThanOrEqual(m.failed);
  });
});

/** MemorySink that notes when its last write happened. */
class TimedMemorySink extends MemorySink {
  lastWriteAt = 0;
  override async write(request: WriteRequest): Promise<void> {
    await super.write(request);
    this.lastWriteAt = performance.now();
  }
}

describe('Backpressure: a slow sink beside a fast one, under each policy', () => {
  // 100 ticks/s × 17 sensors = 1,700 records/s for 1.5 s; the slow sink takes 50 records per 100 ms.
  const RATE = 100;
  const DURATION = 1.5;
  async function race(policy: BackpressurePolicy) {
    const slowOptions: ThroughputOptions = {
      batchSize: 50,
      maxBufferSize: 200,
      backpressure: policy,
    };
    const slow = new SlowSink(100);
    const fast = new TimedMemorySink();
    const sim = new Simulator({
      industries: ['mining'],
      seed: 1,
      updateRateHz: RATE,
      shutdownTimeoutS: 60,
    });
    sim.addSink(fast).addSink(slow, slowOptions);
    const started = performance.now();
    const summary = await sim.run({ durationS: DURATION });
    const [f, sl] = summary.sinks as [SinkMetrics, SinkMetrics];
    return { summary, fast, slow, f, sl, fastDoneS: (fast.lastWriteAt - started) / 1000 };
  }

  it('drop_oldest: the fast sink gets every record on time; the slow one drops the oldest, counted by reason, and holds exactly what it delivered', async () => {
    const { summary, slow, f, sl, fastDoneS } = await race('drop-oldest');
    expectBalanced(f);
    expectBalanced(sl);
    expect(summary.ticks).toBe(RATE * DURATION);
    expect(f.delivered).toBe(summary.records);
    expect(fastDoneS).toBeLessThan(DURATION + 1);
    expect(sl.dropped.oldest).toBeGreaterThan(0);
    expect(sl.dropped.newest).toBe(0);
    expect(slow.records.length).toBe(sl.delivered);
    // The newest records survive: the last tick reached the slow sink.
    expect(slow.records.at(-1)!.timestamp).toBe(summary.lastTimestamp);
  });

  it('drop_newest: the fast sink gets every record on time; the slow one drops the newest, counted by reason, and holds exactly what it delivered', async () => {
    const { summary, slow, f, sl, fastDoneS } = await race('drop-newest');
    expectBalanced(f);
    expectBalanced(sl);
    expect(summary.ticks).toBe(RATE * DURATION);
    expect(f.delivered).toBe(summary.records);
    expect(fastDoneS).toBeLessThan(DURATION + 1);
    expect(sl.dropped.newest).toBeGreaterThan(0);
    expect(sl.dropped.oldest).toBe(0);
    expect(slow.records.length).toBe(sl.delivered);
    expect(slow.records[0]!.timestamp).toBe(summary.firstTimestamp);
  });

  it('block: nothing is dropped anywhere; the generator (so the fast sink too) is slowed to the slow sink’s pace, and the run still ends at its duration, counting the ticks it could not make', async () => {
    const { summary, slow, fast, f, sl } = await race('block');
    expectBalanced(f);
    expectBalanced(sl);
    expect(f.dropped.total + sl.dropped.total).toBe(0);
    expect(f.delivered).toBe(summary.records);
    expect(sl.delivered).toBe(summary.records);
    expect(slow.records.length).toBe(summary.records);
    expect(fast.records.length).toBe(summary.records);
    // 2,550 records at 500 records/s take > 4 s: in 1.5 s the generator, waiting for the slow
    // sink, made fewer ticks than the rate asks, and the summary says how many it could not make.
    expect(summary.elapsedS).toBeLessThan(DURATION + 2);
    expect(summary.ticks).toBeLessThan(RATE * DURATION);
    expect(summary.ticksNotGenerated).toBe(RATE * DURATION - summary.ticks);
    expect(summary.lagMs.max).toBeGreaterThan(300);
  });
});

/** A backfill config for the CLI into a webhook at `url`. */
function webhookBackfill(
  dir: string,
  url: string,
  ticks: number,
  options: Record<string, number> = { batch_size: 1000, max_buffer_size: 50_000 },
): string {
  const file = join(dir, 'signal.yaml');
  const extra = Object.entries(options)
    .map(([k, v]) => `, ${k}: ${v}`)
    .join('');
  writeFileSync(
    file,
    `simulator: {industries: [mining], update_rate_hz: 1, seed: 3, start: ${T0}, end: ${T0 + ticks}}\n` +
      `sinks:\n  - {type: webhook, url: '${url}'${extra}}\n`,
  );
  return file;
}

describe('Signals: SIGINT during a large flush, SIGTERM, SIGHUP (a closed terminal), a second SIGINT', () => {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${signal} mid-backfill: drains the buffer, exit 0, generated = delivered exactly and the server holds exactly the delivered records`, async () => {
      const s = await server(() => ({ delayMs: 40 }));
      const dir = await tempDir();
      let sent = false;
      const r = await cli(['run', '-c', webhookBackfill(dir.path, s.url, 10_000)], {
        timeoutMs: 60_000,
        onSpawn: (child) =>
          void s.firstRequestSeen().then(() => {
            sent = true;
            child.kill(signal);
          }),
      });
      await dir.remove();
      expect(sent).toBe(true);
      expect({ code: r.code, timedOut: r.timedOut }).toEqual({ code: 0, timedOut: false });
      expect(r.stderr).toContain(`${signal}: stopping; draining every sink`);
      expect(r.stderr).toContain('(stopped early)');
      const m = parseSummary(r.stderr).get('webhook')!;
      expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
      expect(m.failed).toBe(0);
      expect(m.generated).toBeLessThan(10_000 * MINING);
      expect(m.delivered).toBeGreaterThan(1000);
      expect(s.held.length).toBe(m.delivered);
      expect(s.distinctHeld()).toBe(m.delivered);
    });
  }

  it('SIGINT into a backfill whose sink never answers: stops within --shutdown-timeout, exit 1, every record counted failed', async () => {
    const s = await server(() => 'hang');
    const dir = await tempDir();
    const started = performance.now();
    let signalled = 0;
    const r = await cli(
      [
        'run',
        '-c',
        // A small buffer: the generator is waiting for room when the signal comes.
        webhookBackfill(dir.path, s.url, 3000, {
          batch_size: 100,
          max_buffer_size: 500,
          timeout_s: 60,
        }),
        '--shutdown-timeout',
        '1',
      ],
      {
        timeoutMs: 30_000,
        onSpawn: (child) =>
          void s.firstRequestSeen().then(() => {
            signalled = performance.now();
            child.kill('SIGINT');
          }),
      },
    );
    await dir.remove();
    expect(r.timedOut).toBe(false);
    expect(signalled).toBeGreaterThan(started);
    expect(r.code).toBe(1);
    expect((performance.now() - signalled) / 1000).toBeLessThan(1 + 8);
    const m = parseSummary(r.stderr).get('webhook')!;
    expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
    expect(m.failed).toBe(m.generated);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('a second SIGINT exits at once (exit 1) and says how many records were not delivered, matching the summary', async () => {
    const s = await server(() => 'hang');
    const dir = await tempDir();
    let secondAt = 0;
    const r = await cli(['run', '-c', webhookBackfill(dir.path, s.url, 3000, { timeout_s: 60 })], {
      timeoutMs: 30_000,
      onSpawn: (child) =>
        void s.firstRequestSeen().then(() => {
          child.kill('SIGINT');
          setTimeout(() => {
            secondAt = performance.now();
            child.kill('SIGINT');
          }, 300);
        }),
    });
    const exitedAfterS = (performance.now() - secondAt) / 1000;
    await dir.remove();
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(exitedAfterS).toBeLessThan(3);
    const said = /SIGINT again: exiting now; (\d+) records were not delivered/.exec(r.stderr);
    expect(said).not.toBeNull();
    const m = parseSummary(r.stderr).get('webhook')!;
    expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
    expect(Number(said![1])).toBe(m.failed);
    expect(m.failed).toBeGreaterThan(0);
  });
});

/** Mounts a tmpfs of `size` at `dir` when the machine allows it (root); returns the unmount. */
function mountTinyTmpfs(dir: string, size: string): (() => void) | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return () => execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    return undefined;
  }
}

describe('Fault: disk full for the file sink (a 512 KiB tmpfs)', () => {
  it('a clear ENOSPC error naming the file, exit 1, failed counted; earlier rotated files intact and the files hold exactly the delivered records', async () => {
    const dir = await tempDir();
    const mnt = join(dir.path, 'mnt');
    mkdirSync(mnt);
    const unmount = mountTinyTmpfs(mnt, '512k');
    try {
      if (!unmount) {
        // Not root: no tmpfs. A directory path under /dev/full cannot even be created.
        const r = await cli([
          'run',
          '-s',
          'file',
          '-o',
          '/dev/full/out',
          '--start',
          String(T0),
          '--end',
          String(T0 + 10),
        ]);
        expect(r.code).toBe(2);
        expect(r.stderr).toContain('/dev/full/out');
        return;
      }
      const out = join(mnt, 'out');
      const config = join(dir.path, 'full.yaml');
      writeFileSync(
        config,
        `simulator: {industries: [mining], update_rate_hz: 1, seed: 1, start: ${T0}, end: ${T0 + 600}}\n` +
          `sinks:\n  - {type: file, path: '${out}', rotation: 1m, retry_count: 1, retry_delay_s: 0.01}\n`,
      );
      const r = await cli(['run', '-c', config], { timeoutMs: 60_000 });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /file sink: \S+sensor_data_\d{8}_\d{6}(_\d+)?\.csv: ENOSPC: no space left on device/,
      );
      expect(r.stderr).not.toMatch(STACK_FRAME);
      const m = parseSummary(r.stderr).get('file')!;
      expect(m.generated).toBe(600 * MINING);
      expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
      expect(m.failed).toBeGreaterThan(0);
      expect(m.delivered).toBeGreaterThan(0);
      const files = readdirSync(out).sort();
      const texts = files.map((f) => readFileSync(join(out, f), 'utf8'));
      // Every file: the header, then whole lines only (no torn line from the failed chunk).
      for (const t of texts) {
        expect(t.startsWith('sensor_name,industry,device_id,value')).toBe(true);
        expect(t.endsWith('\n')).toBe(true);
      }
      // Earlier files: complete minute windows (60 ticks × 17 records), before the one that filled up.
      const rows = texts.map((t) => t.split('\n').length - 2);
      const full = rows.filter((n) => n === 60 * MINING).length;
      expect(full).toBeGreaterThan(0);
      expect(rows.slice(1, 1 + full).every((n) => n === 60 * MINING)).toBe(true);
      // The files hold exactly the delivered records.
      expect(rows.reduce((a, b) => a + b, 0)).toBe(m.delivered);
      const keys = new Set(
        texts.flatMap((t) =>
          t
            .split('\n')
            .slice(1, -1)
            .map((l) => l.split(',').slice(0, 3).join() + l.split(',')[6]),
        ),
      );
      expect(keys.size).toBe(m.delivered);
    } finally {
      unmount?.();
      await dir.remove();
    }
  });
});

describe('Fault: disk full for the Parquet file sink (a 512 KiB tmpfs)', () => {
  it('records count as delivered only once a reader can read them: every file left is readable and holds exactly the delivered records; the lost file is failed, exit 1', async () => {
    const dir = await tempDir();
    const mnt = join(dir.path, 'mnt');
    mkdirSync(mnt);
    const unmount = mountTinyTmpfs(mnt, '512k');
    try {
      if (!unmount) return; // not root: the CSV variant above checks the no-tmpfs case
      const out = join(mnt, 'out');
      const config = join(dir.path, 'full.yaml');
      // The probe's case: all 16 industries, 10 minutes at 1 Hz, a file per minute.
      writeFileSync(
        config,
        `simulator: {industries: [${listIndustries().join(', ')}], update_rate_hz: 1, seed: 1, start: ${T0}, end: ${T0 + 600}}\n` +
          `sinks:\n  - {type: file, format: parquet, path: '${out}', rotation: 1m, retry_count: 1, retry_delay_s: 0.01}\n`,
      );
      const r = await cli(['run', '-c', config], { timeoutMs: 120_000 });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/sensor_data_\d{8}_\d{6}(_\d+)?\.parquet.*ENOSPC/);
      expect(r.stderr).not.toMatch(STACK_FRAME);
      const m = parseSummary(r.stderr).get('file')!;
      expect(m.generated).toBe(600 * 379);
      expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
      expect(m.failed).toBeGreaterThan(0);
      // Every file on the disk is readable by an independent reader (hyparquet), and together
      // they hold exactly the delivered records, each once.
      let rows = 0;
      const keys = new Set<string>();
      for (const f of readdirSync(out)) {
        const read = await readParquetRows(join(out, f));
        rows += read.length;
        for (const row of read)
          keys.add(`${String(row.device_id)}|${String(row.sensor_name)}|${String(row.timestamp)}`);
      }
      expect(rows).toBe(m.delivered);
      expect(keys.size).toBe(m.delivered);
    } finally {
      unmount?.();
      await dir.remove();
    }
  });
});

describe('Fault: two Delta writers create one table at once with different options', () => {
  it.each([
    ['two sinks of one run', 'sinks'],
    ['two processes started together', 'processes'],
  ])(
    '%s: one is refused at start with exit 2 naming the option; nothing of it is committed; the table keeps one layout',
    async (_name, how) => {
      const dir = await tempDir();
      try {
        const table = join(dir.path, 'table');
        const sim = `simulator: {industries: [mining], update_rate_hz: 1, seed: 1, start: ${T0}, end: ${T0 + 60}}\n`;
        const a = `  - {type: delta, table_path: '${table}', partition_by: [industry]}\n`;
        const b = `  - {type: delta, table_path: '${table}', timestamp_type: timestamp}\n`;
        const codes: number[] = [];
        let stderr = '';
        if (how === 'sinks') {
          writeFileSync(join(dir.path, 'both.yaml'), `${sim}sinks:\n${a}${b}`);
          const r = await cli(['run', '-c', join(dir.path, 'both.yaml')], { timeoutMs: 60_000 });
          codes.push(r.code ?? -1);
          stderr = r.stderr;
        } else {
          writeFileSync(join(dir.path, 'a.yaml'), `${sim}sinks:\n${a}`);
          writeFileSync(join(dir.path, 'b.yaml'), `${sim}sinks:\n${b}`);
          const rs = await Promise.all(
            ['a.yaml', 'b.yaml'].map((f) =>
              cli(['run', '-c', join(dir.path, f)], { timeoutMs: 60_000 }),
            ),
          );
          for (const r of rs) codes.push(r.code ?? -1);
          stderr = rs.map((r) => r.stderr).join('\n');
          expect(codes.sort()).toEqual([0, 2]);
        }
        expect(codes).toContain(2);
        expect(stderr).toMatch(
          /sinks\[\d\]\.(partition_by|timestamp_type): Delta table \S+: (the table is partitioned by|column timestamp is)/,
        );
        expect(stderr).not.toMatch(STACK_FRAME);
        // One metaData in the whole log: the loser committed nothing, not even a table.
        const log = readdirSync(join(table, '_delta_log')).filter((f) => f.endsWith('.json'));
        const metas = log.filter((f) =>
          readFileSync(join(table, '_delta_log', f), 'utf8').includes('"metaData"'),
        );
        expect(metas).toHaveLength(1);
        if (how === 'processes') {
          // The winner's run is all there: 60 ticks of mining, in its own layout only.
          const commits = log
            .map((f) => readFileSync(join(table, '_delta_log', f), 'utf8'))
            .join('\n');
          const rows = [...commits.matchAll(/\\"numRecords\\":(\d+)/g)].reduce(
            (n, m) => n + Number(m[1]),
            0,
          );
          expect(rows).toBe(60 * MINING);
        }
      } finally {
        await dir.remove();
      }
    },
  );
});

/** Runs the CLI and closes its stdout after the first chunk, as `iotsim … | head -1` does. */
function cliClosingStdout(
  args: readonly string[],
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, NODE_OPTIONS: '', IOTSIM_DEBUG: '' },
    });
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.once('data', () => child.stdout.destroy());
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('Fault: the reader of stdout goes away (`iotsim run --format json | head -1`)', () => {
  it('ends the console sink only: a file sink beside it gets the whole backfill, exit 0', async () => {
    const dir = await tempDir();
    try {
      const r = await cliClosingStdout([
        'run',
        '--format',
        'json',
        '-s',
        'console',
        '-s',
        'file',
        '-o',
        dir.path,
        '--start',
        String(T0),
        '--end',
        String(T0 + 3600),
        '--seed',
        '3',
      ]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(
        /console: the reader closed stdout after \d+ records; \d+ were not written to it/,
      );
      expect(r.stderr).not.toMatch(STACK_FRAME);
      const m = parseSummary(r.stderr);
      expect(m.get('file')).toMatchObject({
        generated: 7200 * MINING,
        delivered: 7200 * MINING,
        failed: 0,
      });
      const c = m.get('console')!;
      expect(c.generated).toBe(c.delivered + c.failed);
      const [file] = readdirSync(dir.path);
      expect(readFileSync(join(dir.path, file!), 'utf8').split('\n').length - 2).toBe(
        7200 * MINING,
      );
    } finally {
      await dir.remove();
    }
  });

  it('with only the console sink, the run stops early and quietly: exit 0, a summary', async () => {
    const r = await cliClosingStdout([
      'run',
      '--format',
      'json',
      '--start',
      String(T0),
      '--end',
      String(T0 + 86_400 * 30),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\(stopped early\)/);
    expect(r.stderr).toMatch(/console: the reader closed stdout/);
    expect(r.stderr).not.toMatch(/ERROR/);
  });
});

describe('Clocks: a real-time run ends at its duration whatever the rate', () => {
  it.each([
    ['a slow rate (--rate 0.01 -d 1): not stretched to the next tick, 100 s away', '0.01'],
    [
      'a rate below the timer resolution (--rate 1e-7 -d 1): no TimeoutOverflowWarning, no early end',
      '1e-7',
    ],
    [
      'a rate no process keeps (--rate 1e6 -d 1): ends at 1 s and says how many ticks it could not make',
      '1e6',
    ],
  ])('%s', async (_what, rate) => {
    const dir = await tempDir();
    try {
      const started = performance.now();
      const r = await cli(['run', '--rate', rate, '-d', '1', '-s', 'file', '-o', dir.path], {
        timeoutMs: 30_000,
      });
      const tookS = (performance.now() - started) / 1000;
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(0);
      expect(tookS).toBeGreaterThan(0.9);
      expect(tookS).toBeLessThan(15);
      expect(r.stderr).not.toMatch(/TimeoutOverflowWarning|TimeoutNegativeWarning/);
      const m = parseSummary(r.stderr).get('file')!;
      // At 1e6 ticks/s the default drop_oldest sheds what the sink cannot keep up with: counted.
      expect(m.generated).toBe(m.delivered + m.dropped + m.failed);
      expect(m.failed).toBe(0);
      if (rate === '1e6') {
        expect(r.stderr).toMatch(/ticks not generated: the run fell behind its rate/);
        expect(r.stderr).toMatch(
          /the run fell behind its rate: [\d,]+ of 1,000,000 ticks were not generated/,
        );
      }
    } finally {
      await dir.remove();
    }
  });
});
