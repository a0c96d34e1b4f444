import { timingSafeEqual } from 'node:crypto';
import { format } from 'node:util';
import { access, constants, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  parseOptions,
  ServerStartError,
  Server,
  type LiveState,
  type ServerContext,
} from '@iotsim/core';
import type { OPCUACertificateManager } from 'node-opcua-certificate-manager';
import type { OPCUAServer as SdkServer } from 'node-opcua-server';
import { buildAddressSpace } from './internal/address-space.js';
import { loadOpcUaSdk, type OpcUaSdk } from './internal/sdk.js';
import {
  OpcUaServerSchema,
  type OpcUaServerOptions,
  type ResolvedOpcUaOptions,
} from './options.js';

/**
 * Serves the live simulation over OPC UA (node-opcua): `Objects/IoTSim/<industry>/<device>/<sensor>`,
 * one AnalogItem per sensor (node id `ns=<urn:iotsim>;s=<industry>/<device>/<sensor>`, EURange,
 * EngineeringUnits, a `Fault` child), updated at every tick with the tick's SourceTimestamp, and the
 * methods InjectFault, ClearFault, OverrideValue and ClearOverride on `IoTSim`.
 *
 * @example
 * sim.addServer(new OpcUaServer({ port: 4840 }));  // opc.tcp://127.0.0.1:4840
 */
export class OpcUaServer extends Server {
  static override readonly type = 'opcua';
  static override readonly schema = OpcUaServerSchema;
  /** The validated options. */
  readonly options: ResolvedOpcUaOptions;
  private server: SdkServer | undefined;
  private managers: OPCUACertificateManager[] = [];
  private unsubscribe: (() => void) | undefined;
  private boundPort: number | undefined;
  private logger: ServerContext['logger'] | undefined;
  private name = 'opcua';

  constructor(options: OpcUaServerOptions = {}) {
    super();
    this.options = parseOptions(OpcUaServerSchema, options);
    for (const user of this.options.users) this.registerSecret(user.password);
  }

  /** The endpoint URL, once started (`opc.tcp://127.0.0.1:4840`). */
  get endpointUrl(): string | undefined {
    return this.boundPort === undefined
      ? undefined
      : `opc.tcp://${hostForUrl(this.options.host)}:${this.boundPort}`;
  }

  async start(state: LiveState, context: ServerContext): Promise<void> {
    const o = this.options;
    this.logger = context.logger;
    this.name = context.name;
    const sdk = await loadOpcUaSdk();
    routeSdkLogs(sdk, context);
    const table = context.channels;
    const variables = 2 * table.length;
    if (o.maxMonitoredItems !== undefined && o.maxMonitoredItems < variables) {
      throw new ServerStartError(
        'opcua',
        `max_monitored_items is ${o.maxMonitoredItems} but the address space has ${variables} variables (${table.length} sensors and their Fault flags); raise max_monitored_items to at least ${variables} or leave it out`,
      );
    }
    const limit = o.maxMonitoredItems ?? Math.max(10_000, 2 * variables);
    const server = await this.create(sdk, limit);
    this.server = server;
    try {
      await server.initialize();
      const addressSpace = server.engine.addressSpace!;
      const namespace = addressSpace.registerNamespace(o.namespaceUri);
      const t0 = performance.now();
      const nodes = buildAddressSpace(
        sdk,
        namespace,
        addressSpace.rootFolder.objects,
        table,
        context.control,
        context.logger,
        context.name,
      );
      context.logger.debug(
        `${context.name}: ${nodes.variableCount} variables built in ${Math.round(performance.now() - t0)} ms`,
      );
      if (state.latest) nodes.update(state.latest);
      this.unsubscribe = state.subscribe((s) => nodes.update(s));
      await server.start().catch((err: unknown) => {
        throw this.listenError(err);
      });
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.boundPort = o.port === 0 ? (server.endpoints[0]?.port ?? o.port) : o.port;
    context.logger.info(`${context.name}: serving OPC UA on ${this.describe()}`);
    if (!o.trustAll)
      context.logger.info(
        `${context.name}: unknown client certificates are rejected into ${join(o.pkiDir, 'rejected')}; move one to ${join(o.pkiDir, 'trusted', 'certs')} to trust it, or set trust_client_certificates: true`,
      );
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const server = this.server;
    const managers = this.managers;
    this.server = undefined;
    this.managers = [];
    this.boundPort = undefined;
    if (server) {
      // node-opcua's shutdown can wait on sessions and timers: bound it, then close the sockets.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), this.options.shutdownTimeoutS * 1000);
      });
      const done = await Promise.race([
        server.shutdown(0).then(
          () => false,
          () => false,
        ),
        timedOut,
      ]);
      clearTimeout(timer);
      if (done) {
        await Promise.all(
          server.endpoints.map(
            (e) => new Promise<void>((resolve) => e.killClientSockets(() => resolve())),
          ),
        );
        server.dispose();
      }
    }
    await Promise.all(managers.map((m) => m.dispose().catch(() => undefined)));
  }

  override describe(): string {
    const o = this.options;
    const logins = [
      ...(o.allowAnonymous ? ['anonymous'] : []),
      ...(o.users.length ? [`${o.users.length} user(s)`] : []),
    ];
    return `opcua (${this.endpointUrl ?? `opc.tcp://${hostForUrl(o.host)}:${o.port}`}, security ${o.securityPolicies.join('/')} ${o.securityModes.join('/')}, ${logins.join(' + ')}, pki ${o.pkiDir})`;
  }

  private async create(sdk: OpcUaSdk, limit: number): Promise<SdkServer> {
    const o = this.options;
    await this.preparePki();
    const serverManager = new sdk.OPCUACertificateManager({
      rootFolder: o.pkiDir,
      automaticallyAcceptUnknownCertificate: o.trustAll,
      name: 'iotsim',
    });
    const userManager = new sdk.OPCUACertificateManager({
      rootFolder: join(o.pkiDir, 'user-pki'),
      automaticallyAcceptUnknownCertificate: false,
      name: 'iotsim-users',
    });
    this.managers = [serverManager, userManager];
    if (!o.trustAll) this.reportRejections(serverManager);
    try {
      await serverManager.initialize();
      await userManager.initialize();
    } catch (err) {
      await this.stop();
      throw new ServerStartError(
        'opcua',
        `pki_dir ${o.pkiDir}: cannot set up the certificate store (${(err as Error).message}); give a writable folder with pki_dir`,
        { cause: err },
      );
    }
    const users = o.users;
    const policy = {
      None: sdk.SecurityPolicy.None,
      Basic256Sha256: sdk.SecurityPolicy.Basic256Sha256,
    };
    const mode = {
      None: sdk.MessageSecurityMode.None,
      Sign: sdk.MessageSecurityMode.Sign,
      SignAndEncrypt: sdk.MessageSecurityMode.SignAndEncrypt,
    };
    return new sdk.OPCUAServer({
      port: o.port,
      host: o.host,
      // Endpoint URLs name the host listened on (node-opcua's default is the machine's name).
      ...(isWildcard(o.host) ? {} : { alternateHostname: o.host }),
      serverCertificateManager: serverManager,
      userCertificateManager: userManager,
      securityPolicies: o.securityPolicies.map((p) => policy[p]),
      securityModes: o.securityModes.map((m) => mode[m]),
      allowAnonymous: o.allowAnonymous,
      userManager: {
        isValidUser: (username: string, password: string) =>
          users.some((u) => u.username === username && sameText(u.password, password)),
      },
      maxConnectionsPerEndpoint: o.maxSessions,
      serverCapabilities: {
        maxSessions: o.maxSessions,
        maxMonitoredItems: limit,
        maxMonitoredItemsPerSubscription: limit,
        operationLimits: {
          maxMonitoredItemsPerCall: limit,
          maxNodesPerRead: limit,
          maxNodesPerBrowse: limit,
          maxNodesPerMethodCall: 1000,
          maxNodesPerTranslateBrowsePathsToNodeIds: limit,
          maxNodesPerRegisterNodes: limit,
        },
      },
      isAuditing: false,
      buildInfo: { productName: 'iotsim', manufacturerName: 'iotsim', productUri: 'urn:iotsim' },
      serverInfo: { applicationName: { text: 'iotsim OPC UA server' }, productUri: 'urn:iotsim' },
    });
  }

  /** Logs where an untrusted client certificate went and how to trust it. */
  private reportRejections(manager: OPCUACertificateManager): void {
    const o = this.options;
    const check = manager.checkCertificate.bind(manager) as (
      chain: Parameters<OPCUACertificateManager['checkCertificate']>[0],
    ) => Promise<{ name: string }>;
    const wrapped = async (chain: Parameters<typeof check>[0]) => {
      const status = await check(chain);
      if (status.name === 'BadCertificateUntrusted')
        this.logger?.warn(
          `${this.name}: refused a client certificate (${status.name}): it is in ${join(o.pkiDir, 'rejected')}; move it to ${join(o.pkiDir, 'trusted', 'certs')} to trust it, or set trust_client_certificates: true`,
        );
      return status;
    };
    Object.assign(manager, { checkCertificate: wrapped });
  }

  /** Creates the PKI folder and checks it is writable; copies trusted client certificates in. */
  private async preparePki(): Promise<void> {
    const o = this.options;
    try {
      await mkdir(o.pkiDir, { recursive: true });
      await access(o.pkiDir, constants.W_OK);
      const probe = join(o.pkiDir, `.iotsim-write-test-${process.pid}`);
      await writeFile(probe, '');
      await rm(probe, { force: true });
    } catch (err) {
      throw new ServerStartError(
        'opcua',
        `pki_dir ${o.pkiDir} cannot be created or written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a writable folder with pki_dir`,
        { cause: err },
      );
    }
    if (o.trustFiles.length === 0) return;
    const trusted = join(o.pkiDir, 'trusted', 'certs');
    await mkdir(trusted, { recursive: true });
    for (const file of o.trustFiles) {
      try {
        await copyFile(file, join(trusted, basename(file)));
      } catch (err) {
        throw new ServerStartError(
          'opcua',
          `trust_client_certificates: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of a PEM or DER certificate file`,
          { cause: err },
        );
      }
    }
  }

  private listenError(err: unknown): Error {
    const text = `${(err as Error)?.message ?? String(err)} ${String((err as { code?: string })?.code ?? '')}`;
    const o = this.options;
    if (/EADDRINUSE/.test(text))
      return new ServerStartError(
        'opcua',
        `port ${o.port} on ${o.host} is in use; choose another port, or stop what uses it`,
        { cause: err },
      );
    if (/EACCES/.test(text))
      return new ServerStartError(
        'opcua',
        `no permission to listen on port ${o.port}; use a port above 1023`,
        { cause: err },
      );
    return new ServerStartError(
      'opcua',
      `cannot listen on ${o.host}:${o.port}: ${(err as Error)?.message ?? String(err)}; check host and port`,
      { cause: err },
    );
  }
}

/**
 * node-opcua prints its warnings and errors with console.log (stdout, where the console sink
 * writes): send them to the run's logger instead, at debug level, except its coded warnings
 * (`[NODE-OPCUA-W26] …`, a certificate that does not name the host) at warn. The SDK's loggers
 * are process-wide: the last server started owns them.
 */
function routeSdkLogs(sdk: OpcUaSdk, context: ServerContext): void {
  const print =
    (level: 'warning' | 'error') =>
    (where?: unknown, ...args: unknown[]): void => {
      const file = (where as { filename?: string } | undefined)?.filename ?? 'node-opcua';
      const text = `${context.name}: node-opcua ${file}: ${format(...args)}`;
      if (level === 'warning' && /\[NODE-OPCUA-W\d+\]/.test(text)) context.logger.warn(text);
      else context.logger.debug(text);
    };
  sdk.setWarningLogger(print('warning'));
  sdk.setErrorLogger(print('error'));
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
