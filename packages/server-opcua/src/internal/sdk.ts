import { importSdk } from '@iotsim/core';

const HINT = 'install it with: npm install @iotsim/server-opcua (it brings node-opcua-server)';

/** The parts of node-opcua the server uses, loaded on start (importing the package stays cheap). */
export async function loadOpcUaSdk() {
  const plugin = 'opcua server';
  // One after the other: they share most of node-opcua, and jest's ESM loader fails on
  // concurrent imports of one module graph ("... that is not linked").
  const server = await importSdk('node-opcua-server', () => import('node-opcua-server'), plugin, {
    hint: HINT,
  });
  const certificates = await importSdk(
    'node-opcua-certificate-manager',
    () => import('node-opcua-certificate-manager'),
    plugin,
    { hint: HINT },
  );
  const secure = await importSdk(
    'node-opcua-secure-channel',
    () => import('node-opcua-secure-channel'),
    plugin,
    { hint: HINT },
  );
  const variant = await importSdk(
    'node-opcua-variant',
    () => import('node-opcua-variant'),
    plugin,
    { hint: HINT },
  );
  const status = await importSdk(
    'node-opcua-status-code',
    () => import('node-opcua-status-code'),
    plugin,
    { hint: HINT },
  );
  return {
    OPCUAServer: server.OPCUAServer,
    OPCUACertificateManager: certificates.OPCUACertificateManager,
    MessageSecurityMode: secure.MessageSecurityMode,
    SecurityPolicy: secure.SecurityPolicy,
    DataType: variant.DataType,
    Variant: variant.Variant,
    StatusCodes: status.StatusCodes,
  };
}

/** The loaded SDK. */
export type OpcUaSdk = Awaited<ReturnType<typeof loadOpcUaSdk>>;
