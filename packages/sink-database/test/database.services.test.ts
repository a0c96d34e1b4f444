import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import postgres from 'postgres';
import {
  SensorRecord,
  SinkConnectError,
  SinkRunner,
  SinkWriteError,
  type SensorRecordDict,
} from '@iotsim/core';
import {
  describeSinkConformance,
  dicts,
  expectAccounting,
  makeRecords,
  runThrough,
  serviceCtl,
  serviceEnv,
} from '@iotsim/test-utils';
import { DatabaseSink } from '../src/index.js';
import { rowToDict, writeRequest, type SensorRow } from './helpers.js';

const run = promisify(execFile);
const PG_URL = serviceEnv('IOTSIM_PG_URL');
/** host:port/database of the harness's server, as the sink's messages name it. */
const WHERE = `${new URL(PG_URL).host}${new URL(PG_URL).pathname}`;
const prefix = `iotsim_t${process.pid}_`;
let tableCount = 0;
const freshTable = (): string => `${prefix}${++tableCount}`;

// An independent reader: its own postgres.js client, not the sink's.
let reader: postgres.Sql;
beforeAll(() => {
  reader = postgres(PG_URL, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  const tables = await reader<{ name: string }[]>`
    select schemaname || '.' || tablename as name from pg_tables where tablename like ${`${prefix}%`}`;
  for (const { name } of tables) {
    const [schema, table] = name.split('.');
    await reader`drop table if exists ${reader(schema!)}.${reader(table!)}`;
  }
  await reader`drop schema if exists ${reader(`${prefix}schema`)} cascade`;
  await reader.end();
});

// A heap table keeps no insertion order (a later COPY may fill free space in an earlier page), so
// rows are compared in a canonical order: by (industry, device, sensor, timestamp), unique per record.
const key = (d: SensorRecordDict): string =>
  `${d.industry}|${d.device_id}|${d.sensor_name}|${d.timestamp}`;
const canonical = (ds: SensorRecordDict[]): SensorRecordDict[] =>
  [...ds].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

async function readTable(table: string, schema = 'public'): Promise<SensorRecordDict[]> {
  const rows = await reader<SensorRow[]>`select * from ${reader(schema)}.${reader(table)}`;
  return canonical(rows.map(rowToDict));
}

const expected = (records: readonly SensorRecord[]): SensorRecordDict[] =>
  canonical(dicts(records));

async function psql(query: string): Promise<string> {
  const { stdout } = await run('psql', [PG_URL, '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', query]);
  return stdout.trim();
}

const withPassword = (password: string): string => {
  const url = new URL(PG_URL);
  url.password = password;
  return url.toString();
};

describeSinkConformance('database (PostgreSQL)', {
  create() {
    return new DatabaseSink({ connectionString: PG_URL, table: freshTable() });
  },
  async readBack(sink) {
    return readTable(sink.options.table.name);
  },
  ordered: false,
});

describe('database sink on PostgreSQL', () => {
  it('stores every field exactly; metadata is jsonb and queryable', async () => {
    const table = freshTable();
    const records = makeRecords(700, { seed: 31 });
    const sink = new DatabaseSink({
      connectionString: PG_URL.replace('postgres://', 'postgresql+asyncpg://'),
      table,
    });
    const m = await runThrough(sink, records, { throughput: { batchSize: 256 } });
    expect(m.delivered).toBe(700);
    expect(await readTable(table)).toEqual(expected(records));

    const awkward = records.filter((r) => r.metadata.site === 'Zürich, line 3').length;
    expect(awkward).toBeGreaterThan(0);
    expect(
      await psql(`select count(*) from "${table}" where metadata->>'site' = 'Zürich, line 3'`),
    ).toBe(String(awkward));
    expect(await psql(`select count(*) from "${table}" where (metadata->>'asset')::int = 42`)).toBe(
      String(awkward),
    );
    expect(await psql(`select distinct jsonb_typeof(metadata) from "${table}"`)).toBe('object');
    expect(
      await psql(
        `select format_type(atttypid, atttypmod) from pg_attribute where attrelid = '"${table}"'::regclass and attname in ('metadata', 'timestamp', 'fault_active') order by attnum`,
      ),
    ).toBe('double precision\nboolean\njsonb');
    expect(await psql(`select indexdef from pg_indexes where tablename = '${table}'`)).toContain(
      `USING btree ("timestamp")`,
    );
  });

  it('reuses an existing table across two sinks, appending', async () => {
    const table = freshTable();
    const first = makeRecords(120, { seed: 1 });
    const second = makeRecords(80, { seed: 2, start: 1_800_000_000 });
    await runThrough(new DatabaseSink({ connectionString: PG_URL, table }), first);
    await runThrough(new DatabaseSink({ connectionString: PG_URL, table }), second);
    expect(await readTable(table)).toEqual(expected([...first, ...second]));
  });

  it('writes to schema.table, and names a missing schema', async () => {
    const schema = `${prefix}schema`;
    await reader`create schema if not exists ${reader(schema)}`;
    const table = freshTable();
    const records = makeRecords(60, { seed: 4 });
    await runThrough(
      new DatabaseSink({ connectionString: PG_URL, table: `${schema}.${table}` }),
      records,
    );
    expect(await readTable(table, schema)).toEqual(expected(records));

    const sink = new DatabaseSink({ connectionString: PG_URL, table: `${prefix}nope.${table}` });
    await expect(sink.connect()).rejects.toThrow(`schema "${prefix}nope" does not exist`);
  });

  it('rejects a table of a different shape, naming the missing columns', async () => {
    const table = freshTable();
    await reader`create table ${reader(table)} (sensor_name text, value double precision, timestamp timestamptz)`;
    const sink = new DatabaseSink({ connectionString: PG_URL, table });
    const error = await sink.connect().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkConnectError);
    const message = (error as Error).message;
    expect(message).toContain(`table "${table}" in ${WHERE} exists with a different shape`);
    expect(message).toContain(
      'missing columns industry, device_id, unit, sensor_type, min_value, max_value, nominal_value, fault_active, metadata',
    );
    expect(message).toContain(
      'column timestamp is timestamp with time zone, iotsim writes double precision',
    );
    expect(await reader`select 1 from pg_indexes where tablename = ${table}`).toHaveLength(0);
  });

  it('writes each batch in one COPY: a rejected row rolls back its batch, and the next batch works', async () => {
    const table = freshTable();
    const setup = new DatabaseSink({ connectionString: PG_URL, table });
    await setup.connect();
    await setup.close();
    await reader.unsafe(`
      create function "${table}_poison"() returns trigger language plpgsql as $$
      begin
        if new.sensor_name = 'poison' then raise exception 'poison row rejected'; end if;
        return new;
      end $$;
      create trigger poison before insert on "${table}" for each row execute function "${table}_poison"();`);

    const good = makeRecords(100, { seed: 5, awkward: false });
    const poison = new SensorRecord('poison', 'x', 'x-001', 1, 'u', 'status', 2e9, 0, 1, 0, false);
    const sink = new DatabaseSink({ connectionString: PG_URL, table });
    await sink.connect();
    await sink.write(writeRequest(good.slice(0, 50)));
    // postgres.js alone would never settle this COPY (porsager/postgres#1173): it must reject.
    const error = await sink
      .write(writeRequest([...good.slice(50, 60), poison, ...good.slice(60, 70)]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkWriteError);
    expect((error as SinkWriteError).retryable).toBe(false);
    expect((error as Error).message).toContain('poison row rejected');
    await sink.write(writeRequest(good.slice(70, 100)));
    await sink.close();
    expect(await readTable(table)).toEqual(
      expected([...good.slice(0, 50), ...good.slice(70, 100)]),
    );
    await reader.unsafe(`drop table "${table}"; drop function "${table}_poison"()`);
  });

  it('fails to connect with host:port/database and the fix, never the password', async () => {
    const refused = new DatabaseSink({
      connectionString: 'postgresql+asyncpg://iotsim:Pw-refused-1@127.0.0.1:1/iotsim',
    });
    const e1 = (await refused.connect().catch((e: unknown) => e)) as Error;
    expect(e1).toBeInstanceOf(SinkConnectError);
    expect(e1.message).toContain('127.0.0.1:1/iotsim: connection refused');
    expect(e1.message).toContain('is the server running');
    expect(e1.message).not.toContain('Pw-refused-1');

    const badAuth = new DatabaseSink({ connectionString: withPassword('Wrong-pass-9') });
    const e2 = (await badAuth.connect().catch((e: unknown) => e)) as Error;
    expect(e2).toBeInstanceOf(SinkConnectError);
    expect(e2.message).toContain(`password authentication failed for user "iotsim" at ${WHERE}`);
    expect(e2.message).not.toContain('Wrong-pass-9');

    const url = new URL(PG_URL);
    url.pathname = '/no_such_db';
    const noDb = new DatabaseSink({ connectionString: url.toString() });
    const e3 = (await noDb.connect().catch((e: unknown) => e)) as Error;
    expect(e3).toBeInstanceOf(SinkConnectError);
    expect(e3.message).toContain('database "no_such_db" does not exist');
  });

  it('fails batches while the server is down (retryable, no hang) and writes again once it is back', async () => {
    const table = freshTable();
    const records = makeRecords(30, { seed: 6 });
    const sink = new DatabaseSink({ connectionString: PG_URL, table });
    await sink.connect();
    await sink.write(writeRequest(records.slice(0, 10)));
    await serviceCtl('postgres', 'stop');
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const error = await sink
          .write(writeRequest(records.slice(10, 20)))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SinkWriteError);
        expect((error as SinkWriteError).retryable).toBe(true);
        expect((error as Error).message).toContain(WHERE);
      }
    } finally {
      await serviceCtl('postgres', 'start');
    }
    await sink.write(writeRequest(records.slice(10, 30)));
    await sink.close();
    expect(await readTable(table)).toEqual(expected(records));
  });

  it('survives a server restart mid-run: retries, exact accounting, the table holds what was delivered', async () => {
    const table = freshTable();
    const sink = new DatabaseSink({ connectionString: PG_URL, table });
    const runner = new SinkRunner(sink, {
      throughput: {
        batchSize: 500,
        backpressure: 'block',
        maxBufferSize: 5000,
        retryCount: 60,
        retryDelayS: 0.25,
      },
    });
    await runner.start();
    const records = makeRecords(150_000, {
      seed: 9,
      industries: ['mining', 'aerospace', 'utilities'],
    });
    // Write at ~12,500 records/s and keep writing until the restart is over, then 5,000 more.
    let restarted: Promise<void> | undefined;
    let backAt: number | undefined;
    let sent = 0;
    while (sent < records.length && (backAt === undefined || sent < backAt + 5_000)) {
      await runner.enqueue(records.slice(sent, sent + 250), true);
      sent += 250;
      if (!restarted && runner.metrics().delivered >= 5_000) {
        restarted = serviceCtl('postgres', 'restart').then(() => {
          backAt = sent;
        });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await restarted;
    expect(backAt).toBeDefined();
    await runner.stop(120);
    const m = runner.metrics();
    expectAccounting(m);
    const [row] = await reader<{ count: string }[]>`
      select count(*)::text as count from ${reader(table)}`;
    const count = row!.count;
    const outcome = {
      generated: m.generated,
      delivered: m.delivered,
      failed: m.failed,
      rows: Number(count),
      retried: m.retries > 0,
    };
    if (!outcome.retried || outcome.rows !== m.delivered) console.log('restart run:', m);
    expect(outcome).toEqual({
      generated: sent,
      delivered: sent,
      failed: 0,
      rows: sent,
      retried: true,
    });
    expect(sent).toBeLessThan(records.length);
    expect(await readTable(table)).toEqual(expected(records.slice(0, sent)));
  });
});
