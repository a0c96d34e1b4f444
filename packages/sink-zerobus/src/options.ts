import { field, opt, readString, v, type InputOf, type OutputOf } from '@iotsim/core';

/** How records travel: JSON text (default) or protobuf messages generated from the record schema. */
export type ZerobusRecordType = 'json' | 'proto';

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

const ENDPOINT_HINT =
  'the Zerobus endpoint, e.g. <workspace-id>.zerobus.<region>.cloud.databricks.com';
const TABLE_HINT = 'a Unity Catalog table, catalog.schema.table';

/** A required text option: `check` reports what is wrong with given text. */
function required(hint: string, check: (text: string, problem: (m: string) => void) => void) {
  return field<string>(
    { type: 'string', minLength: 1 },
    (value, problem) => {
      const text = readString(value, problem);
      if (text === undefined) return '';
      if (text.trim() === '') problem(`is required: ${hint}`);
      else check(text, problem);
      return text;
    },
    hint,
  );
}

export const ZerobusSchema = opt.resolve(
  opt.object({
    /** Zerobus endpoint, e.g. `1234567890123456.zerobus.us-west-2.cloud.databricks.com` (TLS); `http://host:port` for plaintext. Required. */
    serverEndpoint: required(ENDPOINT_HINT, (text, problem) => {
      if (!/^(https?:\/\/)?[A-Za-z0-9.-]+(:\d+)?\/?$/.test(text.trim()))
        problem(`must be a host name or http(s)://host:port, got ${JSON.stringify(text)}`);
    }),
    /** Unity Catalog table, `catalog.schema.table`. Required. */
    tableName: required(TABLE_HINT, (text, problem) => tableNameProblems(text).forEach(problem)),
    /** Profile in `~/.databrickscfg` (or DATABRICKS_CONFIG_FILE). Default: DATABRICKS_CONFIG_PROFILE, else DEFAULT. */
    databricksProfile: v.nullish(opt.string()),
    /** Workspace URL for the OAuth token; default from DATABRICKS_HOST or the profile's `host`. */
    workspaceUrl: v.nullish(
      field<string>({ type: 'string' }, (value, problem) => {
        const text = readString(value, problem);
        if (text && !/^https?:\/\/[^\s/]+/.test(text))
          problem(`must start with https://, got ${JSON.stringify(text)}`);
        return text ?? '';
      }),
    ),
    /** Service principal client id; default from DATABRICKS_CLIENT_ID or the profile. */
    clientId: v.nullish(opt.string()),
    /** Service principal secret; default from DATABRICKS_CLIENT_SECRET or the profile. */
    clientSecret: v.nullish(opt.string()),
    /** `json` (default) or `proto`. */
    recordType: v.nullish(opt.oneOf(['json', 'proto']), 'json'),
    /** Seconds to wait for the stream to be created or a batch acknowledged before recovering. Default 30. */
    ackTimeoutS: v.nullish(opt.number({ above: 0 }), 30),
    /** Stream re-creations tried within one write before it fails (the runner may retry it). Default 3. */
    maxStreamRecoveries: v.nullish(opt.number({ min: 0, integer: true }), 3),
    /** Records per ingest request (one offset each). Default 1,000. */
    maxRecordsPerRequest: v.nullish(opt.number({ min: 1, integer: true }), 1000),
  }),
  (o) => ({
    ...o,
    serverEndpoint: o.serverEndpoint.trim(),
    databricksProfile: o.databricksProfile ?? undefined,
    workspaceUrl: o.workspaceUrl ?? undefined,
    clientId: o.clientId ?? undefined,
    clientSecret: o.clientSecret ?? undefined,
  }),
);

/** Options of `ZerobusSink` (YAML keys in snake_case: `server_endpoint`, `table_name`, …). */
export type ZerobusSinkOptions = InputOf<typeof ZerobusSchema>;

/** Validated options of `ZerobusSink`. */
export type ResolvedZerobusOptions = Readonly<OutputOf<typeof ZerobusSchema>>;
