/** One step of an option path: an option key, a free-form map key, an unknown key, or a list index. */
export type PathSegment =
  | { readonly key: string; readonly kind: 'option' | 'entry' | 'unknown' }
  | { readonly index: number };

/** One problem found while validating configuration, with the path of the option it concerns. */
export interface ConfigIssue {
  /** Option path, e.g. `sinks[2].rate_hz`; empty for the document itself. */
  readonly path: string;
  /** What is wrong and, where possible, how to fix it. */
  readonly message: string;
  /**
   * The same problem before naming (set by schema validation): the path's segments, the message with
   * option names marked `%{name}`, and a did-you-mean name, so it can be shown in YAML's names.
   */
  readonly raw?: {
    readonly segments: readonly PathSegment[];
    readonly template: string;
    readonly hint?: string;
  };
}

/** Base class of every error iotsim throws on purpose. */
export class IotSimError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration: every problem found, each prefixed with its option path. */
export class ConfigError extends IotSimError {
  readonly issues: readonly ConfigIssue[];
  constructor(
    issues: readonly ConfigIssue[] | string,
    options?: { cause?: unknown; source?: string },
  ) {
    const list = typeof issues === 'string' ? [{ path: '', message: issues }] : issues;
    const lines = list.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    const head = options?.source ? `${options.source}: ` : '';
    super(
      list.length === 1
        ? `${head}${lines[0]}`
        : `${head}${list.length} configuration problems:\n  ${lines.join('\n  ')}`,
      options,
    );
    this.issues = list;
  }
}

/** An industry name that is not in the catalog. */
export class UnknownIndustryError extends ConfigError {
  readonly industry: string;
  constructor(industry: string, suggestions: readonly string[], path = '') {
    const hint = suggestions.length
      ? `did you mean ${suggestions.map((s) => `'${s}'`).join(' or ')}?`
      : `run 'iotsim list-industries' to see them`;
    super([{ path, message: `unknown industry '${industry}': ${hint}` }]);
    this.industry = industry;
  }
}

/** A sink type with no registered implementation. */
export class UnknownSinkTypeError extends ConfigError {
  readonly sinkType: string;
  constructor(sinkType: string, known: readonly string[], path = '') {
    super([
      {
        path,
        message: `unknown sink type '${sinkType}'; known types: ${known.join(', ')} (or register your own with registerSink)`,
      },
    ]);
    this.sinkType = sinkType;
  }
}

/** Problems in a CSV file; each issue path is `file:line`. */
export class CsvError extends ConfigError {
  readonly file: string;
  /** Line of the first problem (1-based). */
  readonly line: number;
  constructor(
    file: string,
    problems: readonly { line: number; message: string }[],
    options?: { cause?: unknown },
  ) {
    super(
      problems.map((p) => ({ path: `${file}:${p.line}`, message: p.message })),
      options,
    );
    this.file = file;
    this.line = problems[0]?.line ?? 0;
  }
}

/** A sink or server type whose package is not installed. */
export class SinkNotInstalledError extends IotSimError {
  readonly sinkType: string;
  readonly packageName: string;
  constructor(
    sinkType: string,
    packageName: string,
    options?: { cause?: unknown; kind?: 'sink' | 'server' },
  ) {
    super(
      `${options?.kind ?? 'sink'} type '${sinkType}' needs the package ${packageName}, which is not installed; install it with: npm install ${packageName}`,
      options,
    );
    this.sinkType = sinkType;
    this.packageName = packageName;
  }
}

/**
 * A plugin's SDK (a package it loads when it connects or starts) is not installed. Raised by
 * `importSdk`; the message names the package and the install command.
 */
export class SdkNotInstalledError extends IotSimError {
  readonly packageName: string;
  /** The plugin that needs it, e.g. `kafka sink`. */
  readonly plugin: string;
  constructor(packageName: string, plugin: string, options?: { cause?: unknown; hint?: string }) {
    super(
      `${plugin} needs the package ${packageName}, which is not installed; install it with: npm install ${packageName}${options?.hint ? ` (${options.hint})` : ''}`,
      options,
    );
    this.packageName = packageName;
    this.plugin = plugin;
  }
}

/** A server could not start (port in use, bad certificate folder …); the message names the option and the fix. */
export class ServerStartError extends IotSimError {
  readonly serverType: string;
  constructor(serverType: string, message: string, options?: { cause?: unknown }) {
    super(`${serverType} server: ${message}`, options);
    this.serverType = serverType;
  }
}

/** A server type with no registered implementation. */
export class UnknownServerTypeError extends ConfigError {
  readonly serverType: string;
  constructor(serverType: string, known: readonly string[], path = '') {
    super([
      {
        path,
        message: `unknown server type '${serverType}'; known types: ${known.join(', ')} (or register your own with registerServer)`,
      },
    ]);
    this.serverType = serverType;
  }
}

/** A sink could not reach or authenticate with its destination at connect time. */
export class SinkConnectError extends IotSimError {
  readonly sinkType: string;
  constructor(sinkType: string, message: string, options?: { cause?: unknown }) {
    super(`${sinkType} sink: ${message}`, options);
    this.sinkType = sinkType;
  }
}

/**
 * Thrown by `Sink.write` to tell the runner how to treat a failure.
 * `delivered` counts records at the front of the batch that did land; the runner retries the rest.
 */
export class SinkWriteError extends IotSimError {
  /** False: retrying cannot help (e.g. HTTP 400); the batch fails at once. */
  readonly retryable: boolean;
  /** Wait at least this long before the next attempt (e.g. from `Retry-After`). */
  readonly retryAfterS: number | undefined;
  /** Records at the start of the batch that were delivered before the failure. */
  readonly delivered: number;
  /**
   * True: the sink can never write again (its reader closed stdout): the runner ends it, and this
   * batch and every later record count as failed, with one log line instead of one per batch.
   */
  readonly endsSink: boolean;
  constructor(
    message: string,
    options: {
      retryable?: boolean;
      retryAfterS?: number;
      delivered?: number;
      endsSink?: boolean;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.endsSink = options.endsSink ?? false;
    this.retryable = this.endsSink ? false : (options.retryable ?? true);
    this.retryAfterS = options.retryAfterS;
    this.delivered = options.delivered ?? 0;
  }
}

/** Several sinks or servers could not start: every one is listed with its path or name. */
export class PluginStartError extends IotSimError {
  readonly issues: readonly ConfigIssue[];
  /** The error of each plugin that failed. */
  readonly failures: readonly unknown[];
  constructor(issues: readonly ConfigIssue[], failures: readonly unknown[]) {
    super(
      `${issues.length === 1 ? 'a sink or server' : `${issues.length} sinks or servers`} could not start:\n  ${issues.map((i) => `${i.path}: ${i.message}`).join('\n  ')}\nFix them, or remove them from the config (or the --sink/--server flags) to run without them.`,
      { cause: failures[0] },
    );
    this.issues = issues;
    this.failures = failures;
  }
}

/** Closest candidates to `input` by edit distance, for did-you-mean hints. */
export function closestNames(input: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: Array<[string, number]> = [];
  const lower = input.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase());
    const limit = Math.max(2, Math.floor(c.length / 3));
    if (
      d <= limit ||
      c.toLowerCase().startsWith(lower) ||
      (lower.length >= 3 && c.includes(lower))
    ) {
      scored.push([c, d]);
    }
  }
  return scored
    .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .slice(0, max)
    .map(([c]) => c);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** File-system error codes that no retry can fix (permissions, read-only, a bad path). */
export const PERMANENT_FS_ERROR_CODES: ReadonlySet<string> = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENAMETOOLONG',
]);

/** True for a file-system error (by its `code`) that a retry cannot fix. */
export function isPermanentFsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && PERMANENT_FS_ERROR_CODES.has(code);
}
