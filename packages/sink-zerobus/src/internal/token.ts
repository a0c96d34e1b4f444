import { IotSimError, redact, SinkConnectError } from '@iotsim/core';
import type { DatabricksCredentials } from './credentials.js';

/** An OAuth access token and when it stops being usable (epoch ms). */
export interface AccessToken {
  readonly token: string;
  readonly expiresAt: number;
}

/**
 * An OAuth token request that failed; `retryable` is false for 4xx answers (wrong credentials, no
 * access). The sink never throws it as such: it is the `cause` of the SinkConnectError (at
 * connect) or SinkWriteError (when a stream is re-created) that carries the retry decision.
 */
export class TokenError extends IotSimError {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Fetches a token for writing to `tableName` through Zerobus with the OAuth client-credentials
 * grant at `<workspace>/oidc/v1/token`, scoped to the table with Unity Catalog
 * authorization_details, as the Zerobus SDKs do.
 */
export async function fetchZerobusToken(
  credentials: DatabricksCredentials,
  tableName: string,
  workspaceId: string,
  timeoutMs = 30_000,
): Promise<AccessToken> {
  const [catalog, schema, table] = tableName.split('.') as [string, string, string];
  const authorizationDetails = [
    {
      type: 'unity_catalog_privileges',
      privileges: ['USE CATALOG'],
      object_type: 'CATALOG',
      object_full_path: catalog,
    },
    {
      type: 'unity_catalog_privileges',
      privileges: ['USE SCHEMA'],
      object_type: 'SCHEMA',
      object_full_path: `${catalog}.${schema}`,
    },
    {
      type: 'unity_catalog_privileges',
      privileges: ['SELECT', 'MODIFY'],
      object_type: 'TABLE',
      object_full_path: `${catalog}.${schema}.${table}`,
      operations: ['zerobuswrite'],
    },
  ];
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: 'all-apis',
    resource: `api://databricks/workspaces/${workspaceId}/zerobusDirectWriteApi`,
    authorization_details: JSON.stringify(authorizationDetails),
  });
  const url = `${credentials.workspaceUrl}/oidc/v1/token`;
  const basic = Buffer.from(
    `${encodeURIComponent(credentials.clientId)}:${encodeURIComponent(credentials.clientSecret)}`,
  ).toString('base64');
  const started = Date.now();
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new TokenError(
      `cannot reach ${url}: ${redact(cause?.code ?? cause?.message ?? (err as Error).message)}`,
      true,
      { cause: err },
    );
  }
  const text = await response.text();
  if (!response.ok) {
    const snippet = redact(text.slice(0, 200).replace(/\s+/g, ' '));
    const hint =
      response.status === 401 || response.status === 400 || response.status === 403
        ? `: check client_id '${credentials.clientId}' and its secret (from ${credentials.sources.clientSecret}), and that the service principal may write to ${tableName}`
        : '';
    throw new TokenError(
      `${url} answered HTTP ${response.status}${hint}${snippet ? ` (${snippet})` : ''}`,
      response.status >= 500 || response.status === 429,
    );
  }
  let parsed: { access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (err) {
    throw new TokenError(`${url} did not answer JSON`, true, { cause: err });
  }
  if (typeof parsed.access_token !== 'string' || !/^[\x21-\x7e]+$/.test(parsed.access_token))
    throw new TokenError(`${url} answered without a usable access_token`, false);
  const seconds = Number(parsed.expires_in);
  const lifetime = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 5 * 60_000;
  return { token: parsed.access_token, expiresAt: started + lifetime };
}

/** Wraps a token failure at connect time. */
export function tokenConnectError(err: unknown): SinkConnectError {
  return new SinkConnectError(
    'zerobus',
    `cannot get an OAuth token: ${redact(err instanceof Error ? err.message : String(err))}`,
    { cause: err },
  );
}
