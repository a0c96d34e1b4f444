// A SQLite database locked by another process, through the CLI: the file sink beside it keeps
// writing, and Ctrl-C (SIGINT) ends the run promptly with a summary.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseSink } from '@iotsim/sink-database';
import { tempDir } from '@iotsim/test-utils';
import { cli, parseSummary, sleep, STACK_FRAME } from './helpers.js';

const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3');

let dir: { path: string; remove: () => Promise<void> };
const lockers: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  dir = await tempDir('iotsim-sqlite-lock-cli-');
});
afterEach(() => {
  for (const child of lockers.splice(0)) child.kill('SIGKILL');
});
afterAll(async () => {
  await dir?.remove();
});

/** Another process (better-sqlite3 in `BEGIN EXCLUSIVE`) holding `file` until `release()`. */
async function holdLock(file: string): Promise<{ release: () => Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(${JSON.stringify(file)}, { timeout: 5000 });
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    const release = () => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); process.exit(0); };
    process.stdin.on('data', release);
    process.stdin.on('end', release);
    setTimeout(release, 30000).unref();
  `;
  const child = spawn(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  lockers.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const saw = async (word: string): Promise<void> => {
    for (let i = 0; i < 200 && !out.includes(word); i++) await sleep(25);
    if (!out.includes(word)) throw new Error(`locker did not say '${word}'`);
  };
  await saw('locked');
  return {
    async release() {
      child.stdin.write('go\n');
      await saw('released');
    },
  };
}

/** Total bytes of the files in `path` (0 when it does not exist yet). */
function bytesIn(path: string): number {
  try {
    return readdirSync(path).reduce((n, f) => n + statSync(join(path, f)).size, 0);
  } catch {
    return 0;
  }
}

describe('CLI: -s database on a SQLite file locked by another process, beside -s file', () => {
  it('keeps the file sink writing, and SIGINT exits within ~2 s with a summary', async () => {
    const db = join(dir.path, 'sensor_data.db');
    const out = join(dir.path, 'out');
    // The table exists (as after an earlier run); then another process locks the file.
    const setup = new DatabaseSink({ connectionString: `sqlite:///${db}` });
    await setup.connect();
    await setup.close();
    const lock = await holdLock(db);

    let sigintAt = 0;
    let grewWhileLocked = 0;
    let sawLockWarning = false;
    const r = await cli(
      ['run', '-s', 'database', '-s', 'file', '-o', out, '--rate', '10', '--shutdown-timeout', '1'],
      {
        cwd: dir.path, // `-s database` writes sqlite+aiosqlite:///sensor_data.db, relative to cwd
        timeoutMs: 20_000,
        onStderr: (text) => {
          if (/sensor_data\.db is locked by another process \(SQLITE_BUSY/.test(text))
            sawLockWarning = true;
        },
        onSpawn: (child) => {
          void (async () => {
            for (let i = 0; i < 200 && bytesIn(out) === 0; i++) await sleep(50);
            const first = bytesIn(out);
            await sleep(1500);
            grewWhileLocked = bytesIn(out) - first;
            sigintAt = performance.now();
            child.kill('SIGINT');
          })();
        },
      },
    );
    const exitMs = performance.now() - sigintAt;
    await lock.release();
    process.stderr.write(
      `sqlite lock via CLI: file sink grew ${grewWhileLocked} bytes in 1.5 s while locked; exit ${exitMs.toFixed(0)} ms after SIGINT\n`,
    );

    expect(r.timedOut).toBe(false);
    expect(sigintAt).toBeGreaterThan(0);
    expect(exitMs).toBeLessThan(2500);
    expect(grewWhileLocked).toBeGreaterThan(0);
    expect(sawLockWarning).toBe(true);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(r.stderr).toContain('SIGINT: stopping');
    expect(r.stderr).toMatch(/run summary: .*\(stopped early\)/);
    const summary = parseSummary(r.stderr);
    const file = summary.get('file')!;
    const database = summary.get('database')!;
    expect(file).toBeDefined();
    expect(database).toBeDefined();
    // The file sink delivered everything; the locked database delivered nothing and says so.
    expect(file.generated).toBeGreaterThan(0);
    expect(file.delivered).toBe(file.generated);
    expect(file.failed).toBe(0);
    expect(database.generated).toBe(file.generated);
    expect(database.generated).toBe(database.delivered + database.dropped + database.failed);
    expect(database.retries).toBeGreaterThan(0);
    expect(database.failed).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    // Nothing half-written: the table holds exactly what the summary says was delivered.
    const check = new Database(db, { readonly: true });
    const { n } = check.prepare<[], { n: number }>('SELECT count(*) AS n FROM sensor_data').get()!;
    check.close();
    expect(n).toBe(database.delivered);
  }, 40_000);
});
