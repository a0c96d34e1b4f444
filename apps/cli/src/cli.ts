import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { closestNames } from '@iotsim/core/errors';
import { EXIT, exitCodeFor, formatError, UsageError } from './errors.js';

/** Standard streams of a CLI invocation (replaceable in tests). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Flags of `iotsim run`. */
export interface RunArgs {
  config?: string;
  industries?: string[];
  rate?: number;
  duration?: number;
  logLevel?: string;
  sink?: string[];
  format?: string;
  outputDir?: string;
  outputFormat?: string;
  rotation?: string;
  seed?: number;
  start?: string;
  end?: string;
  shutdownTimeout?: number;
  server?: string[];
  speed?: number;
  summaryJson?: string;
  plugin?: string[];
  workers?: number;
  shard?: string;
  shardCount?: number;
  startAt?: string;
}

/** Flags of `iotsim modbus-map`. */
export interface ModbusMapArgs {
  config?: string;
  industries?: string[];
  devices?: number;
  wordOrder?: string;
}

/** Flags of `iotsim opcua-nodes` (the command module's own type, kept here so --help loads nothing). */
interface OpcUaNodesFlags {
  config?: string;
  industries?: string[];
  devices?: number;
  format?: string;
  host?: string;
  port?: number;
  rate?: number;
}

function runOptions(y: Argv): Argv<RunArgs> {
  return y
    .option('config', {
      alias: 'c',
      type: 'string',
      requiresArg: true,
      describe: 'YAML config file (then --sink/--output-* are ignored)',
    })
    .option('industries', {
      alias: 'i',
      type: 'string',
      requiresArg: true,
      array: true,
      describe: 'Built-in industries [default: mining]',
    })
    .option('rate', {
      type: 'number',
      requiresArg: true,
      describe: 'Generator tick rate in Hz [default: 2]',
    })
    .option('duration', {
      alias: 'd',
      type: 'number',
      requiresArg: true,
      describe: 'Run duration in seconds [default: until Ctrl-C]',
    })
    .option('log-level', {
      type: 'string',
      requiresArg: true,
      describe: 'DEBUG, INFO, WARNING or ERROR [default: INFO]',
    })
    .option('sink', {
      alias: 's',
      type: 'string',
      requiresArg: true,
      array: true,
      describe: 'Sink type, repeatable (-s console -s file) [default: console]',
    })
    .option('format', {
      type: 'string',
      requiresArg: true,
      describe: 'Console format: text or json [default: text]',
    })
    .option('output-dir', {
      alias: 'o',
      type: 'string',
      requiresArg: true,
      describe: 'File sink directory [default: ./output]',
    })
    .option('output-format', {
      type: 'string',
      requiresArg: true,
      describe: 'File format: csv, json or parquet [default: csv]',
    })
    .option('rotation', {
      type: 'string',
      requiresArg: true,
      describe: 'File rotation: 30s, 5m, 1h, 1d',
    })
    .option('seed', {
      type: 'number',
      requiresArg: true,
      describe: 'Random seed: the same seed gives the same values',
    })
    .option('start', {
      type: 'string',
      requiresArg: true,
      describe: 'Backfill start (ISO 8601, epoch seconds, or -7d)',
    })
    .option('end', { type: 'string', requiresArg: true, describe: 'Backfill end [default: now]' })
    .option('shutdown-timeout', {
      type: 'number',
      requiresArg: true,
      describe: 'Seconds to drain sinks on stop [default: 30]',
    })
    .option('server', {
      type: 'string',
      requiresArg: true,
      array: true,
      describe: 'Server type, repeatable (--server http): serves the live values',
    })
    .option('speed', {
      type: 'number',
      requiresArg: true,
      describe: 'Simulated seconds per wall second (60 plays an hour in a minute) [default: 1]',
    })
    .option('summary-json', {
      type: 'string',
      requiresArg: true,
      describe: 'Also write the run summary as JSON to this file',
    })
    .option('plugin', {
      type: 'string',
      requiresArg: true,
      array: true,
      describe: 'Module with your own sink or server classes (a path or a package), repeatable',
    })
    .option('workers', {
      type: 'number',
      requiresArg: true,
      describe: 'Worker threads, each owning a share of the devices [default: 1]',
    })
    .option('shard', {
      type: 'string',
      requiresArg: true,
      describe: 'Generate shard K of N of the devices (0-based, e.g. 0/3) [default: $IOTSIM_SHARD]',
    })
    .option('shard-count', {
      type: 'number',
      requiresArg: true,
      describe:
        'Shards N, with the index K from $JOB_COMPLETION_INDEX [default: $IOTSIM_SHARD_COUNT]',
    })
    .option('start-at', {
      type: 'string',
      requiresArg: true,
      describe: 'Real time: wall-clock time (ISO 8601) of the first tick, common to every shard',
    }) as unknown as Argv<RunArgs>;
}

/** The flags that say which plant a command describes: a config, or industries and devices. */
function plantOptions(y: Argv, config: string): Argv {
  return y
    .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: config })
    .option('industries', {
      alias: 'i',
      type: 'string',
      requiresArg: true,
      array: true,
      describe: 'Built-in industries [default: mining]',
    })
    .option('devices', {
      type: 'number',
      requiresArg: true,
      describe: 'Devices per industry [default: 1]',
    });
}

function modbusMapOptions(y: Argv): Argv<ModbusMapArgs> {
  return plantOptions(
    y,
    "YAML config file: its industries, devices and modbus server's word_order",
  ).option('word-order', {
    type: 'string',
    requiresArg: true,
    describe: 'Float32 word order: ABCD, CDAB, BADC or DCBA [default: ABCD]',
  }) as unknown as Argv<ModbusMapArgs>;
}

/** One command of the CLI: its name (and positional usage), help line, flags and implementation. */
interface Command {
  readonly name: string;
  readonly usage?: string;
  readonly describe: string;
  readonly options: (y: Argv) => Argv;
  /** Loads the command's module only when it runs, so `--help` stays fast. */
  readonly run: (a: Record<string, unknown>, io: CliIo) => Promise<number>;
}

const none = (y: Argv): Argv => y;
const outputOption =
  (what: string) =>
  (y: Argv): Argv =>
    y.option('output', { alias: 'o', type: 'string', requiresArg: true, describe: what });

/** Every command, written once: yargs, the unknown-command hint and the dispatch read this table. */
const COMMAND_TABLE: readonly Command[] = [
  {
    name: 'run',
    describe: 'Run the simulator (generate data and send it to sinks)',
    options: runOptions as (y: Argv) => Argv,
    run: async (a, io) => (await import('./commands/run.js')).runCommand(a as RunArgs, io),
  },
  {
    name: 'list-industries',
    describe: 'List the 16 built-in industries with sensor counts',
    options: none,
    run: async (_, io) => (await import('./commands/list.js')).listIndustriesCommand(io),
  },
  {
    name: 'list-sinks',
    describe: 'List the sink types and the package each needs',
    options: none,
    run: async (_, io) => (await import('./commands/list.js')).listSinksCommand(io),
  },
  {
    name: 'list-servers',
    describe: 'List the server types and the package each needs',
    options: none,
    run: async (_, io) => (await import('./commands/list.js')).listServersCommand(io),
  },
  {
    name: 'list-sensors',
    usage: 'list-sensors <industry>',
    describe: 'List every sensor of an industry (name, type, unit, range)',
    options: (y) => y.positional('industry', { type: 'string', demandOption: true }),
    run: async (a, io) =>
      (await import('./commands/list.js')).listSensorsCommand(String(a.industry), io),
  },
  {
    name: 'init-config',
    describe: 'Write a starter YAML config (and iotsim.schema.json beside it, for editors)',
    options: outputOption('File to write [default: stdout]'),
    run: async (a, io) =>
      (await import('./commands/init-config.js')).initConfigCommand(
        a.output as string | undefined,
        io,
      ),
  },
  {
    name: 'schema',
    describe: 'Print the JSON Schema of the YAML config (editors complete and check with it)',
    options: outputOption('File to write [default: stdout]'),
    run: async (a, io) =>
      (await import('./commands/schema.js')).schemaCommand(a.output as string | undefined, io),
  },
  {
    name: 'modbus-map',
    describe: 'Print the Modbus register map (unit ids, registers, sensors) as CSV',
    options: modbusMapOptions as (y: Argv) => Argv,
    run: async (a, io) =>
      (await import('./commands/modbus-map.js')).modbusMapCommand(a as ModbusMapArgs, io),
  },
  {
    name: 'opcua-nodes',
    describe: 'Print the OPC UA node ids of a run (CSV, or pn.json for OPC Publisher)',
    options: (y) =>
      plantOptions(
        y.option('format', {
          type: 'string',
          requiresArg: true,
          describe: 'csv or pn.json [default: csv]',
        }),
        'YAML config: its industries, devices, rate and opcua server',
      )
        .option('host', {
          type: 'string',
          requiresArg: true,
          describe: 'Host in the pn.json EndpointUrl [default: 127.0.0.1]',
        })
        .option('port', {
          type: 'number',
          requiresArg: true,
          describe: 'Port in the pn.json EndpointUrl [default: 4840]',
        })
        .option('rate', {
          type: 'number',
          requiresArg: true,
          describe: 'Tick rate in Hz: sampling/publishing interval 1000/rate ms [default: 2]',
        }),
    run: async (a, io) =>
      (await import('./commands/opcua-nodes.js')).opcUaNodesCommand(a as OpcUaNodesFlags, io),
  },
];

const COMMANDS = new Set([...COMMAND_TABLE.map((c) => c.name), 'help']);

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const first = argv[0];
  if (argv.length === 1 && (first === '--version' || first === '-V')) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    io.stdout.write(`${pkg.version}\n`);
    return EXIT.ok;
  }
  if (first !== undefined && !first.startsWith('-') && !COMMANDS.has(first)) {
    const hint = closestNames(first, COMMANDS, 1);
    const failure = new UsageError(
      `unknown command '${first}'${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}; commands: ${[...COMMANDS].filter((c) => c !== 'help').join(', ')}. Run 'iotsim --help' for usage.`,
    );
    io.stderr.write(formatError(failure) + '\n');
    return exitCodeFor(failure);
  }
  const args =
    argv.length === 0 ||
    (!COMMANDS.has(argv[0]!) && !['--help', '-h', '--version'].includes(argv[0]!))
      ? ['run', ...argv]
      : argv;
  let failure: unknown;
  // yargs only parses and validates; commands run below, so a usage error never starts a run.
  let parser: Argv = yargs(args);
  for (const c of COMMAND_TABLE) parser = parser.command(c.usage ?? c.name, c.describe, c.options);
  parser = parser
    .scriptName('iotsim')
    .usage(
      '$0 <command> [options]\n\nRealistic industrial IoT sensor data, delivered to real destinations.',
    )
    .demandCommand(1, `Name a command: ${COMMAND_TABLE.map((c) => c.usage ?? c.name).join(', ')}`)
    .strict()
    .help()
    .alias('h', 'help')
    .version(false) // --version is answered above, before yargs loads the commands
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs reports its own parse errors (e.g. a flag without its value) as a YError.
      failure =
        err && err.name !== 'YError'
          ? err
          : new UsageError(`${msg || err?.message}\nRun 'iotsim --help' for usage.`);
    });
  let code: number = EXIT.ok;
  try {
    parser.showHelpOnFail(false);
    const argv = await parser.parseAsync();
    if (!failure && !argv.help) {
      const command = COMMAND_TABLE.find((c) => c.name === String(argv._[0] ?? ''));
      if (!command)
        throw new UsageError(`unknown command '${String(argv._[0])}'; run 'iotsim --help'`);
      // A reader that closes stdout early (`iotsim schema | head`) ends a printing command quietly;
      // a run handles it in its console sink (the summary still goes to stderr).
      if (command.name !== 'run' && io.stdout === process.stdout)
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPIPE') throw err;
          process.exit(EXIT.ok);
        });
      code = await command.run(argv as unknown as Record<string, unknown>, io);
    }
  } catch (err) {
    failure ??= err;
  }
  if (failure) {
    io.stderr.write(formatError(failure, process.env.IOTSIM_DEBUG === '1') + '\n');
    return exitCodeFor(failure);
  }
  return code;
}
