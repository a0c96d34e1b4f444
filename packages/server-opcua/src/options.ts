import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  field,
  opt,
  recordKey,
  v,
  type InputOf,
  type OptionSchema,
  type OutputOf,
  type Problem,
} from '@iotsim/core';

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

const POLICIES: readonly OpcUaSecurityPolicy[] = ['None', 'Basic256Sha256'];
const MODES: readonly OpcUaSecurityMode[] = ['None', 'Sign', 'SignAndEncrypt'];

/** The PKI folder used when `pki_dir` is not given. */
export function defaultPkiDir(): string {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'iotsim', 'opcua-pki');
}

/** Reads `value` with `schema`, passing its problems on; undefined when it is bad. */
function readWith<O>(schema: OptionSchema<unknown, O>, value: unknown, problem: Problem) {
  const read = v.safeParse(schema, value);
  if (read.success) return read.output;
  for (const issue of read.issues) problem(issue.message);
  return undefined;
}

const strings = opt.stringList() as OptionSchema<unknown, string[]>;

/** Text that must not be blank (`blank` says so). */
function text(blank: string) {
  return v.pipe(
    opt.string(),
    v.check((s) => s.trim() !== '', blank),
  );
}

/** A non-empty list of `allowed` names, matched case-insensitively, each kept once; one name is a list of one. */
function choices<const T extends string>(allowed: readonly T[]) {
  const json = { enum: [...allowed] };
  return field<T | readonly T[], readonly T[]>(
    { anyOf: [json, { type: 'array', items: json, minItems: 1 }] },
    (value, problem) => {
      const list = readWith(strings, value, problem);
      if (!list) return [];
      const out: T[] = [];
      for (const name of list) {
        const hit = allowed.find((a) => a.toLowerCase() === name.toLowerCase());
        if (!hit)
          problem(
            `unknown value ${JSON.stringify(name)}; use ${allowed.map((a) => `'${a}'`).join(', ')}`,
          );
        else if (!out.includes(hit)) out.push(hit);
      }
      if (list.length === 0) problem('must name at least one value');
      return out;
    },
  );
}

/** The logins: a list of `{ username, password }`, user names unique. */
const users = field<readonly OpcUaUser[], readonly OpcUaUser[]>(
  {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        username: { type: 'string', minLength: 1 },
        password: { type: 'string', minLength: 1 },
      },
      required: ['username', 'password'],
      additionalProperties: false,
    },
  },
  (value, problem) => {
    if (!Array.isArray(value)) {
      problem('must be a list of { username, password }');
      return [];
    }
    const out: OpcUaUser[] = [];
    Array.from(value as unknown[]).forEach((u, i) => {
      if (typeof u !== 'object' || u === null || Array.isArray(u)) {
        problem('must be a mapping { username, password }', [i]);
        return;
      }
      const entry = u as Record<string, unknown>;
      const { username, password } = entry;
      for (const k of Object.keys(entry)) {
        if (k !== 'username' && k !== 'password')
          problem('unknown key; a user has username and password', [i, recordKey(k)]);
      }
      if (typeof username !== 'string' || !username.trim()) {
        problem('is required (a non-empty string)', [i, 'username']);
        return;
      }
      if (typeof password !== 'string' || password === '') {
        problem('is required (a non-empty string)', [i, 'password']);
        return;
      }
      if (out.some((o) => o.username === username))
        problem(`'${username}' is given twice`, [i, 'username']);
      out.push({ username, password });
    });
    return out;
  },
);

/** `true`/`false` (also as text), or certificate files: one path or a list, made absolute. */
const trust = field<boolean | string | readonly string[], boolean | readonly string[]>(
  {
    anyOf: [{ type: 'boolean' }, { type: 'string' }, { type: 'array', items: { type: 'string' } }],
  },
  (value, problem) => {
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string' && /^(true|false)$/i.test(value)) return /^true$/i.test(value);
    return (readWith(strings, value, problem) ?? []).map((f) => resolve(f));
  },
);

const OpcUaServerEntries = opt.object({
  /** Address to listen on. Default `127.0.0.1` (this machine only); `0.0.0.0` for other machines. */
  host: v.nullish(opt.string(), '127.0.0.1'),
  /** TCP port. Default 4840. */
  port: v.nullish(opt.number({ min: 0, max: 65535, integer: true }), 4840),
  /** Namespace URI of the iotsim nodes (`nsu=` in node ids). Default `urn:iotsim`. */
  namespaceUri: v.nullish(text('must not be empty (e.g. urn:iotsim)'), 'urn:iotsim'),
  /** Security policies offered. Default `['None', 'Basic256Sha256']`. */
  securityPolicies: v.nullish(choices(POLICIES), POLICIES),
  /** Message security modes offered. Default `['None', 'Sign', 'SignAndEncrypt']`. */
  securityModes: v.nullish(choices(MODES), MODES),
  /** Accept anonymous sessions. Default true. */
  allowAnonymous: v.nullish(opt.boolean(), true),
  /** User/password logins accepted (passwords are registered for redaction). Default none. */
  users: v.nullish(users, []),
  /** Folder of the server's PKI (own certificate, trusted/ and rejected/ client certificates). Default `~/.cache/iotsim/opcua-pki`. */
  pkiDir: v.nullish(text('must not be empty')),
  /** `true` trusts every client certificate; a list of certificate files (PEM/DER) trusts those. Default false (unknown ones are rejected). */
  trustClientCertificates: v.nullish(trust, false),
  /** Maximum concurrent sessions (and connections). Default 100. */
  maxSessions: v.nullish(opt.number({ min: 1, integer: true }), 100),
  /** Maximum monitored items (per server, per subscription and per call). Default: enough for every variable twice over, at least 10,000. */
  maxMonitoredItems: v.nullish(opt.number({ min: 1, integer: true })),
  /** Seconds `stop()` waits for node-opcua's shutdown before it closes the sockets itself. Default 5. */
  shutdownTimeoutS: v.nullish(opt.number({ min: 0 }), 5),
});

/** A list of `allowed` names as a valid entry reads (a bad entry reads as it was given). */
function isChoiceList<T extends string>(value: unknown, allowed: readonly T[]): value is T[] {
  return Array.isArray(value) && value.length > 0 && value.every((x) => allowed.includes(x as T));
}

/**
 * Options of `OpcUaServer` (YAML: `servers: [{ type: opcua, port, host, pki_dir, users, … }]`,
 * snake_case keys).
 */
export type OpcUaServerOptions = InputOf<typeof OpcUaServerEntries>;

/** Options after validation, with defaults applied (`OpcUaServer.options`). */
export type ResolvedOpcUaOptions = Readonly<
  Omit<
    OutputOf<typeof OpcUaServerEntries>,
    'pkiDir' | 'trustClientCertificates' | 'maxMonitoredItems'
  > & {
    /** Absolute path of the PKI folder. */
    pkiDir: string;
    /** Every client certificate is trusted. */
    trustAll: boolean;
    /** Client certificate files to trust (absolute paths). */
    trustFiles: readonly string[];
    /** Monitored items limit; undefined: computed from the address space. */
    maxMonitoredItems: number | undefined;
  }
>;

// Typed by name (not inferred) so that the declarations keep each option's TSDoc.
export const OpcUaServerSchema: OptionSchema<OpcUaServerOptions, ResolvedOpcUaOptions> =
  opt.resolve(
    OpcUaServerEntries,
    ({ pkiDir, trustClientCertificates, maxMonitoredItems, ...rest }) => ({
      ...rest,
      pkiDir: resolve(pkiDir ?? defaultPkiDir()),
      trustAll: trustClientCertificates === true,
      trustFiles: typeof trustClientCertificates === 'boolean' ? [] : trustClientCertificates,
      maxMonitoredItems: maxMonitoredItems ?? undefined,
    }),
    ({ securityPolicies: policies, securityModes: modes, allowAnonymous, users }, problem) => {
      // Only between valid entries: a bad one has its own problem.
      if (isChoiceList(policies, POLICIES) && isChoiceList(modes, MODES)) {
        if (policies.includes('None') !== modes.includes('None'))
          problem(
            modes.includes('None')
              ? "mode 'None' needs policy 'None' in %{securityPolicies}"
              : "policy 'None' needs mode 'None' in %{securityModes}",
            ['securityModes'],
          );
        if (policies.includes('Basic256Sha256') && !modes.some((m) => m !== 'None'))
          problem("policy 'Basic256Sha256' needs mode 'Sign' or 'SignAndEncrypt'", [
            'securityModes',
          ]);
      }
      if (allowAnonymous === false && Array.isArray(users) && users.length === 0)
        problem('is false and no users are given: nobody could log in; add %{users}', [
          'allowAnonymous',
        ]);
    },
  );
