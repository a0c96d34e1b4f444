export { OpcUaServer } from './opcua-server.js';
export type {
  OpcUaSecurityMode,
  OpcUaSecurityPolicy,
  OpcUaServerOptions,
  OpcUaUser,
} from './options.js';
