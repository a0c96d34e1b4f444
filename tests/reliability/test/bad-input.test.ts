import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@iotsim/test-utils';
import { cli, limiter, STACK_FRAME, type CliResult } from './helpers.js';

/**
 * One malformed input. `yaml` is written to `<case>/config.yaml` and run with `run -c`; `files`
 * are written beside it (CSV sensor files); `args` are CLI arguments (`{dir}` is the case folder).
 * `expect` lists what the message must contain to name the input (the config file is added for
 * YAML cases).
 */
interface Case {
  what: string;
  yaml?: string;
  files?: Record<string, string>;
  args?: string[];
  expect: (string | RegExp)[];
}

const SENSOR = 'sensor_type: temperature, unit: C, min_value: 0, max_value: 10, nominal_value: 5';
const custom = (sensors: string): string =>
  `custom_sensors: {industry: plant, sensors: [${sensors}]}`;
const sink = (body: string): string => `sinks:\n  - ${body}`;
const CSV_HEADER = 'name,sensor_type,unit,min_value,max_value,nominal_value';
const csvCase = (what: string, text: string, expect: (string | RegExp)[]): Case => ({
  what,
  yaml: 'custom_sensors: {industry: plant, csv: sensors.csv}',
  files: { 'sensors.csv': text },
  expect: ['sensors.csv', ...expect],
});

const YAML_CASES: Case[] = [
  {
    what: 'syntax error: unclosed flow sequence',
    yaml: 'simulator: [a\nsinks: ',
    expect: ['config.yaml:2', 'YAML syntax error'],
  },
  {
    what: 'syntax error: tab indentation',
    yaml: 'simulator:\n\tupdate_rate_hz: 1',
    expect: ['config.yaml:2', 'tab'],
  },
  {
    what: 'syntax error: duplicate key',
    yaml: 'simulator: {update_rate_hz: 1, update_rate_hz: 2}',
    expect: ['config.yaml:1', 'duplicate'],
  },
  {
    what: 'syntax error: unterminated quoted string',
    yaml: 'simulator:\n  log_level: "INFO\n',
    expect: ['config.yaml:', 'YAML syntax error'],
  },
  { what: 'document is a scalar', yaml: '42', expect: ['must be a YAML mapping'] },
  { what: 'document is a list', yaml: '- a\n- b', expect: ['must be a YAML mapping', 'a list'] },
  {
    what: 'unknown top-level key, with did-you-mean',
    yaml: 'simulatr: {}',
    expect: ["simulatr: unknown option (did you mean 'simulator'?)"],
  },
  {
    what: 'simulator is a list',
    yaml: 'simulator: [1, 2]',
    expect: ['simulator: must be a mapping'],
  },
  {
    what: 'wrong type: rate is text',
    yaml: 'simulator: {update_rate_hz: fast}',
    expect: ['simulator.update_rate_hz: must be a number, got "fast"'],
  },
  {
    what: 'negative rate',
    yaml: 'simulator: {update_rate_hz: -1}',
    expect: ['simulator.update_rate_hz: must be > 0, got -1'],
  },
  {
    what: 'zero rate',
    yaml: 'simulator: {update_rate_hz: 0}',
    expect: ['simulator.update_rate_hz: must be > 0, got 0'],
  },
  {
    what: 'infinite rate (.inf)',
    yaml: 'simulator: {update_rate_hz: .inf}',
    expect: ['simulator.update_rate_hz: must be a finite number, got infinity (.inf)'],
  },
  {
    what: 'unknown simulator key, with did-you-mean',
    yaml: 'simulator: {update_rat_hz: 2}',
    expect: ["simulator.update_rat_hz: unknown option (did you mean 'update_rate_hz'?)"],
  },
  {
    what: 'zero duration',
    yaml: 'simulator: {duration_s: 0}',
    expect: ['simulator.duration_s: must be > 0'],
  },
  {
    what: 'negative duration',
    yaml: 'simulator: {duration_s: -5}',
    expect: ['simulator.duration_s: must be > 0, got -5'],
  },
  {
    what: 'unknown log level',
    yaml: 'simulator: {log_level: LOUD}',
    expect: ['simulator.log_level', 'LOUD'],
  },
  {
    what: 'negative seed',
    yaml: 'simulator: {seed: -1}',
    expect: ['simulator.seed: must be >= 0'],
  },
  {
    what: 'fractional seed',
    yaml: 'simulator: {seed: 1.5}',
    expect: ['simulator.seed: must be a whole number'],
  },
  {
    what: 'unparseable start time',
    yaml: 'simulator: {start: yesterday, end: now}',
    expect: ['simulator.start', 'yesterday'],
  },
  {
    what: 'end before start',
    yaml: "simulator: {start: '2024-01-02T00:00:00Z', end: '2024-01-01T00:00:00Z'}",
    expect: ['simulator.end: must be after simulator.start'],
  },
  {
    what: 'end without start',
    yaml: "simulator: {end: '2024-01-01T00:00:00Z'}",
    expect: ['simulator.start: is required'],
  },
  {
    what: 'zero devices per industry',
    yaml: 'simulator: {devices_per_industry: 0}',
    expect: ['simulator.devices_per_industry: must be >= 1'],
  },
  {
    what: 'zero shutdown timeout',
    yaml: 'simulator: {shutdown_timeout_s: 0}',
    expect: ['simulator.shutdown_timeout_s: must be > 0'],
  },
  {
    what: 'unknown industry, with did-you-mean',
    yaml: 'simulator: {industries: [minning]}',
    expect: ["simulator.industries[0]: unknown industry 'minning': did you mean 'mining'?"],
  },
  {
    what: 'industries is a number',
    yaml: 'simulator: {industries: 42}',
    expect: ['simulator.industries: must be a list of strings'],
  },
  {
    what: 'custom sensor min > max',
    yaml: custom(
      '{name: a, sensor_type: temperature, unit: C, min_value: 10, max_value: 1, nominal_value: 5}',
    ),
    expect: ['custom_sensors.sensors[0].min_value: must be <= max_value (1), got 10'],
  },
  {
    what: 'custom sensor nominal outside its range',
    yaml: custom(
      '{name: a, sensor_type: temperature, unit: C, min_value: 0, max_value: 10, nominal_value: 50}',
    ),
    expect: ['custom_sensors.sensors[0].nominal_value: must lie within [0, 10], got 50'],
  },
  {
    what: 'duplicate custom sensor names',
    yaml: custom(`{name: a, ${SENSOR}}, {name: a, ${SENSOR}}`),
    expect: ["custom_sensors.sensors[1].name: duplicate sensor name 'a'"],
  },
  {
    what: 'custom sensor without unit',
    yaml: custom(
      '{name: a, sensor_type: temperature, min_value: 0, max_value: 10, nominal_value: 5}',
    ),
    expect: ['custom_sensors.sensors[0].unit: is required'],
  },
  {
    what: 'custom sensor with empty name',
    yaml: custom(`{name: '', ${SENSOR}}`),
    expect: ['custom_sensors.sensors[0].name: is required'],
  },
  {
    what: 'unknown sensor type, with did-you-mean',
    yaml: custom(
      '{name: a, sensor_type: temprature, unit: C, min_value: 0, max_value: 10, nominal_value: 5}',
    ),
    expect: ['custom_sensors.sensors[0].sensor_type', "did you mean 'temperature'?"],
  },
  {
    what: 'negative noise_std',
    yaml: custom(`{name: a, ${SENSOR}, noise_std: -1}`),
    expect: ['custom_sensors.sensors[0].noise_std: must be >= 0, got -1'],
  },
  {
    what: 'anomaly probability above 1',
    yaml: custom(`{name: a, ${SENSOR}, anomaly_probability: 1.5}`),
    expect: ['custom_sensors.sensors[0].anomaly_probability: must be <= 1'],
  },
  {
    what: 'zero cycle period',
    yaml: custom(`{name: a, ${SENSOR}, cyclic: true, cycle_period_seconds: 0}`),
    expect: ['custom_sensors.sensors[0].cycle_period_seconds: must be > 0'],
  },
  {
    what: 'unknown sensor key, with did-you-mean',
    yaml: custom(`{name: a, ${SENSOR}, nosie_std: 1}`),
    expect: ["custom_sensors.sensors[0].nosie_std: unknown option (did you mean 'noise_std'?)"],
  },
  {
    what: 'metadata tag that is a mapping',
    yaml: custom(`{name: a, ${SENSOR}, metadata: {site: {x: 1}}}`),
    expect: ['custom_sensors.sensors[0].metadata.site'],
  },
  {
    what: 'custom industry label that is built in',
    yaml: `custom_sensors: {industry: mining, sensors: [{name: a, ${SENSOR}}]}`,
    expect: ["custom_sensors.industry: 'mining' is a built-in industry"],
  },
  {
    what: 'custom sensors is not a list',
    yaml: 'custom_sensors: {industry: plant, sensors: 5}',
    expect: ['custom_sensors.sensors: must be a list of sensors'],
  },
  {
    what: 'custom sensor entry is a scalar',
    yaml: 'custom_sensors: {industry: plant, sensors: [hello]}',
    expect: ['custom_sensors.sensors[0]: must be a mapping'],
  },
  {
    what: 'custom sensor group without sensors',
    yaml: 'custom_sensors: {industry: plant}',
    expect: ['custom_sensors.sensors: is required'],
  },
  {
    what: 'sinks is a mapping',
    yaml: 'sinks: {type: console}',
    expect: ['sinks: must be a list of sink mappings'],
  },
  {
    what: 'sink entry is a string',
    yaml: sink('kafka'),
    expect: ['sinks[0]: must be a mapping with a type'],
  },
  { what: 'sink without type', yaml: sink('{rate_hz: 1}'), expect: ['sinks[0].type: is required'] },
  {
    what: 'unknown sink type',
    yaml: sink('{type: kafak}'),
    expect: ["sinks[0].type: unknown sink type 'kafak'; known types: console, kafka"],
  },
  {
    what: 'webhook without url',
    yaml: sink('{type: webhook}'),
    expect: ['sinks[0].url: is required'],
  },
  {
    what: 'webhook url that is not a URL',
    yaml: sink("{type: webhook, url: 'not a url'}"),
    expect: ['sinks[0].url: is not a valid URL'],
  },
  {
    what: 'webhook ftp url',
    yaml: sink("{type: webhook, url: 'ftp://127.0.0.1/x'}"),
    expect: ['sinks[0].url: must be an http:// or https:// URL'],
  },
  {
    what: 'azure_iot without connection_string',
    yaml: sink('{type: azure_iot}'),
    expect: ['sinks[0].connection_string: is required'],
  },
  {
    what: 'azure_iot connection string without HostName',
    yaml: sink("{type: azure_iot, connection_string: 'DeviceId=d1;SharedAccessKey=abc'}"),
    expect: ['sinks[0].connection_string', 'HostName'],
  },
  {
    what: 'zerobus without table_name',
    yaml: sink('{type: zerobus, server_endpoint: 127.0.0.1:1}'),
    expect: ['sinks[0].table_name: is required'],
  },
  {
    what: 'aws_iot without endpoint',
    yaml: sink('{type: aws_iot}'),
    expect: ['sinks[0].endpoint: is required'],
  },
  {
    what: 'database with an unknown URL scheme',
    yaml: sink("{type: database, connection_string: 'mysql://u@127.0.0.1/db'}"),
    expect: ['sinks[0].connection_string'],
  },
  {
    what: 'kafka broker that is not host:port',
    yaml: sink("{type: kafka, bootstrap_servers: 'a:b:c'}"),
    expect: ["sinks[0].bootstrap_servers: 'a:b:c' is not host:port"],
  },
  {
    what: 'delta partition column that does not exist',
    yaml: sink('{type: delta, table_path: /tmp/x, partition_by: [industy]}'),
    expect: ['sinks[0].partition_by', "'industy'"],
  },
  {
    what: 'file rotation 7x',
    yaml: sink('{type: file, path: out, rotation: 7x}'),
    expect: ['sinks[0].rotation', '"7x"'],
  },
  {
    what: 'file format xml, with did-you-mean',
    yaml: sink('{type: file, path: out, format: jsn}'),
    expect: ['sinks[0].format', "did you mean 'json'?"],
  },
  {
    what: 'bad backpressure value',
    yaml: sink('{type: console, backpressure: fast}'),
    expect: ['sinks[0].backpressure: must be drop_oldest, drop_newest or block, got "fast"'],
  },
  {
    what: 'negative sink rate_hz',
    yaml: sink('{type: console, rate_hz: -1}'),
    expect: ['sinks[0].rate_hz: must be > 0, got -1'],
  },
  {
    what: 'zero batch_size',
    yaml: sink('{type: console, batch_size: 0}'),
    expect: ['sinks[0].batch_size: must be >= 1, got 0'],
  },
  {
    what: 'fractional batch_size',
    yaml: sink('{type: console, batch_size: 2.5}'),
    expect: ['sinks[0].batch_size: must be a whole number'],
  },
  {
    what: 'zero max_buffer_size',
    yaml: sink('{type: console, max_buffer_size: 0}'),
    expect: ['sinks[0].max_buffer_size: must be >= 1'],
  },
  {
    what: 'negative retry_count',
    yaml: sink('{type: console, retry_count: -1}'),
    expect: ['sinks[0].retry_count: must be >= 0'],
  },
  {
    what: 'unknown sink option, with did-you-mean',
    yaml: sink('{type: console, batchsize: 10}'),
    expect: ["sinks[0].batchsize: unknown option (did you mean 'batch_size'?)"],
  },
  {
    what: 'missing environment variable',
    yaml: sink(
      "{type: webhook, url: 'http://127.0.0.1:9/', headers: {Authorization: 'Bearer ${IOTSIM_RELIABILITY_UNSET_VAR}'}}",
    ),
    expect: ['IOTSIM_RELIABILITY_UNSET_VAR', 'is not set'],
  },
  {
    what: 'several problems at once, all reported',
    yaml: 'simulator: {update_rate_hz: -1}\nsinks:\n  - {type: kafak}\n  - {type: webhook}',
    expect: [
      '3 configuration problems',
      'simulator.update_rate_hz',
      'sinks[0].type',
      'sinks[1].url',
    ],
  },
  {
    what: 'a "billion laughs" YAML (9 levels of 9 aliases: 387 M values) is refused before any expansion',
    yaml: ['a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]']
      .concat(
        [...'bcdefghi'].map(
          (x, i) => `${x}: &${x} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`,
        ),
      )
      .join('\n'),
    expect: [
      'config.yaml: the YAML document expands to more than 1,000,000 values through aliases',
    ],
  },
  {
    what: 'a YAML alias inside its own anchor',
    yaml: 'simulator: &s\n  again: *s',
    expect: ['config.yaml: the YAML document refers to itself through an alias'],
  },
  {
    what: 'devices_per_industry of 100 million: refused from the estimate before any channel is made',
    yaml: 'simulator: {industries: [mining], devices_per_industry: 100000000}',
    expect: [
      'simulator.devices_per_industry: 1,700,000,000 channels',
      'need about 4.1 TB of memory',
      'simulate fewer devices or industries',
    ],
  },
  {
    what: 'max_buffer_size that cannot fit in memory while the sink is stalled',
    yaml: sink('{type: console, max_buffer_size: 100000000000}'),
    expect: [
      'sinks[0].max_buffer_size: 100,000,000,000 buffered records need about 1.2 TB',
      'lower max_buffer_size',
    ],
  },
  {
    what: 'max_in_flight above what the sink allows, found at config time (fuzz counterexample)',
    yaml: sink('{type: console, max_in_flight: 2}'),
    expect: ['sinks[0].max_in_flight: must be <= 1 for the console sink'],
  },
  {
    what: 'a NUL byte in a sensor name (breaks Delta partition paths later)',
    yaml: custom(`{name: "a\\0b", ${SENSOR}}`),
    expect: ['custom_sensors.sensors[0].name: must not contain a NUL character (U+0000'],
  },
  {
    what: 'a sensor name longer than 255 bytes',
    yaml: custom(`{name: ${'é'.repeat(130)}, ${SENSOR}}`),
    expect: ['custom_sensors.sensors[0].name: is 260 bytes long', 'at most 255 bytes'],
  },
  {
    what: 'an empty industry label',
    yaml: `custom_sensors: {industry: "", sensors: [{name: a, ${SENSOR}}]}`,
    expect: ['custom_sensors.industry: must not be empty'],
  },
  {
    what: '.nan where a number is expected',
    yaml: 'simulator: {update_rate_hz: .nan}',
    expect: ['simulator.update_rate_hz: must be a finite number, got NaN (.nan)'],
  },
  {
    what: '.inf where a number is expected',
    yaml: 'simulator: {speed: .inf}',
    expect: ['simulator.speed: must be a finite number, got infinity (.inf)'],
  },
];

const CSV_CASES: Case[] = [
  csvCase(
    'CSV missing a required column',
    'name,sensor_type,unit,min_value,max_value\na,temperature,C,0,10\n',
    ['sensors.csv:1', 'missing required column(s): nominal_value'],
  ),
  csvCase('CSV with a bad number', `${CSV_HEADER}\na,temperature,C,zero,10,5\n`, [
    'sensors.csv:2',
    "min_value: 'zero' is not a number",
  ]),
  csvCase('CSV empty file', '', ['sensors.csv:1', 'the file is empty']),
  csvCase('CSV with blank lines only', '\n\n', ['sensors.csv:1', 'the file is empty']),
  csvCase('CSV with a header and no rows', `${CSV_HEADER}\n`, ['sensors.csv:1', 'no sensor rows']),
  csvCase('CSV row with too few fields', `${CSV_HEADER}\na,temperature,C,0,10\n`, [
    'sensors.csv:2',
    'expected 6 fields, found 5',
  ]),
  csvCase('CSV with an unterminated quote', `${CSV_HEADER}\n"a,temperature,C,0,10,5\n`, [
    'sensors.csv:2',
    'unterminated quoted field',
  ]),
  csvCase(
    'CSV unknown column, with did-you-mean',
    `${CSV_HEADER},nosie_std\na,temperature,C,0,10,5,1\n`,
    ['sensors.csv:1', "unknown column 'nosie_std' (did you mean 'noise_std'?)"],
  ),
  csvCase(
    'CSV duplicate sensor names',
    `${CSV_HEADER}\na,temperature,C,0,10,5\na,temperature,C,0,10,5\n`,
    ['sensors.csv:3', "duplicate sensor name 'a' (first on line 2)"],
  ),
  csvCase(
    'CSV cyclic that is not a boolean',
    `${CSV_HEADER},cyclic\na,temperature,C,0,10,5,maybe\n`,
    ['sensors.csv:2', "cyclic: 'maybe' is not true or false"],
  ),
  csvCase('CSV min > max', `${CSV_HEADER}\na,temperature,C,10,0,5\n`, [
    'sensors.csv:2',
    'min_value: must be <= max_value',
  ]),
  csvCase('CSV unknown sensor type, with did-you-mean', `${CSV_HEADER}\na,temp,C,0,10,5\n`, [
    'sensors.csv:2',
    "did you mean 'temperature'?",
  ]),
  csvCase('CSV infinite number', `${CSV_HEADER}\na,temperature,C,0,Infinity,5\n`, [
    'sensors.csv:2',
    "max_value: 'Infinity' is not a number",
  ]),
  csvCase(
    'CSV error on line 4 after quoted multi-line field',
    `${CSV_HEADER}\n"multi\nline",temperature,C,0,10,5\nb,temperature,C,0,x,5\n`,
    ['sensors.csv:4', "max_value: 'x' is not a number"],
  ),
  {
    what: 'CSV file that does not exist',
    yaml: 'custom_sensors: {industry: plant, csv: missing.csv}',
    expect: ['missing.csv', 'cannot read the file', 'ENOENT'],
  },
];

const FLAG_CASES: Case[] = [
  {
    what: '--rate that is not a number',
    args: ['run', '--rate', 'abc'],
    expect: ['--rate', 'must be a number'],
  },
  {
    what: '--rate negative',
    args: ['run', '--rate', '-5'],
    expect: ['--rate: must be > 0, got -5'],
  },
  {
    what: '--rate infinite',
    args: ['run', '--rate', '1e400'],
    expect: ['--rate', 'must be a number'],
  },
  { what: '--rate without a value', args: ['run', '--rate'], expect: ['rate'] },
  {
    what: '--duration zero',
    args: ['run', '--duration', '0'],
    expect: ['--duration: must be > 0, got 0'],
  },
  {
    what: '--duration that is not a number',
    args: ['run', '-d', 'soon'],
    expect: ['--duration', 'must be a number'],
  },
  { what: 'unknown flag', args: ['run', '--frobnicate'], expect: ['Unknown argument: frobnicate'] },
  {
    what: '--format xml',
    args: ['run', '--format', 'xml'],
    expect: ["--format: must be text or json, got 'xml'"],
  },
  {
    what: '--output-format avro',
    args: ['run', '-s', 'file', '-o', '{dir}/out', '--output-format', 'avro'],
    expect: ["--output-format: must be csv, json or parquet, got 'avro'"],
  },
  {
    what: 'unknown command, with did-you-mean',
    args: ['list-industry'],
    expect: ["unknown command 'list-industry'", "did you mean 'list-industries'?"],
  },
  {
    what: 'list-sensors without its industry',
    args: ['list-sensors'],
    expect: ['Missing required argument: industry'],
  },
  {
    what: 'list-sensors with an unknown industry',
    args: ['list-sensors', 'minning'],
    expect: ["unknown industry 'minning': did you mean 'mining'?"],
  },
  {
    what: '--seed fractional',
    args: ['run', '--seed', '1.5'],
    expect: ['--seed: must be a whole number >= 0, got 1.5'],
  },
  {
    what: '--log-level LOUD',
    args: ['run', '--log-level', 'LOUD'],
    expect: ["--log-level must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'"],
  },
  {
    what: '--start unparseable',
    args: ['run', '--start', 'yesterday'],
    expect: ['--start', 'yesterday'],
  },
  {
    what: '--end before --start',
    args: ['run', '--start', '2024-01-02T00:00:00Z', '--end', '2024-01-01T00:00:00Z'],
    expect: ['--end: must be after --start'],
  },
  {
    what: '--end without --start',
    args: ['run', '--end', '2024-01-01T00:00:00Z'],
    expect: ['--start: is required when --end is set'],
  },
  {
    what: 'unknown --sink type',
    args: ['run', '-s', 'kafak'],
    expect: ["--sink kafak: type: unknown sink type 'kafak'"],
  },
  {
    what: '--sink webhook without a url',
    args: ['run', '-s', 'webhook'],
    expect: ['--sink webhook: url: is required'],
  },
  {
    what: '--rotation 7x',
    args: ['run', '-s', 'file', '-o', '{dir}/out', '--rotation', '7x'],
    expect: [
      "--rotation: must be a whole number and a unit s, m, h or d (e.g. 30s, 5m, 1h, 1d), got '7x'",
    ],
  },
  {
    what: '--rotation 7x without a file sink is still checked',
    args: ['run', '--rotation', '7x'],
    expect: ['--rotation: must be a whole number and a unit s, m, h or d', "got '7x'"],
  },
  {
    what: '--seed abc says it is not a number (not NaN)',
    args: ['run', '--seed', 'abc'],
    expect: [
      '--seed: must be a whole number >= 0 (e.g. --seed 42), got something that is not a number',
    ],
  },
  {
    what: '--shutdown-timeout zero',
    args: ['run', '--shutdown-timeout', '0'],
    expect: ['--shutdown-timeout: must be > 0, got 0'],
  },
  {
    what: '--config file that does not exist',
    args: ['run', '-c', '{dir}/nope.yaml'],
    expect: ['nope.yaml: cannot read the config file: ENOENT'],
  },
  { what: '--config without a value', args: ['run', '-c'], expect: ['c'] },
  { what: '--industries without a value', args: ['run', '--industries'], expect: ['industries'] },
  {
    what: '--industries unknown, with did-you-mean',
    args: ['run', '-i', 'minning'],
    expect: ["--industries: unknown industry 'minning': did you mean 'mining'?"],
  },
  {
    what: '--start in the future without --end names the flag the user gave',
    args: ['run', '--start', '2099-01-01'],
    expect: ['--start: must be in the past when --end is not given', 'give --end too'],
  },
  {
    what: 'init-config with an unknown flag',
    args: ['init-config', '--bogus'],
    expect: ['Unknown argument: bogus'],
  },
];

const LIMIT_MS = 20_000;
const run = limiter(4);
let root: { path: string; remove: () => Promise<void> };
const results = new Map<Case, Promise<CliResult>>();

beforeAll(async () => {
  root = await tempDir('iotsim-bad-input-');
  [...YAML_CASES, ...CSV_CASES, ...FLAG_CASES].forEach((c, i) => {
    const dir = join(root.path, `case-${i}`);
    results.set(
      c,
      run(async () => {
        const { mkdir } = await import('node:fs/promises');
        await mkdir(dir);
        for (const [name, text] of Object.entries(c.files ?? {}))
          writeFileSync(join(dir, name), text);
        let args = c.args?.map((a) => a.replaceAll('{dir}', dir)) ?? [];
        if (c.yaml !== undefined) {
          writeFileSync(join(dir, 'config.yaml'), c.yaml);
          args = ['run', '-c', join(dir, 'config.yaml'), '-d', '1', ...args];
        }
        return cli(args, { cwd: dir, timeoutMs: LIMIT_MS });
      }),
    );
  });
});

afterAll(async () => {
  await Promise.allSettled(results.values());
  await root?.remove();
});

function check(c: Case): () => Promise<void> {
  return async () => {
    const r = await results.get(c)!;
    const shown = `exit ${r.code}${r.timedOut ? ' (killed: hung)' : ''}\n${r.stderr}`;
    expect({ timedOut: r.timedOut, code: r.code, shown }).toMatchObject({
      timedOut: false,
      code: 2,
    });
    const wanted = c.yaml !== undefined ? ['config.yaml', ...c.expect] : c.expect;
    for (const w of wanted) {
      if (typeof w === 'string') expect(r.stderr).toContain(w);
      else expect(r.stderr).toMatch(w);
    }
    expect(r.stderr).toMatch(/^error: /m);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(r.stderr).not.toMatch(/\b(TypeError|RangeError|ReferenceError|SyntaxError)\b/);
    expect(r.stdout).toBe('');
  };
}

describe('Bad input: YAML configs exit 2 naming the file and key path, no stack trace, no hang', () => {
  for (const c of YAML_CASES) it(c.what, check(c));
});

describe('Bad input: CSV sensor files exit 2 naming file:line, no stack trace, no hang', () => {
  for (const c of CSV_CASES) it(c.what, check(c));
});

describe('Bad input: CLI flags exit 2 naming the flag, no stack trace, no hang', () => {
  for (const c of FLAG_CASES) it(c.what, check(c));
});

describe('Awkward but valid CSV loads and runs (exit 0, every sensor in the output)', () => {
  const good: { what: string; text: string; names: string[] }[] = [
    {
      what: 'CSV with a UTF-8 BOM',
      text: `\ufeff${CSV_HEADER}\nbom_a,temperature,C,0,10,5\n`,
      names: ['bom_a'],
    },
    {
      what: 'CSV with Windows line endings',
      text: `${CSV_HEADER}\r\ncr_a,temperature,C,0,10,5\r\ncr_b,pressure,bar,0,10,5\r\n`,
      names: ['cr_a', 'cr_b'],
    },
    {
      what: 'CSV with BOM and Windows line endings together',
      text: `\ufeff${CSV_HEADER}\r\nboth_a,temperature,C,0,10,5\r\n`,
      names: ['both_a'],
    },
    {
      what: 'CSV with quoted fields (comma, doubled quotes)',
      text: `${CSV_HEADER}\n"q,1",temperature,"deg ""C""",0,10,5\n`,
      names: ['q,1'],
    },
    {
      what: 'CSV with old Mac line endings (CR only) and trailing blank lines',
      text: `${CSV_HEADER}\rmac_a,temperature,C,0,10,5\r\r\r`,
      names: ['mac_a'],
    },
  ];
  for (const g of good) {
    it(g.what, async () => {
      const dir = join(root.path, `good-${g.names[0]!.replace(/\W/g, '')}`);
      const { mkdir } = await import('node:fs/promises');
      await mkdir(dir);
      writeFileSync(join(dir, 'sensors.csv'), g.text);
      writeFileSync(
        join(dir, 'config.yaml'),
        "simulator: {start: '2024-01-01T00:00:00Z', end: '2024-01-01T00:00:03Z', seed: 1}\n" +
          'custom_sensors: {industry: plant, csv: sensors.csv}\n' +
          'sinks:\n  - {type: console, fmt: json}\n',
      );
      const r = await run(() =>
        cli(['run', '-c', join(dir, 'config.yaml')], { timeoutMs: LIMIT_MS }),
      );
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
      const records = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { sensor_name: string; unit: string });
      expect(records).toHaveLength(3 * g.names.length);
      expect([...new Set(records.map((x) => x.sensor_name))].sort()).toEqual([...g.names].sort());
      if (g.names[0] === 'q,1') expect(records[0]!.unit).toBe('deg "C"');
    });
  }
});
