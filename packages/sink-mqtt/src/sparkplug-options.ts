import type { OptionReader } from '@iotsim/core';
import { readConnectionOptions, type ConnectionOptions } from './internal/connection.js';
import type { MqttConnectionOptions } from './options.js';

/**
 * Options of `SparkplugSink` (YAML keys in snake_case: `group_id`, `edge_node_id`,
 * `primary_host_id`, `report_by_exception`, `state_dir`), besides the connection options it
 * shares with the MQTT sink. Throughput (`batchSize`, `rateHz` …) is given beside the sink.
 */
export interface SparkplugSinkOptions extends MqttConnectionOptions {
  /** Sparkplug group id for every device. Default: each industry is its own group (one edge node per industry). */
  groupId?: string;
  /** Edge node id. Default `iotsim`. */
  edgeNodeId?: string;
  /** Primary host application id: wait for its `spBv1.0/STATE/<id>` online message before the birth. Default: none. */
  primaryHostId?: string;
  /** Publish a metric in DDATA only when its value or quality changed. Default false. */
  reportByException?: boolean;
  /** Folder of the file that keeps bdSeq across restarts. Default: none (bdSeq starts at 0 in every process). */
  stateDir?: string;
}

/** SparkplugSink options after validation. */
export interface ResolvedSparkplugOptions {
  readonly connection: ConnectionOptions;
  readonly groupId: string | undefined;
  readonly edgeNodeId: string;
  readonly primaryHostId: string | undefined;
  readonly reportByException: boolean;
  readonly stateDir: string | undefined;
  readonly clientIdGiven: boolean;
}

/** A Sparkplug id (group, edge node, host): no `/`, `#` or `+`, not empty. */
export function sparkplugIdProblem(id: string): string | undefined {
  if (id === '') return 'must not be empty';
  if (/[/#+]/.test(id))
    return `must not contain '/', '#' or '+' (they are MQTT topic separators and wildcards), got ${JSON.stringify(id)}`;
  return undefined;
}

/** Reads and validates the Sparkplug sink's own options. */
export function readSparkplugOptions(r: OptionReader): ResolvedSparkplugOptions {
  const clientIdGiven = r.raw('clientId') !== undefined;
  const connection = readConnectionOptions(r, 'iotsim-sp');
  const groupId = r.string('groupId');
  const edgeNodeId = r.string('edgeNodeId', 'iotsim');
  const primaryHostId = r.string('primaryHostId');
  for (const [key, value] of [
    ['groupId', groupId],
    ['edgeNodeId', edgeNodeId],
    ['primaryHostId', primaryHostId],
  ] as const) {
    const problem = value === undefined ? undefined : sparkplugIdProblem(value);
    if (problem) r.problem(key, problem);
  }
  return {
    connection,
    groupId,
    edgeNodeId,
    primaryHostId,
    reportByException: r.boolean('reportByException', false),
    stateDir: r.string('stateDir'),
    clientIdGiven,
  };
}
