import { writeFileSync } from 'node:fs';
import {
  ConfigError,
  ConsoleSink,
  createStreamLogger,
  parseLogLevel,
  parseInterval,
  parseTimePoint,
  Simulator,
  type BackfillProgress,
  type Logger,
  type LogLevel,
  type RunSummary,
  type SimulatorOptions,
  type SinkMetrics,
  type Registry,
} from '@iotsim/core';
import type { CliIo, RunArgs } from '../cli.js';
import { industryFlagProblems } from '../flags.js';
import { EXIT, UsageError } from '../errors.js';
import { CLI_DIR, cliRegistry } from '../sinks.js';
import { scaleOptions } from '../scale.js';

/** `iotsim run`: builds the simulator from flags or a config, runs it, prints the summary. */
export async function runCommand(args: RunArgs, io: CliIo): Promise<number> {
  const flagLevel = args.logLevel === undefined ? undefined : parseLogLevel(args.logLevel);
  if (args.logLevel !== undefined && !flagLevel) {
    throw new UsageError(
      `--log-level must be DEBUG, INFO, WARNING or ERROR, got '${args.logLevel}'`,
    );
  }
  checkFlags(args);
  const scale = scaleOptions(args);
  // The config's log level is known only once it is loaded: the logger reads `level` when it logs.
  let level: LogLevel = flagLevel ?? 'info';
  const loggers = new Map<LogLevel, Logger>();
  // A log line first clears the progress line (a terminal only), which the next update redraws.
  const line = { progress: false };
  const at =
    (method: keyof Logger) =>
    (message: string): void => {
      if (!loggers.has(level)) loggers.set(level, createStreamLogger(level, io.stderr));
      if (line.progress) {
        io.stderr.write('\r\x1b[K');
        line.progress = false;
      }
      loggers.get(level)![method](message);
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };

  const overrides: SimulatorOptions = { logger };
  if (args.rate !== undefined) overrides.updateRateHz = args.rate;
  if (args.seed !== undefined) overrides.seed = args.seed;
  if (args.start !== undefined) overrides.start = args.start;
  if (args.end !== undefined) overrides.end = args.end;
  if (args.industries !== undefined) overrides.industries = args.industries;
  if (args.shutdownTimeout !== undefined) overrides.shutdownTimeoutS = args.shutdownTimeout;
  if (args.speed !== undefined) overrides.speed = args.speed;
  Object.assign(overrides, scale);

  let sim: Simulator;
  let durationS: number | null;
  const registry = cliRegistry(args.config);
  // --plugin modules register their sink and server types before any sink is made (from the cwd).
  for (const [i, spec] of (args.plugin ?? []).entries())
    await registry.loadPlugin(spec, `--plugin ${args.plugin!.length > 1 ? `[${i}] ` : ''}${spec}`);
  if (args.config) {
    sim = await Simulator.fromConfig(args.config, overrides, { registry, resolveFrom: [CLI_DIR] });
    const config = sim.config!;
    level = flagLevel ?? config.logLevel;
    if (args.sink || args.outputDir || args.outputFormat || args.rotation || args.format) {
      logger.warn('--config is set: --sink, --format and --output-* flags are ignored');
    }
    durationS = args.duration ?? config.durationS;
    await addFlagServers(sim, args, registry);
  } else {
    sim = new Simulator({ industries: ['mining'], updateRateHz: 2.0, ...overrides });
    await addFlagSinks(sim, args, io, registry);
    await addFlagServers(sim, args, registry);
    durationS = args.duration ?? null;
  }

  const progress = (io.stderr as NodeJS.WriteStream).isTTY ? progressPrinter(io, line) : undefined;
  let interrupts = 0;
  let done = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupts++;
    if (interrupts === 1 || signal === 'SIGTERM' || signal === 'SIGHUP') {
      if (interrupts === 1) {
        io.stderr.write(
          `\n${signal}: stopping; draining every sink (press Ctrl-C again to exit at once)\n`,
        );
        sim.stop();
        return;
      }
    }
    const lost = sim.abort(`${signal} again: exited before delivery`);
    io.stderr.write(`${signal} again: exiting now; ${lost} records were not delivered\n`);
    printSummary(sim.metrics(), undefined, io);
    process.exit(EXIT.failure);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal or a dropped SSH session: drain as for SIGTERM (the terminal may be gone,
  // so writing to it can fail: such errors are ignored, the summary still goes to --summary-json).
  process.on('SIGHUP', onSignal);
  const ignore = (): void => {};
  process.stderr.on('error', ignore);
  // `iotsim run … | head`: the reader closed stdout. The console sink ends by itself and every
  // other sink goes on; when nothing else is left to do, the run stops (exit 0, as `yes | head`).
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE' || done) return;
    const others = sim.listSinks().some((s) => s.type !== 'console') || sim.listServers().length;
    if (!others) sim.stop();
  };
  process.stdout.on('error', onStdoutError);
  try {
    const summary = await sim.run({ durationS, onProgress: progress });
    done = true;
    if (line.progress) io.stderr.write('\n');
    printSummary(summary.sinks, summary, io);
    if (args.summaryJson) writeFileSync(args.summaryJson, JSON.stringify(summary, null, 2) + '\n');
    // Records a console sink could not write after its reader closed stdout are failed in the
    // summary, but not an error of the run: the reader asked for no more.
    const closed = summary.sinks.filter((s) => (s.sinkMetrics.output_closed ?? 0) > 0);
    for (const s of closed)
      io.stderr.write(
        `${s.name}: the reader closed stdout after ${s.delivered} records; ${s.failed} were not written to it\n`,
      );
    const failed = summary.sinks
      .filter((s) => !closed.includes(s))
      .reduce((n, s) => n + s.failed, 0);
    if (failed > 0) {
      io.stderr.write(
        `error: ${failed} records could not be delivered (see the failed column and the log above)\n`,
      );
      return EXIT.failure;
    }
    return EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.stderr.off('error', ignore);
    process.stdout.off('error', onStdoutError);
  }
}

function checkFlags(args: RunArgs): void {
  const problems: { path: string; message: string }[] = [];
  // yargs turns a number flag it cannot read into NaN (and 1e400 into Infinity).
  const positive = (flag: string, v: number | undefined): void => {
    if (v === undefined) return;
    if (!Number.isFinite(v)) problems.push({ path: flag, message: 'must be a number' });
    else if (!(v > 0)) problems.push({ path: flag, message: `must be > 0, got ${v}` });
  };
  positive('--rate', args.rate);
  positive('--duration', args.duration);
  positive('--shutdown-timeout', args.shutdownTimeout);
  positive('--speed', args.speed);
  if (args.format !== undefined && !['text', 'json'].includes(args.format))
    problems.push({ path: '--format', message: `must be text or json, got '${args.format}'` });
  if (args.outputFormat !== undefined && !['csv', 'json', 'parquet'].includes(args.outputFormat)) {
    problems.push({
      path: '--output-format',
      message: `must be csv, json or parquet, got '${args.outputFormat}'`,
    });
  }
  if (args.seed !== undefined && !(Number.isInteger(args.seed) && args.seed >= 0))
    problems.push({
      path: '--seed',
      message: Number.isNaN(args.seed)
        ? 'must be a whole number >= 0 (e.g. --seed 42), got something that is not a number'
        : `must be a whole number >= 0, got ${args.seed}`,
    });
  // Checked whatever else is given: a typo is an error even when no file sink would use it.
  if (
    args.rotation !== undefined &&
    parseInterval(args.rotation, { wholeNumbers: true }) === undefined
  )
    problems.push({
      path: '--rotation',
      message: `must be a whole number and a unit s, m, h or d (e.g. 30s, 5m, 1h, 1d), got '${args.rotation}'`,
    });
  problems.push(...industryFlagProblems(args.industries ?? []));
  const now = Date.now() / 1000;
  const time = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return parseTimePoint(v, flag, now);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.issues);
      else throw err;
      return undefined;
    }
  };
  const start = time('--start', args.start);
  const end = time('--end', args.end);
  if (start !== undefined && end !== undefined && !(end > start))
    problems.push({ path: '--end', message: 'must be after --start' });
  if (start !== undefined && args.end === undefined && args.speed === undefined && !(start < now))
    problems.push({
      path: '--start',
      message: `must be in the past when --end is not given (the backfill ends now), got ${new Date(start * 1000).toISOString()}: give --end too`,
    });
  if (args.end !== undefined && args.start === undefined && !args.config)
    problems.push({ path: '--start', message: 'is required when --end is set' });
  if (problems.length) throw new ConfigError(problems);
}

async function addFlagSinks(
  sim: Simulator,
  args: RunArgs,
  io: CliIo,
  registry: Registry,
): Promise<void> {
  const types = args.sink?.length ? args.sink : ['console'];
  const problems: { path: string; message: string }[] = [];
  for (const type of types) {
    try {
      if (type === 'console') {
        sim.addSink(
          new ConsoleSink({
            fmt: (args.format as 'text' | 'json' | undefined) ?? 'text',
            stream: io.stdout,
          }),
        );
      } else if (type === 'file') {
        const options: Record<string, unknown> = {
          type,
          path: args.outputDir ?? './output',
          format: args.outputFormat ?? 'csv',
        };
        if (args.rotation) options.rotation = args.rotation;
        const made = await registry.createSink(options, '--sink file: ');
        const { path, format, rotation } = options;
        sim.addSink(made.sink, made.throughput, {
          type,
          options: { path, format, ...(rotation ? { rotation } : {}) },
          path: '--sink file: ',
          resolveFrom: registry.resolveFrom,
        });
      } else {
        const path = `--sink ${type}: `;
        const made = await registry.createSink({ type }, path);
        sim.addSink(made.sink, made.throughput, {
          type,
          options: {},
          path,
          resolveFrom: registry.resolveFrom,
        });
      }
    } catch (err) {
      if (err instanceof ConfigError)
        problems.push(...err.issues.map((i) => ({ path: i.path || '--sink', message: i.message })));
      else throw err;
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

async function addFlagServers(sim: Simulator, args: RunArgs, registry: Registry): Promise<void> {
  const problems: { path: string; message: string }[] = [];
  for (const type of args.server ?? []) {
    try {
      sim.addServer(await registry.createServer({ type }, `--server ${type}: `));
    } catch (err) {
      if (err instanceof ConfigError)
        problems.push(
          ...err.issues.map((i) => ({ path: i.path || '--server', message: i.message })),
        );
      else throw err;
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

function progressPrinter(io: CliIo, line: { progress: boolean }): (p: BackfillProgress) => void {
  return (p) => {
    line.progress = true;
    const pct = (p.fraction * 100).toFixed(1).padStart(5);
    const at = new Date(p.simulatedTime * 1000).toISOString().replace('.000Z', 'Z');
    const eta = p.etaS < 90 ? `${p.etaS.toFixed(0)}s` : `${(p.etaS / 60).toFixed(1)}m`;
    io.stderr.write(
      `\rbackfill ${pct}%  at ${at}  ${Math.round(p.recordsPerSec).toLocaleString('en-US')} records/s  ETA ${eta}   `,
    );
  };
}

/** Prints the per-sink counters to stderr. */
export function printSummary(
  sinks: readonly SinkMetrics[],
  summary: RunSummary | undefined,
  io: CliIo,
): void {
  const lines: string[] = [];
  if (summary) {
    const lagged =
      summary.mode === 'backfill' ? '' : `, tick lag p99 ${summary.lagMs.p99.toFixed(1)} ms`;
    const mode = summary.mode === 'accelerated' ? `accelerated x${summary.speed}` : summary.mode;
    lines.push(
      `run summary: ${mode}, seed ${summary.seed}, ${summary.ticks} ticks, ${summary.records} records in ${summary.elapsedS.toFixed(1)} s${lagged}${summary.interrupted ? ' (stopped early)' : ''}${summary.ticksNotGenerated ? ` (${summary.ticksNotGenerated} ticks not generated: the run fell behind its rate)` : ''}`,
    );
  }
  const cols = [
    'sink',
    'generated',
    'delivered',
    'dropped',
    'failed',
    'retries',
    'batches',
    'p99 write ms',
  ];
  const rows = sinks.map((m) => [
    m.name,
    String(m.generated),
    String(m.delivered),
    String(m.dropped.total),
    String(m.failed),
    String(m.retries),
    String(m.batches),
    m.writeLatencyMs.p99.toFixed(1),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  lines.push(fmt(cols), ...rows.map(fmt));
  for (const m of sinks) {
    if (m.dropped.total)
      lines.push(
        `${m.name}: dropped ${m.dropped.oldest} oldest, ${m.dropped.newest} newest (buffer full)`,
      );
    if (m.lastError) lines.push(`${m.name}: last error: ${m.lastError}`);
    const own = Object.entries(m.sinkMetrics ?? {});
    if (own.length) lines.push(`${m.name}: ${own.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  for (const s of summary?.servers ?? []) lines.push(`server ${s.name}: ${s.description}`);
  io.stderr.write(lines.join('\n') + '\n');
}
