import type { OptionReader } from '@iotsim/core';

/** How records travel: JSON text (default) or protobuf messages generated from the record schema. */
export type ZerobusRecordType = 'json' | 'proto';

/** Options of `ZerobusSink` (YAML keys in snake_case: `server_endpoint`, `table_name`, …). */
export interface ZerobusSinkOptions {
  /** Zerobus endpoint, e.g. `1234567890123456.zerobus.us-west-2.cloud.databricks.com` (TLS); `http://host:port` for plaintext. Required. */
  serverEndpoint?: string;
  /** Unity Catalog table, `catalog.schema.table`. Required. */
  tableName?: string;
  /** Profile in `~/.databrickscfg` (or DATABRICKS_CONFIG_FILE). Default: DATABRICKS_CONFIG_PROFILE, else DEFAULT. */
  databricksProfile?: string;
  /** Workspace URL for the OAuth token; default from DATABRICKS_HOST or the profile's `host`. */
  workspaceUrl?: string;
  /** Service principal client id; default from DATABRICKS_CLIENT_ID or the profile. */
  clientId?: string;
  /** Service principal secret; default from DATABRICKS_CLIENT_SECRET or the profile. */
  clientSecret?: string;
  /** `json` (default) or `proto`. */
  recordType?: ZerobusRecordType;
  /** Seconds to wait for the stream to be created or a batch acknowledged before recovering. Default 30. */
  ackTimeoutS?: number;
  /** Stream re-creations tried within one write before it fails (the runner may retry it). Default 3. */
  maxStreamRecoveries?: number;
  /** Records per ingest request (one offset each). Default 1,000. */
  maxRecordsPerRequest?: number;
}

/** Validated options of `ZerobusSink`. */
export interface ResolvedZerobusOptions {
  readonly serverEndpoint: string;
  readonly tableName: string;
  readonly databricksProfile: string | undefined;
  readonly workspaceUrl: string | undefined;
  readonly clientId: string | undefined;
  readonly clientSecret: string | undefined;
  readonly recordType: ZerobusRecordType;
  readonly ackTimeoutS: number;
  readonly maxStreamRecoveries: number;
  readonly maxRecordsPerRequest: number;
}

const IDENTIFIER = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** Problems with a `catalog.schema.table` name (empty when it is valid). */
export function tableNameProblems(name: string): string[] {
  const parts = name.split('.');
  if (parts.length !== 3)
    return [
      `must be catalog.schema.table (three parts separated by dots), got ${JSON.stringify(name)} with ${parts.length} part(s)`,
    ];
  const labels = ['catalog', 'schema', 'table'];
  const problems: string[] = [];
  parts.forEach((p, i) => {
    if (p === '') problems.push(`the ${labels[i]} name is empty in ${JSON.stringify(name)}`);
    else if (!IDENTIFIER.test(p))
      problems.push(
        `the ${labels[i]} name ${JSON.stringify(p)} may hold only letters, digits, '_' and '-'`,
      );
  });
  return problems;
}

/** Reads and validates the ZerobusSink options; registers the client secret. */
export function readZerobusOptions(r: OptionReader): ResolvedZerobusOptions {
  const serverEndpoint = r.requiredString(
    'serverEndpoint',
    'the Zerobus endpoint, e.g. <workspace-id>.zerobus.<region>.cloud.databricks.com',
  );
  if (serverEndpoint && !/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d+)?\/?$/.test(serverEndpoint.trim()))
    r.problem(
      'serverEndpoint',
      `must be a host name or http(s)://host:port, got ${JSON.stringify(serverEndpoint)}`,
    );
  const tableName = r.requiredString('tableName', 'a Unity Catalog table, catalog.schema.table');
  if (tableName) for (const p of tableNameProblems(tableName)) r.problem('tableName', p);
  const clientSecret = r.string('clientSecret');
  const workspaceUrl = r.string('workspaceUrl');
  if (workspaceUrl && !/^https?:\/\/[^\s/]+/.test(workspaceUrl))
    r.problem('workspaceUrl', `must start with https://, got ${JSON.stringify(workspaceUrl)}`);
  return {
    serverEndpoint: serverEndpoint.trim(),
    tableName,
    databricksProfile: r.string('databricksProfile'),
    workspaceUrl,
    clientId: r.string('clientId'),
    clientSecret,
    recordType: r.oneOf('recordType', ['json', 'proto'] as const, 'json'),
    ackTimeoutS: r.number('ackTimeoutS', 30, { above: 0 }),
    maxStreamRecoveries: r.number('maxStreamRecoveries', 3, { min: 0, integer: true }),
    maxRecordsPerRequest: r.number('maxRecordsPerRequest', 1000, { min: 1, integer: true }),
  };
}
