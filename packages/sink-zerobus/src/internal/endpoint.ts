/** Where the sink connects: gRPC address, TLS or not, and the workspace id for the token. */
export interface ZerobusEndpoint {
  readonly address: string;
  readonly secure: boolean;
  readonly host: string;
  readonly workspaceId: string;
}

/** Parses `server_endpoint`: `host[:port]` or `https://…` (TLS), `http://…` (plaintext). */
export function parseEndpoint(endpoint: string): ZerobusEndpoint {
  const secure = !endpoint.startsWith('http://');
  const url = new URL(/^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`);
  const port = url.port || (secure ? '443' : '80');
  return {
    address: `${url.hostname}:${port}`,
    secure,
    host: url.hostname,
    workspaceId: url.hostname.split('.')[0]!,
  };
}
