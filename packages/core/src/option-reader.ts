import { ConfigError, closestNames, type ConfigIssue } from './errors.js';
import { describe } from './schema.js';

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
