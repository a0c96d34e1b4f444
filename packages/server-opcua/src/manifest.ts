import type { ChannelTable } from '@iotsim/core';
import { browsePath, sensorPath } from './internal/nodes.js';

/** Formats of `opcUaNodeManifest`. */
export type OpcUaManifestFormat = 'csv' | 'pn.json';

/** Options of `opcUaNodeManifest`. */
export interface OpcUaManifestOptions {
  /** `csv` (one row per sensor) or `pn.json` (Azure OPC Publisher's published nodes file). Default `csv`. */
  format?: OpcUaManifestFormat;
  /** The server's endpoint, for pn.json. Default `opc.tcp://127.0.0.1:4840`. */
  endpointUrl?: string;
  /** Namespace URI of the nodes (the server's `namespace_uri`). Default `urn:iotsim`. */
  namespaceUri?: string;
  /** OpcSamplingInterval of every node in pn.json, ms. Default 1000. */
  samplingIntervalMs?: number;
  /** OpcPublishingInterval of every node in pn.json, ms. Default the sampling interval. */
  publishingIntervalMs?: number;
  /** pn.json `UseSecurity` (connect with a secure endpoint). Default false. */
  useSecurity?: boolean;
}

/** CSV header of the manifest. */
const CSV_COLUMNS = [
  'node_id',
  'browse_path',
  'industry',
  'device_id',
  'sensor_name',
  'unit',
  'min_value',
  'max_value',
] as const;

/**
 * The node manifest of a run's OPC UA address space: every sensor's node id
 * (`nsu=urn:iotsim;s=<industry>/<device>/<sensor>`) as CSV, or as Azure OPC Publisher's
 * `pn.json`. Same ids as `OpcUaServer` serves for the same channel table.
 *
 * @example
 * const table = new DataGenerator({ industries: ['mining'] }).channelTable();
 * writeFileSync('pn.json', opcUaNodeManifest(table, { format: 'pn.json', samplingIntervalMs: 500 }));
 */
export function opcUaNodeManifest(table: ChannelTable, options: OpcUaManifestOptions = {}): string {
  const nsu = options.namespaceUri ?? 'urn:iotsim';
  const id = (path: string): string => `nsu=${nsu};s=${path}`;
  if ((options.format ?? 'csv') === 'csv') {
    const lines = [CSV_COLUMNS.join(',')];
    for (const c of table.channels) {
      lines.push(
        [
          id(sensorPath(c)),
          browsePath(c),
          c.industry,
          c.deviceId,
          c.sensorName,
          c.unit,
          String(c.minValue),
          String(c.maxValue),
        ]
          .map(csvField)
          .join(','),
      );
    }
    return lines.join('\n') + '\n';
  }
  const sampling = options.samplingIntervalMs ?? 1000;
  const publishing = options.publishingIntervalMs ?? sampling;
  const doc = [
    {
      EndpointUrl: options.endpointUrl ?? 'opc.tcp://127.0.0.1:4840',
      UseSecurity: options.useSecurity ?? false,
      OpcNodes: table.channels.map((c) => ({
        Id: id(sensorPath(c)),
        OpcSamplingInterval: sampling,
        OpcPublishingInterval: publishing,
      })),
    },
  ];
  return JSON.stringify(doc, null, 2) + '\n';
}

function csvField(v: string): string {
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}
