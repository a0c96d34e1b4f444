import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '@iotsim/test-utils';
import { cli, limiter, STACK_FRAME, type CliResult } from './helpers.js';

/** A TCP port on 127.0.0.1 with nothing listening (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let root: { path: string; remove: () => Promise<void> };
let port: number;
const run = limiter(4);

beforeAll(async () => {
  root = await tempDir('iotsim-secrets-');
  port = await closedPort();
});
afterAll(async () => {
  await root?.remove();
});

/** Runs `iotsim run -c <yaml> --log-level DEBUG` briefly and returns everything it printed. */
async function runConfig(
  name: string,
  yaml: string,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult & { all: string }> {
  const file = join(root.path, `${name}.yaml`);
  writeFileSync(file, yaml.replaceAll('{port}', String(port)));
  const r = await run(() =>
    cli(['run', '-c', file, '-d', '1', '--log-level', 'DEBUG'], {
      env: { IOTSIM_DEBUG: '1', ...env },
      timeoutMs: 60_000,
    }),
  );
  return { ...r, all: `${r.stdout}\n${r.stderr}` };
}

function expectNoSecret(r: CliResult & { all: string }, secrets: string[]): void {
  expect(r.timedOut).toBe(false);
  for (const s of secrets) {
    for (const form of new Set([s, encodeURIComponent(s)])) {
      const at = r.all.indexOf(form);
      // Show the line around a leak, not the whole log.
      expect(at < 0 ? '' : r.all.slice(Math.max(0, at - 160), at + 60)).toBe('');
    }
  }
}

// Recognisable values: a leak is found by plain text search.
const S = {
  kafka: 'KafkaPw-5ecret-a1',
  postgres: 'PgPw-5ecret-b2',
  bearer: 'BearerTok-5ecret-c3',
  sasKey: 'QXp1cmVLZXktNWVjcmV0LWQ0LXNhcy1rZXk=',
  aws: 'AwsSecretKey-5ecret-e5',
  awsSession: 'AwsSession-5ecret-e6',
  zerobus: 'ZerobusClient-5ecret-f6',
  delta: 'DeltaS3Key-5ecret-g7',
};

describe('Secrets: each sink at DEBUG level against an unreachable 127.0.0.1 endpoint prints no secret (stdout, stderr, summary)', () => {
  const cases: { sink: string; yaml: string; secrets: string[]; mention: RegExp }[] = [
    {
      sink: 'kafka with a SASL password',
      yaml: `sinks:\n  - {type: kafka, bootstrap_servers: '127.0.0.1:{port}', security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, sasl_username: iotsim, sasl_password: '${S.kafka}'}`,
      secrets: [S.kafka],
      mention: /kafka/,
    },
    {
      sink: 'database with a PostgreSQL URL holding a password',
      yaml: `sinks:\n  - {type: database, connection_string: 'postgresql://iotsim:${S.postgres}@127.0.0.1:{port}/iotsim'}`,
      secrets: [S.postgres],
      mention: /PostgreSQL/,
    },
    {
      sink: 'webhook with an Authorization bearer header',
      yaml: `sinks:\n  - {type: webhook, url: 'http://127.0.0.1:{port}/ingest', headers: {Authorization: 'Bearer ${S.bearer}'}, retry_count: 1, retry_delay_s: 0.1}`,
      secrets: [S.bearer],
      mention: /webhook/,
    },
    {
      sink: 'azure_iot with a SharedAccessKey connection string',
      yaml: `sinks:\n  - {type: azure_iot, connection_string: 'HostName=127.0.0.1;DeviceId=dev1;SharedAccessKey=${S.sasKey}'}`,
      secrets: [S.sasKey],
      mention: /azure_iot/,
    },
    {
      sink: 'aws_iot with a secret access key and session token',
      yaml: `sinks:\n  - {type: aws_iot, endpoint: 'http://127.0.0.1:{port}', aws_access_key_id: AKIAIOSFODNN7EXAMPLE, aws_secret_access_key: '${S.aws}', aws_session_token: '${S.awsSession}', retry_count: 1, retry_delay_s: 0.1}`,
      secrets: [S.aws, S.awsSession],
      mention: /aws_iot/,
    },
    {
      sink: 'zerobus with an OAuth client secret',
      yaml: `sinks:\n  - {type: zerobus, server_endpoint: '127.0.0.1:{port}', workspace_url: 'http://127.0.0.1:{port}', table_name: main.iot.sensors, client_id: iotsim-client, client_secret: '${S.zerobus}'}`,
      secrets: [S.zerobus],
      mention: /zerobus/,
    },
    {
      sink: 'delta on S3 with AWS_SECRET_ACCESS_KEY',
      yaml: `sinks:\n  - {type: delta, table_path: 's3://iotsim-bucket/sensors', storage_options: {AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE, AWS_SECRET_ACCESS_KEY: '${S.delta}', AWS_ENDPOINT_URL: 'http://127.0.0.1:{port}', AWS_REGION: us-east-1, AWS_ALLOW_HTTP: 'true'}, retry_count: 1, retry_delay_s: 0.1}`,
      secrets: [S.delta],
      mention: /delta/,
    },
  ];
  for (const c of cases) {
    it(c.sink, async () => {
      const r = await runConfig(c.sink.split(' ')[0]!, c.yaml);
      // The run reached the sink and failed there (connect: 2, delivery: 1), so its errors were printed.
      expect({ failed: r.code === 1 || r.code === 2, out: r.all.slice(-2000) }).toMatchObject({
        failed: true,
      });
      expect(r.stderr).toMatch(c.mention);
      expect(r.stderr).toMatch(/^error: /m);
      expect(r.stderr).not.toMatch(STACK_FRAME);
      expectNoSecret(r, c.secrets);
    });
  }
});

describe('Secrets: a malformed secret-bearing option is reported without echoing the secret (exit 2)', () => {
  const cases: {
    what: string;
    yaml: string;
    secret: string;
    env?: NodeJS.ProcessEnv;
    names: string;
  }[] = [
    {
      what: 'PostgreSQL URL with an unencoded / in the password and a bad port',
      yaml: `sinks:\n  - {type: database, connection_string: 'postgres://u:Pg/5ecret-h8@127.0.0.1:notaport/db'}`,
      secret: 'Pg/5ecret-h8',
      names: 'sinks[0].connection_string',
    },
    {
      what: 'credential ${VAR} used where a number belongs',
      yaml: "sinks:\n  - {type: console, retry_count: '${IOTSIM_REL_API_TOKEN}'}",
      env: { IOTSIM_REL_API_TOKEN: 'EnvTok-5ecret-i9' },
      secret: 'EnvTok-5ecret-i9',
      names: 'sinks[0].retry_count',
    },
    {
      what: 'Azure connection string without DeviceId',
      yaml: "sinks:\n  - {type: azure_iot, connection_string: 'HostName=h.example;SharedAccessKey=QXpLZXktNWVjcmV0LWoxMA==;Junk'}",
      secret: 'QXpLZXktNWVjcmV0LWoxMA==',
      names: 'sinks[0].connection_string',
    },
    {
      what: 'Kafka SASL password with a PLAINTEXT protocol',
      yaml: "sinks:\n  - {type: kafka, sasl_password: 'KafkaPw-5ecret-k11'}",
      secret: 'KafkaPw-5ecret-k11',
      names: 'sinks[0].sasl_password',
    },
    {
      what: 'AWS secret key without its access key id',
      yaml: "sinks:\n  - {type: aws_iot, endpoint: 'https://x.example', aws_secret_access_key: 'AwsSecret-5ecret-l12'}",
      secret: 'AwsSecret-5ecret-l12',
      names: 'sinks[0].aws_access_key_id',
    },
    {
      what: 'webhook Authorization header with a line break',
      yaml: 'sinks:\n  - {type: webhook, url: \'http://127.0.0.1:9/\', headers: {Authorization: "Bearer Tok-5ecret-m13\\nX: y"}}',
      secret: 'Tok-5ecret-m13',
      names: 'sinks[0].headers.Authorization',
    },
    {
      what: 'misspelt delta storage option holding the secret key',
      yaml: "sinks:\n  - {type: delta, table_path: 's3://b/t', storage_options: {AWS_SECRET_ACESS_KEY: 'DeltaKey-5ecret-n14'}}",
      secret: 'DeltaKey-5ecret-n14',
      names: 'storage_options.AWS_SECRET_ACESS_KEY',
    },
    {
      what: 'webhook URL with credentials and an ftp scheme',
      yaml: "sinks:\n  - {type: webhook, url: 'ftp://u:UrlPw-5ecret-o15@127.0.0.1/x'}",
      secret: 'UrlPw-5ecret-o15',
      names: 'sinks[0].url',
    },
  ];
  for (const c of cases) {
    it(c.what, async () => {
      const r = await runConfig(`bad-${c.secret.replace(/\W/g, '')}`, c.yaml, c.env);
      expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
      expect(r.stderr).toContain(c.names);
      expectNoSecret(r, [c.secret]);
    });
  }
});

describe('Secrets: ${VAR} references in YAML', () => {
  let server: Server;
  let url: string;
  const seen: IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/ingest`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('resolve from the environment: the webhook server receives the token from ${VAR}, and no output shows it', async () => {
    const token = 'EnvBearer-5ecret-p16';
    const r = await runConfig(
      'env-ok',
      `sinks:\n  - {type: webhook, url: '\${IOTSIM_REL_URL}', headers: {Authorization: 'Bearer \${IOTSIM_REL_TOKEN}'}}`,
      { IOTSIM_REL_TOKEN: token, IOTSIM_REL_URL: url },
    );
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((h) => h.authorization === `Bearer ${token}`)).toBe(true);
    expectNoSecret(r, [token]);
  });

  it('a missing variable is exit 2 naming it and the key', async () => {
    const r = await runConfig(
      'env-missing',
      "sinks:\n  - {type: kafka, security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, sasl_username: u, sasl_password: '${IOTSIM_REL_NOT_SET}'}",
      { IOTSIM_REL_NOT_SET: '' },
    );
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 2 });
    expect(r.stderr).toContain(
      'sinks[0].sasl_password: environment variable IOTSIM_REL_NOT_SET is not set (referenced as ${IOTSIM_REL_NOT_SET})',
    );
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('${VAR:-default} uses the default when the variable is unset', async () => {
    const r = await runConfig(
      'env-default',
      `sinks:\n  - {type: webhook, url: '\${IOTSIM_REL_UNSET_URL:-${url}}'}`,
    );
    expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  });
});
