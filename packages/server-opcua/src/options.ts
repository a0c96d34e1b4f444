import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { OptionReader } from '@iotsim/core';

/** OPC UA security policies the server can offer. */
export type OpcUaSecurityPolicy = 'None' | 'Basic256Sha256';

/** OPC UA message security modes the server can offer (`None` goes with the `None` policy). */
export type OpcUaSecurityMode = 'None' | 'Sign' | 'SignAndEncrypt';

/** A user/password login the server accepts. */
export interface OpcUaUser {
  /** The user name a client logs in with. */
  username: string;
  /** Its password (redacted from logs and errors). */
  password: string;
}

/**
 * Options of `OpcUaServer` (YAML: `servers: [{ type: opcua, port, host, pki_dir, users, … }]`,
 * snake_case keys).
 */
export interface OpcUaServerOptions {
  /** Address to listen on. Default `127.0.0.1` (this machine only); `0.0.0.0` for other machines. */
  host?: string;
  /** TCP port. Default 4840. */
  port?: number;
  /** Namespace URI of the iotsim nodes (`nsu=` in node ids). Default `urn:iotsim`. */
  namespaceUri?: string;
  /** Security policies offered. Default `['None', 'Basic256Sha256']`. */
  securityPolicies?: OpcUaSecurityPolicy[];
  /** Message security modes offered. Default `['None', 'Sign', 'SignAndEncrypt']`. */
  securityModes?: OpcUaSecurityMode[];
  /** Accept anonymous sessions. Default true. */
  allowAnonymous?: boolean;
  /** User/password logins accepted. Default none. */
  users?: OpcUaUser[];
  /** Folder of the server's PKI (own certificate, trusted/ and rejected/ client certificates). Default `~/.cache/iotsim/opcua-pki`. */
  pkiDir?: string;
  /** `true` trusts every client certificate; a list of certificate files (PEM/DER) trusts those. Default false (unknown ones are rejected). */
  trustClientCertificates?: boolean | string[];
  /** Maximum concurrent sessions (and connections). Default 100. */
  maxSessions?: number;
  /** Maximum monitored items (per server, per subscription and per call). Default: enough for every variable twice over, at least 10,000. */
  maxMonitoredItems?: number;
  /** Seconds `stop()` waits for node-opcua's shutdown before it closes the sockets itself. Default 5. */
  shutdownTimeoutS?: number;
}

/** Options after validation, with defaults applied (`OpcUaServer.options`). */
export interface ResolvedOpcUaOptions {
  /** Address listened on. */
  readonly host: string;
  /** TCP port. */
  readonly port: number;
  /** Namespace URI of the iotsim nodes. */
  readonly namespaceUri: string;
  /** Security policies offered. */
  readonly securityPolicies: readonly OpcUaSecurityPolicy[];
  /** Message security modes offered. */
  readonly securityModes: readonly OpcUaSecurityMode[];
  /** Whether anonymous sessions are accepted. */
  readonly allowAnonymous: boolean;
  /** User/password logins (passwords are registered for redaction). */
  readonly users: readonly OpcUaUser[];
  /** Absolute path of the PKI folder. */
  readonly pkiDir: string;
  /** Every client certificate is trusted. */
  readonly trustAll: boolean;
  /** Client certificate files to trust (absolute paths). */
  readonly trustFiles: readonly string[];
  /** Maximum concurrent sessions. */
  readonly maxSessions: number;
  /** Monitored items limit; undefined: computed from the address space. */
  readonly maxMonitoredItems: number | undefined;
  /** Bound of `stop()`, seconds. */
  readonly shutdownTimeoutS: number;
}

const POLICIES: readonly OpcUaSecurityPolicy[] = ['None', 'Basic256Sha256'];
const MODES: readonly OpcUaSecurityMode[] = ['None', 'Sign', 'SignAndEncrypt'];

/** The PKI folder used when `pki_dir` is not given. */
export function defaultPkiDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'iotsim', 'opcua-pki');
}

/** Reads and validates the OPC UA server's options. */
export function readOpcUaOptions(options: object): ResolvedOpcUaOptions {
  const r = new OptionReader(options);
  const host = r.string('host', '127.0.0.1');
  const port = r.number('port', 4840, { min: 0, max: 65535, integer: true });
  const namespaceUri = r.string('namespaceUri', 'urn:iotsim');
  if (!namespaceUri.trim()) r.problem('namespaceUri', 'must not be empty (e.g. urn:iotsim)');
  const securityPolicies = readList(r, 'securityPolicies', POLICIES, POLICIES);
  const securityModes = readList(r, 'securityModes', MODES, MODES);
  if (securityPolicies.includes('None') !== securityModes.includes('None')) {
    r.problem(
      'securityModes',
      securityModes.includes('None')
        ? "mode 'None' needs policy 'None' in security_policies"
        : "policy 'None' needs mode 'None' in security_modes",
    );
  }
  if (securityPolicies.includes('Basic256Sha256') && !securityModes.some((m) => m !== 'None')) {
    r.problem('securityModes', "policy 'Basic256Sha256' needs mode 'Sign' or 'SignAndEncrypt'");
  }
  const allowAnonymous = r.boolean('allowAnonymous', true);
  const users = readUsers(r);
  if (!allowAnonymous && users.length === 0) {
    r.problem('allowAnonymous', 'is false and no users are given: nobody could log in; add users');
  }
  const rawPki = r.string('pkiDir');
  if (rawPki !== undefined && !rawPki.trim()) r.problem('pkiDir', 'must not be empty');
  const trust = r.raw('trustClientCertificates');
  let trustAll = false;
  let trustFiles: string[] = [];
  if (typeof trust === 'boolean') trustAll = trust;
  else if (typeof trust === 'string' && /^(true|false)$/i.test(trust))
    trustAll = /^true$/i.test(trust);
  else if (trust !== undefined && trust !== null) {
    trustFiles = r.stringArray('trustClientCertificates', []).map((f) => resolve(f));
  }
  const maxSessions = r.number('maxSessions', 100, { min: 1, integer: true });
  const maxMonitoredItems = r.number('maxMonitoredItems', undefined, { min: 1, integer: true });
  const shutdownTimeoutS = r.number('shutdownTimeoutS', 5, { min: 0 });
  r.finish();
  return {
    host,
    port,
    namespaceUri,
    securityPolicies,
    securityModes,
    allowAnonymous,
    users,
    pkiDir: resolve(rawPki?.trim() ? rawPki : defaultPkiDir()),
    trustAll,
    trustFiles,
    maxSessions,
    maxMonitoredItems,
    shutdownTimeoutS,
  };
}

function readList<T extends string>(
  r: OptionReader,
  key: string,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  const list = r.stringArray(key, fallback);
  const out: T[] = [];
  for (const v of list) {
    const hit = allowed.find((a) => a.toLowerCase() === v.toLowerCase());
    if (hit) {
      if (!out.includes(hit)) out.push(hit);
    } else
      r.problem(
        key,
        `unknown value ${JSON.stringify(v)}; use ${allowed.map((a) => `'${a}'`).join(', ')}`,
      );
  }
  if (list.length === 0) r.problem(key, 'must name at least one value');
  return out;
}

function readUsers(r: OptionReader): OpcUaUser[] {
  const v = r.raw('users');
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    r.problem('users', 'must be a list of { username, password }');
    return [];
  }
  const out: OpcUaUser[] = [];
  Array.from(v as unknown[]).forEach((u, i) => {
    if (typeof u !== 'object' || u === null || Array.isArray(u)) {
      r.problem(`users[${i}]`, 'must be a mapping { username, password }');
      return;
    }
    const entry = u as Record<string, unknown>;
    const { username, password } = entry;
    for (const k of Object.keys(entry)) {
      if (k !== 'username' && k !== 'password')
        r.problem(`users[${i}].${k}`, 'unknown key; a user has username and password');
    }
    if (typeof username !== 'string' || !username.trim()) {
      r.problem(`users[${i}].username`, 'is required (a non-empty string)');
      return;
    }
    if (typeof password !== 'string' || password === '') {
      r.problem(`users[${i}].password`, 'is required (a non-empty string)');
      return;
    }
    if (out.some((o) => o.username === username))
      r.problem(`users[${i}].username`, `'${username}' is given twice`);
    out.push({ username, password });
  });
  return out;
}
