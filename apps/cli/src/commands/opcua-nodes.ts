import {
  ConfigError,
  DataGenerator,
  importSdk,
  loadConfigFile,
  type ConfigIssue,
} from '@iotsim/core';
import type { CliIo } from '../cli.js';
import { industryFlagProblems } from '../flags.js';
import { EXIT } from '../errors.js';

/** Flags of `iotsim opcua-nodes`. */
export interface OpcUaNodesArgs {
  config?: string;
  industries?: string[];
  devices?: number;
  format?: string;
  host?: string;
  port?: number;
  rate?: number;
}

const FORMATS = ['csv', 'pn.json'] as const;

/**
 * `iotsim opcua-nodes`: the node ids the OPC UA server serves for a run (flags or a config), as
 * CSV or as Azure OPC Publisher's pn.json, on stdout.
 */
export async function opcUaNodesCommand(args: OpcUaNodesArgs, io: CliIo): Promise<number> {
  const problems: ConfigIssue[] = [];
  const cfg = args.config ? loadConfigFile(args.config) : undefined;
  const server = cfg?.servers.find((s) => s.type === 'opcua')?.options ?? {};
  const industries = args.industries ?? cfg?.industries ?? ['mining'];
  const devices = args.devices ?? cfg?.devicesPerIndustry ?? 1;
  const rate = args.rate ?? cfg?.updateRateHz ?? 2;
  const port = args.port ?? numberOption(server.port) ?? 4840;
  const host = args.host ?? (typeof server.host === 'string' ? server.host : '127.0.0.1');
  const namespaceUri =
    typeof server.namespace_uri === 'string' ? server.namespace_uri : 'urn:iotsim';
  const format = args.format ?? 'csv';
  if (!(FORMATS as readonly string[]).includes(format))
    problems.push({ path: '--format', message: `must be csv or pn.json, got '${format}'` });
  if (!(Number.isInteger(devices) && devices >= 1))
    problems.push({ path: '--devices', message: `must be a whole number >= 1, got ${devices}` });
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535))
    problems.push({ path: '--port', message: `must be a port number 1-65535, got ${port}` });
  if (!(Number.isFinite(rate) && rate > 0))
    problems.push({ path: '--rate', message: `must be a number > 0, got ${rate}` });
  problems.push(...industryFlagProblems(args.industries ?? []));
  if (problems.length) throw new ConfigError(problems);

  const generator = new DataGenerator({ industries, devicesPerIndustry: devices });
  if (cfg) for (const g of cfg.customSensors) generator.addResolved(g.sensors, g.industry);
  const { opcUaNodeManifest } = await importSdk(
    '@iotsim/server-opcua',
    () => import('@iotsim/server-opcua'),
    'iotsim opcua-nodes',
  );
  const hostInUrl = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const intervalMs = Math.max(1, Math.round(1000 / rate));
  io.stdout.write(
    opcUaNodeManifest(generator.channelTable(), {
      format: format as (typeof FORMATS)[number],
      endpointUrl: `opc.tcp://${hostInUrl.includes(':') ? `[${hostInUrl}]` : hostInUrl}:${port}`,
      namespaceUri,
      samplingIntervalMs: intervalMs,
      publishingIntervalMs: intervalMs,
    }),
  );
  return EXIT.ok;
}

function numberOption(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}
