import { describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  Redactor,
  resolveThroughput,
  SinkRunner,
  splitSinkConfig,
} from '@iotsim/core';
import { DatabaseSink, type PostgresTarget } from '../src/index.js';
import { parseConnectionString, parseTableName } from '../src/options.js';

describe('connection strings', () => {
  it.each([
    ['sqlite+aiosqlite:///sensor_data.db', 'sensor_data.db'],
    ['sqlite+aiosqlite:///data/rel.db', 'data/rel.db'],
    ['sqlite+aiosqlite:////abs/path.db', '/abs/path.db'],
    ['sqlite:///path.db', 'path.db'],
    ['sqlite:////var/lib/x.db', '/var/lib/x.db'],
    ['sqlite+pysqlite:///x.db', 'x.db'],
    ['sqlite::memory:', ':memory:'],
    ['sqlite://', ':memory:'],
    ['sqlite:///:memory:', ':memory:'],
    ['sqlite+aiosqlite:///:memory:', ':memory:'],
  ])('%s is SQLite at %s', (url, path) => {
    expect(parseConnectionString(url)).toEqual({ dialect: 'sqlite', path });
  });

  it.each([
    [
      'postgresql+asyncpg://user:pass@host:5432/db',
      'postgresql://user:pass@host:5432/db',
      'host',
      5432,
      'db',
    ],
    [
      'postgresql+psycopg://u:p@10.0.0.1:6543/iot',
      'postgresql://u:p@10.0.0.1:6543/iot',
      '10.0.0.1',
      6543,
      'iot',
    ],
    ['postgresql+psycopg2://u@h/d', 'postgresql://u@h/d', 'h', 5432, 'd'],
    [
      'postgres://iotsim:iotsim-secret@127.0.0.1:15432/iotsim',
      'postgres://iotsim:iotsim-secret@127.0.0.1:15432/iotsim',
      '127.0.0.1',
      15432,
      'iotsim',
    ],
    [
      'postgresql://u:p@h:1/d?sslmode=require',
      'postgresql://u:p@h:1/d?sslmode=require',
      'h',
      1,
      'd',
    ],
  ])('%s is PostgreSQL', (url, normalized, host, port, database) => {
    const t = parseConnectionString(url) as PostgresTarget;
    expect(t).toMatchObject({ dialect: 'postgresql', url: normalized, host, port, database });
  });

  it('keeps multi-host URLs for postgres.js and names every host', () => {
    const t = parseConnectionString('postgresql://u:p@h1:5432,h2:5433/db') as PostgresTarget;
    expect(t).toMatchObject({
      url: 'postgresql://u:p@h1:5432,h2:5433/db',
      host: 'h1',
      address: 'h1:5432,h2:5433',
      database: 'db',
    });
  });

  it('decodes the user and password', () => {
    const t = parseConnectionString('postgresql://us%40er:p%3Ass@h/d') as PostgresTarget;
    expect(t.user).toBe('us@er');
    expect(t.password).toBe('p:ss');
    expect(t.address).toBe('h:5432');
  });

  it.each([
    'mysql+aiomysql://u:p@h/d',
    'mssql://h/d',
    'sensor_data.db',
    'file:./x.db',
    'sqlite:x.db',
    '',
  ])('rejects %j and lists the accepted forms', (url) => {
    const parsed = parseConnectionString(url);
    expect(parsed).toHaveProperty('problem');
    const problem = (parsed as { problem: string }).problem;
    expect(problem).toContain('postgresql://');
    expect(problem).toContain('sqlite:///');
    expect(problem).toContain('sqlite::memory:');
  });

  it('never puts the password of an unusable URL in the message', () => {
    const parsed = parseConnectionString('mysql://admin:hunter2-pw@db/x') as { problem: string };
    expect(parsed.problem).not.toContain('hunter2');
    const bad = parseConnectionString('postgresql://admin:hunter2-pw@[bad/x') as {
      problem: string;
    };
    expect(bad.problem).toBeDefined();
    expect(bad.problem).not.toContain('hunter2');
  });

  it('rejects query parameters on SQLite URLs', () => {
    expect(parseConnectionString('sqlite:///x.db?mode=ro')).toHaveProperty('problem');
  });
});

describe('table names', () => {
  it.each(['sensor_data', 'SensorData', '_t1', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(parseTableName(name, false)).toEqual({ schema: undefined, name });
  });

  it('accepts schema.table for PostgreSQL only', () => {
    expect(parseTableName('analytics.sensor_data', true)).toEqual({
      schema: 'analytics',
      name: 'sensor_data',
    });
    expect(parseTableName('analytics.sensor_data', false)).toHaveProperty('problem');
  });

  it.each([
    'x; DROP TABLE y',
    'x"; DROP TABLE y; --',
    "x'",
    '"quoted"',
    '`t`',
    '',
    ' ',
    'a'.repeat(64),
    '1table',
    'a.b.c',
    '.t',
    't.',
    'sensor-data',
    'sensor data',
    'tä',
  ])('rejects %j', (name) => {
    expect(parseTableName(name, true)).toHaveProperty('problem');
  });
});

describe('DatabaseSink options', () => {
  it('defaults to the original: SQLite sensor_data.db, table sensor_data', () => {
    const sink = new DatabaseSink();
    expect(sink.options.target).toEqual({ dialect: 'sqlite', path: 'sensor_data.db' });
    expect(sink.options.table).toEqual({ schema: undefined, name: 'sensor_data' });
    expect(sink.type).toBe('database');
    expect(new SinkRunner(sink).throughput.batchSize).toBe(100);
  });

  it('reads the original YAML keys', () => {
    // The registry splits one YAML mapping into the sink's options and the throughput beside it.
    const { throughput, own } = splitSinkConfig({
      connection_string: 'postgresql+asyncpg://user:pass@localhost/iot',
      table: 'sensor_readings',
      rate_hz: 1.0,
      batch_size: 200,
      max_buffer_size: 10000,
    });
    const sink = DatabaseSink.fromConfig(own);
    expect(sink.options.target).toMatchObject({
      dialect: 'postgresql',
      host: 'localhost',
      database: 'iot',
    });
    expect(sink.options.table.name).toBe('sensor_readings');
    expect(resolveThroughput(throughput)).toMatchObject({
      rateHz: 1,
      batchSize: 200,
      maxBufferSize: 10000,
    });
  });

  it('reports every problem at once, with YAML paths', () => {
    let error: unknown;
    try {
      DatabaseSink.fromConfig(
        { connection_string: 'oracle://x', table: 'x; DROP TABLE y', batch_size: 0, tabel: 'x' },
        'sinks[1].',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        'sinks[1].batch_size',
        'sinks[1].connection_string',
        'sinks[1].table',
        'sinks[1].tabel',
      ].sort(),
    );
    expect((error as Error).message).toContain("did you mean 'table'");
  });

  it('registers the password as a secret and keeps it out of describe()', () => {
    const sink = new DatabaseSink({
      connectionString: 'postgresql+asyncpg://writer:Zq9-very-secret@db.example:5433/plant',
      table: 'ops.readings',
    });
    expect(sink.describe()).toBe(
      'database (postgresql writer@db.example:5433/plant, table ops.readings)',
    );
    // Registered with the sink (its run redacts it everywhere), not process-wide.
    expect(sink.secrets).toEqual(['Zq9-very-secret']);
    expect(new Redactor().add(...sink.secrets).redact('failed with Zq9-very-secret inside')).toBe(
      'failed with *** inside',
    );
  });

  it('rejects throughput options among its own: they go beside the sink', () => {
    expect(
      () => new DatabaseSink({ connectionString: 'sqlite::memory:', batchSize: 5000 } as never),
    ).toThrow(
      "batchSize: is a throughput option: give it beside the sink (sim.addSink(sink, { batchSize: … })), not in the sink's options",
    );
  });
});
