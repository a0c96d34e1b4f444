import { ConfigError, closestNames, type ConfigIssue } from './errors.js';
import { redact } from './secrets.js';

type Dict = Readonly<Record<string, unknown>>;

interface NumberRule {
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Whole numbers only. */
  integer?: boolean;
}

/**
 * Reads an options object key by key, collecting every problem instead of stopping at the first.
 * `finish()` also reports keys nobody read (with a did-you-mean) and throws one ConfigError.
 * Paths are reported with the option's own (camelCase) names; `Sink.fromConfig` maps them to YAML keys.
 *
 * @example
 * const r = new OptionReader(options);
 * const topic = r.string('topic', 'iot-sensor-data');
 * r.finish();
 */
export class OptionReader {
  readonly issues: ConfigIssue[] = [];
  private readonly seen = new Set<string>();
  private readonly hints = new Set<string>();

  constructor(
    private readonly options: object,
    private readonly prefix = '',
  ) {}

  /** The raw value of `key`, marking it as known. */
  raw(key: string): unknown {
    this.seen.add(key);
    return (this.options as Dict)[key];
  }

  /** Marks keys as known without reading them (handled elsewhere). */
  allow(...keys: string[]): void {
    for (const k of keys) this.seen.add(k);
  }

  /** Names offered in did-you-mean hints for unknown keys, without accepting them. */
  suggest(...keys: string[]): void {
    for (const k of keys) this.hints.add(k);
  }

  problem(key: string, message: string): void {
    this.issues.push({ path: this.prefix + key, message });
  }

  string(key: string, fallback: string): string;
  string(key: string, fallback?: undefined): string | undefined;
  string(key: string, fallback?: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.problem(key, `must be a string, got ${describe(v)}`);
    return fallback;
  }

  /** A required non-empty string. */
  requiredString(key: string, hint = ''): string {
    const v = this.string(key);
    if (v === undefined || v.trim() === '') {
      if (!this.issues.some((i) => i.path === this.prefix + key)) {
        this.problem(key, `is required${hint ? `: ${hint}` : ''}`);
      }
      return '';
    }
    return v;
  }

  number(key: string, fallback: number, rule?: NumberRule): number;
  number(key: string, fallback: number | undefined, rule?: NumberRule): number | undefined;
  number(key: string, fallback: number | undefined, rule: NumberRule = {}): number | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.problem(
        key,
        `must be ${typeof v === 'number' ? 'a finite number' : 'a number'}, got ${describe(v)}`,
      );
      return fallback;
    }
    if (rule.integer && !Number.isInteger(n)) this.problem(key, `must be a whole number, got ${n}`);
    else if (rule.above !== undefined && !(n > rule.above))
      this.problem(key, `must be > ${rule.above}, got ${n}`);
    else if (rule.min !== undefined && n < rule.min)
      this.problem(key, `must be >= ${rule.min}, got ${n}`);
    else if (rule.max !== undefined && n > rule.max)
      this.problem(key, `must be <= ${rule.max}, got ${n}`);
    else return n;
    return fallback;
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'boolean') return v;
    if (typeof v === 'string' && /^(true|false|yes|no|1|0)$/i.test(v.trim())) {
      return /^(true|yes|1)$/i.test(v.trim());
    }
    this.problem(key, `must be true or false, got ${describe(v)}`);
    return fallback;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T;
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T | undefined;
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback?: T): T | undefined {
    const v = this.raw(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const hint = typeof v === 'string' ? closestNames(v, allowed, 1) : [];
    this.problem(
      key,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}`,
    );
    return fallback;
  }

  stringArray(key: string, fallback: readonly string[]): string[] {
    const v = this.raw(key);
    if (v === undefined || v === null) return [...fallback];
    if (typeof v === 'string') return [v];
    // Array.from: `every` skips the holes of a sparse array ([ 'a', , 'b' ] from the TS API).
    if (Array.isArray(v) && Array.from(v).every((x) => typeof x === 'string')) return [...v];
    this.problem(key, `must be a list of strings, got ${describe(v)}`);
    return [...fallback];
  }

  /** A flat map of string values (headers, storage options). */
  stringRecord(key: string): Record<string, string> {
    const v = this.raw(key);
    if (v === undefined || v === null) return {};
    if (typeof v === 'object' && !Array.isArray(v)) {
      const out: Record<string, string> = {};
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
          out[k] = String(x);
        else this.problem(`${key}.${k}`, `must be a string, got ${describe(x)}`);
      }
      return out;
    }
    this.problem(key, `must be a mapping of names to strings, got ${describe(v)}`);
    return {};
  }

  /** Throws one ConfigError with every problem, including unknown keys. */
  finish(): void {
    for (const key of Object.keys(this.options)) {
      if (this.seen.has(key) || (this.options as Dict)[key] === undefined) continue;
      const hint = closestNames(key, [...this.seen, ...this.hints], 1);
      this.problem(key, `unknown option${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}`);
    }
    if (this.issues.length) throw new ConfigError(this.issues);
  }
}

/** A short description of a value's type and content for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  // Redacted: a bad value may be a credential (a registered secret, or a URL with a password).
  if (typeof v === 'string') {
    const shown = redact(v);
    return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown);
  }
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN (.nan)';
  if (v === Infinity) return 'infinity (.inf)';
  if (v === -Infinity) return 'minus infinity (-.inf)';
  return `${typeof v} ${String(v)}`;
}

/** `rateHz` → `rate_hz`: the one mapping between TypeScript option names and YAML keys. */
export function toSnakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `rate_hz` → `rateHz`. */
export function toCamelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Rewrites issue paths from camelCase option names to YAML keys under `prefix`, and the
 * did-you-mean of an unknown top-level option with them (`batchsize` → `batch_size`).
 */
export function issuesToYaml(issues: readonly ConfigIssue[], prefix: string): ConfigIssue[] {
  return issues.map((i) => {
    const segments = i.path.split('.');
    return {
      path: prefix + segments.map((seg, idx) => (idx === 0 ? toSnakeCase(seg) : seg)).join('.'),
      message:
        segments.length === 1
          ? i.message.replace(
              /^(unknown option \(did you mean ')([^']+)('\?\))$/,
              (_, a: string, hint: string, b: string) => `${a}${toSnakeCase(hint)}${b}`,
            )
          : i.message,
    };
  });
}
