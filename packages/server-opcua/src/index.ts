export { OpcUaServer } from './opcua-server.js';
export { opcUaNodeManifest } from './manifest.js';
export type { OpcUaManifestFormat, OpcUaManifestOptions } from './manifest.js';
export type {
  OpcUaSecurityMode,
  OpcUaSecurityPolicy,
  OpcUaServerOptions,
  OpcUaUser,
  ResolvedOpcUaOptions,
} from './options.js';
