import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttributeIds,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  type ClientSession,
  type DataValue,
  type UserIdentityInfo,
} from 'node-opcua-client';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';

/** Options of a node-opcua test client session. */
export interface SessionOptions {
  securityPolicy?: SecurityPolicy;
  securityMode?: MessageSecurityMode;
  user?: { userName: string; password: string };
  /** PKI folder of the client (its own certificate); default a fresh temp folder. */
  pkiDir?: string;
}

/** A fresh client PKI folder. */
export function clientPki(): string {
  return mkdtempSync(join(tmpdir(), 'iotsim-opcua-client-'));
}

/** Opens a node-opcua client session to `opc.tcp://127.0.0.1:port`; `close()` ends it. */
export async function openSession(
  port: number,
  options: SessionOptions = {},
): Promise<{ client: OPCUAClient; session: ClientSession; close(): Promise<void> }> {
  const certificates = new OPCUACertificateManager({
    rootFolder: options.pkiDir ?? clientPki(),
    automaticallyAcceptUnknownCertificate: true,
  });
  const client = OPCUAClient.create({
    applicationName: 'iotsim-test-client',
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    securityPolicy: options.securityPolicy ?? SecurityPolicy.None,
    securityMode: options.securityMode ?? MessageSecurityMode.None,
    clientCertificateManager: certificates,
    requestedSessionTimeout: 20_000,
  });
  try {
    await client.connect(`opc.tcp://127.0.0.1:${port}`);
    const identity: UserIdentityInfo | undefined = options.user
      ? { type: 1, userName: options.user.userName, password: options.user.password }
      : undefined;
    const session = await client.createSession(identity);
    return {
      client,
      session,
      async close() {
        await session.close().catch(() => undefined);
        await client.disconnect().catch(() => undefined);
        await certificates.dispose().catch(() => undefined);
      },
    };
  } catch (err) {
    await client.disconnect().catch(() => undefined);
    await certificates.dispose().catch(() => undefined);
    throw err;
  }
}

/** Reads the Value attribute of string node ids in namespace `urn:iotsim`. */
export async function readValues(
  session: ClientSession,
  ids: readonly string[],
): Promise<DataValue[]> {
  const ns = await namespaceIndex(session);
  return session.read(
    ids.map((id) => ({ nodeId: `ns=${ns};s=${id}`, attributeId: AttributeIds.Value })),
  );
}

/** The index of `urn:iotsim` in the server's namespace array. */
export async function namespaceIndex(session: ClientSession, uri = 'urn:iotsim'): Promise<number> {
  const dv = await session.read({ nodeId: 'ns=0;i=2255', attributeId: AttributeIds.Value });
  const idx = (dv.value.value as string[]).indexOf(uri);
  if (idx < 0) throw new Error(`namespace ${uri} not in the server's namespace array`);
  return idx;
}
