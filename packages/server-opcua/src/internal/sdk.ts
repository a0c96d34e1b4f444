import { importSdk } from '@iotsim/core';

const PLUGIN = 'opcua server';
const HINT = 'it comes with @iotsim/server-opcua: reinstall that';

/** The parts of node-opcua the server uses, loaded on start (importing the package stays cheap). */
export async function loadOpcUaSdk() {
  // One after the other: they share most of node-opcua, and jest's ESM loader fails on
  // concurrent imports of one module graph ("... that is not linked").
  const server = await importSdk('node-opcua-server', () => import('node-opcua-server'), PLUGIN, {
    hint: HINT,
  });
  const certificates = await importSdk(
    'node-opcua-certificate-manager',
    () => import('node-opcua-certificate-manager'),
    PLUGIN,
    { hint: HINT },
  );
  const secure = await importSdk(
    'node-opcua-secure-channel',
    () => import('node-opcua-secure-channel'),
    PLUGIN,
    { hint: HINT },
  );
  const variant = await importSdk(
    'node-opcua-variant',
    () => import('node-opcua-variant'),
    PLUGIN,
    {
      hint: HINT,
    },
  );
  const status = await importSdk(
    'node-opcua-status-code',
    () => import('node-opcua-status-code'),
    PLUGIN,
    { hint: HINT },
  );
  const debug = await importSdk('node-opcua-debug', () => import('node-opcua-debug'), PLUGIN, {
    hint: HINT,
  });
  return {
    OPCUAServer: server.OPCUAServer,
    OPCUACertificateManager: certificates.OPCUACertificateManager,
    MessageSecurityMode: secure.MessageSecurityMode,
    SecurityPolicy: secure.SecurityPolicy,
    DataType: variant.DataType,
    Variant: variant.Variant,
    StatusCodes: status.StatusCodes,
    setWarningLogger: debug.setWarningLogger,
    setErrorLogger: debug.setErrorLogger,
  };
}

/** The loaded SDK. */
export type OpcUaSdk = Awaited<ReturnType<typeof loadOpcUaSdk>>;
