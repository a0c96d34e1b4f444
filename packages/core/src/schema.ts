import * as v from 'valibot';
import { closestNames, ConfigError, type ConfigIssue, type PathSegment } from './errors.js';
import { redact } from './secrets.js';

/**
 * Options as schemas. Every sink's and server's options, the YAML config and `SensorConfig` are
 * declared once with these builders (valibot schemas, so any Standard Schema tool can read them);
 * the TypeScript types are inferred from them, `parseOptions` validates with every problem at once,
 * the YAML key mapping (`rate_hz` ↔ `rateHz`, nested keys included) follows the schema, and
 * `toJsonSchema` prints the JSON Schema editors use.
 *
 * @example
 * const Options = opt.object({
 *   /** Topic to produce to. *\/
 *   topic: v.nullish(opt.string(), 'iot-sensor-data'),
 * });
 * type MyOptions = v.InferInput<typeof Options>;
 */

/** A JSON Schema node (draft 2020-12). */
export type JsonSchema = { [key: string]: unknown };

/** A schema with the input callers pass (`I`) and the validated, resolved output (`O`). */
export type OptionSchema<I = unknown, O = I> = v.GenericSchema<I, O>;

/**
 * A schema `S` with checks across its entries and a resolved output `O`. It names `S`, so the
 * option types inferred from it keep the TSDoc of each entry in editors and in `.d.ts` files.
 */
export interface ResolvedSchema<S extends v.GenericSchema, O> extends v.GenericSchema<
  v.InferInput<S>,
  O
> {
  /** The schema before resolving (type only). */
  readonly '~shape'?: S;
}

/** What callers pass to a schema. */
export type InputOf<S> = S extends v.GenericSchema<infer I, unknown> ? I : never;
/** What a schema gives back once valid. */
export type OutputOf<S> =
  S extends v.GenericSchema<unknown, infer O>
    ? O
    : S extends StandardSchemaLike<infer O>
      ? O
      : never;

/** Naming style of messages: the TypeScript API's camelCase, or the YAML/CSV snake_case keys. */
export type NameStyle = 'ts' | 'yaml';

/** JSON Schema of builders whose runtime type is `unknown` + a transform. */
const JSON_OF = new WeakMap<object, JsonSchema>();
/** Values only TypeScript callers can give (streams, callbacks): left out of the YAML schema. */
const CODE_ONLY = new WeakSet<object>();
/** Hints appended to "is required" by an entry schema. */
const REQUIRED_HINT = new WeakMap<object, string>();

/** `rateHz` → `rate_hz`: the one mapping between TypeScript option names and YAML keys. */
export function toSnakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `rate_hz` → `rateHz`. */
export function toCamelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A short description of a value's type and content for error messages (strings redacted). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  // Redacted: a bad value may be a credential (a registered secret, or a URL with a password).
  if (typeof value === 'string') {
    const shown = redact(value);
    return JSON.stringify(shown.length > 60 ? `${shown.slice(0, 57)}...` : shown);
  }
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number' && Number.isNaN(value)) return 'NaN (.nan)';
  if (value === Infinity) return 'infinity (.inf)';
  if (value === -Infinity) return 'minus infinity (-.inf)';
  return `${typeof value} ${String(value)}`;
}

/** Reports a problem from inside a builder: `path` is relative to the value being read. */
export type Problem = (message: string, path?: readonly (string | number)[]) => void;

/** The path items valibot expects for a relative path (keys are option keys, numbers indexes). */
function pathItems(path: readonly (string | number)[], input: unknown): v.IssuePathItem[] {
  return path.map((key) =>
    typeof key === 'number'
      ? { type: 'array', origin: 'value', input: [] as unknown[], key, value: input }
      : { type: 'object', origin: 'value', input: {}, key, value: input },
  );
}

/**
 * A field read by a function: `read` gets the raw value (never undefined or null: those are the
 * default's business, or "is required") and returns the output, calling `problem` when it is bad.
 * `json` is its JSON Schema. The declared input type `I` is what TypeScript callers see; the reader
 * may accept more (numbers given as text through `${VAR}`).
 */
export function field<I, O = I>(
  json: JsonSchema,
  read: (value: unknown, problem: Problem) => O,
  hint = '',
): OptionSchema<I, O> {
  const schema = v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;
      if (value === undefined || value === null) {
        addIssue({ message: `is required${hint ? `: ${hint}` : ''}` });
        return NEVER;
      }
      let bad = false;
      const out = read(value, (message, path) => {
        bad = true;
        addIssue({ message, ...(path?.length ? { path: pathItems(path, value) } : {}) } as never);
      });
      return bad ? NEVER : out;
    }),
  );
  JSON_OF.set(schema, json);
  if (hint) REQUIRED_HINT.set(schema, hint);
  return schema as unknown as OptionSchema<I, O>;
}

/** Bounds of a number option. */
export interface NumberRule {
  /** Inclusive lower bound. */
  readonly min?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
  /** Inclusive upper bound. */
  readonly max?: number;
  /** Whole numbers only. */
  readonly integer?: boolean;
}

/** Text given through `${VAR}` substitution, accepted where a number or a boolean is expected. */
const SUBSTITUTED: JsonSchema = { type: 'string', pattern: '\\$\\{' };

function numberRuleProblem(n: number, rule: NumberRule): string | undefined {
  if (rule.integer && !Number.isInteger(n)) return `must be a whole number, got ${n}`;
  if (rule.above !== undefined && !(n > rule.above)) return `must be > ${rule.above}, got ${n}`;
  if (rule.min !== undefined && n < rule.min) return `must be >= ${rule.min}, got ${n}`;
  if (rule.max !== undefined && n > rule.max) return `must be <= ${rule.max}, got ${n}`;
  return undefined;
}

/** Reads text the way every option does (numbers and booleans count as their text); undefined when it is not text. */
export function readString(value: unknown, problem: Problem): string | undefined {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return value;
  problem(`must be a string, got ${describe(value)}`);
  return undefined;
}

/** JSON Schema of a flat map of names to text. */
export const STRING_MAP_JSON: JsonSchema = {
  type: 'object',
  additionalProperties: { type: ['string', 'number', 'boolean'] },
};

/** Reads a flat map of names to text (numbers and booleans as text); a bad entry is a problem at its key. */
export function readStringMap(value: unknown, problem: Problem): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem(`must be a mapping of names to strings, got ${describe(value)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(value)) {
    if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
      out[k] = String(x);
    else problem(`must be a string, got ${describe(x)}`, [recordKey(k)]);
  }
  return out;
}

/** Reads a number the way every option does (text that is a number counts). */
export function readNumber(value: unknown, problem: Problem, rule: NumberRule = {}): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    problem(
      `must be ${typeof value === 'number' ? 'a finite number' : 'a number'}, got ${describe(value)}`,
    );
    return NaN;
  }
  const bad = numberRuleProblem(n, rule);
  if (bad) problem(bad);
  return n;
}

function numberJson(rule: NumberRule): JsonSchema {
  const n: JsonSchema = { type: rule.integer ? 'integer' : 'number' };
  if (rule.min !== undefined) n.minimum = rule.min;
  if (rule.above !== undefined) n.exclusiveMinimum = rule.above;
  if (rule.max !== undefined) n.maximum = rule.max;
  return { anyOf: [n, SUBSTITUTED] };
}

const TRUE = /^(true|yes|1)$/i;
const BOOLEAN = /^(true|false|yes|no|1|0)$/i;

/** Schema builders for options, with iotsim's coercions and messages. */
export const opt = {
  /** Text; numbers and booleans are taken as their text. `hint` is added to "is required". */
  string(options: { readonly nonEmpty?: boolean; readonly hint?: string } = {}) {
    return field<string>(
      { type: 'string', ...(options.nonEmpty ? { minLength: 1 } : {}) },
      (value, problem) => {
        if (typeof value === 'number' || typeof value === 'boolean') return String(value);
        if (typeof value !== 'string') {
          problem(`must be a string, got ${describe(value)}`);
          return '';
        }
        if (options.nonEmpty && value.trim() === '')
          problem(`is required${options.hint ? `: ${options.hint}` : ''}`);
        return value;
      },
      options.hint,
    );
  },

  /** A number within `rule`; text that is a number counts. */
  number(rule: NumberRule = {}) {
    return field<number>(numberJson(rule), (value, problem) => readNumber(value, problem, rule));
  },

  /** true/false (also yes/no/1/0 as text). */
  boolean() {
    return field<boolean>({ anyOf: [{ type: 'boolean' }, SUBSTITUTED] }, (value, problem) => {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && BOOLEAN.test(value.trim())) return TRUE.test(value.trim());
      problem(`must be true or false, got ${describe(value)}`);
      return false;
    });
  },

  /** One of `allowed`, with a did-you-mean. */
  oneOf<const T extends string>(allowed: readonly T[]) {
    return field<T>({ enum: [...allowed] }, (value, problem) => {
      if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
        return value as T;
      const hint = typeof value === 'string' ? closestNames(value, allowed, 1) : [];
      problem(
        `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}${hint.length ? ` (did you mean '${hint[0]}'?)` : ''}`,
      );
      return allowed[0]!;
    });
  },

  /** A list of strings; one string is a list of one. */
  stringList() {
    return field<string | readonly string[], string[]>(
      { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
      (value, problem) => {
        if (typeof value === 'string') return [value];
        // Array.from: `every` skips the holes of a sparse array ([ 'a', , 'b' ] from the TS API).
        if (Array.isArray(value) && Array.from(value).every((x) => typeof x === 'string'))
          return [...(value as string[])];
        problem(`must be a list of strings, got ${describe(value)}`);
        return [];
      },
    );
  },

  /** A flat map of names to text (headers, storage options); names are kept as written. */
  stringMap() {
    return field<Readonly<Record<string, string | number | boolean>>, Record<string, string>>(
      STRING_MAP_JSON,
      readStringMap,
    );
  },

  /**
   * A mapping with these entries. Unknown keys are each reported with a did-you-mean (against the
   * entries and `suggest`); a missing required entry "is required".
   */
  object<const E extends v.ObjectEntries>(
    entries: E,
    options: { readonly suggest?: readonly string[]; readonly what?: string } = {},
  ): v.StrictObjectSchema<E, undefined> {
    const what = options.what ?? 'a mapping';
    const message = (issue: v.BaseIssue<unknown>): string => {
      const key = issue.path?.at(-1)?.key;
      if (issue.expected === 'Object' || key === undefined)
        return `must be ${what}, got ${describe(issue.input)}`;
      const hint = REQUIRED_HINT.get(entries[String(key)] ?? {});
      return `is required${hint ? `: ${hint}` : ''}`;
    };
    const strict = v.strictObject(entries, message);
    const plain = v.object(entries, message);
    const names = [...Object.keys(entries), ...(options.suggest ?? [])];
    type Dataset = { typed: boolean; value: unknown; issues?: v.BaseIssue<unknown>[] };
    const run = (dataset: Dataset, config: v.Config<v.BaseIssue<unknown>>): Dataset => {
      const input = dataset.value;
      if (Array.isArray(input)) {
        dataset.typed = false;
        dataset.issues = [issueOf(`must be ${what}, got a list`, input, [])];
        return dataset;
      }
      const out = plain['~run'](dataset as never, config) as Dataset;
      if (input && typeof input === 'object') {
        const record = input as Record<string, unknown>;
        for (const key of Object.keys(record)) {
          const value = record[key];
          if (Object.prototype.hasOwnProperty.call(entries, key) || value === undefined) continue;
          const [hint] = closestNames(toCamelCase(key), names, 1);
          const issue = issueOf('unknown option', key, [
            { type: 'object', origin: 'key', input: record, key, value },
          ]);
          (issue as { hint?: string }).hint = hint;
          out.typed = false;
          (out.issues ??= []).push(issue);
        }
      }
      return out;
    };
    (strict as { '~run': unknown })['~run'] = run;
    return strict as unknown as v.StrictObjectSchema<E, undefined>;
  },

  /** A value only TypeScript callers can give (a stream, a function); not part of the YAML schema. */
  code<T>(what: string, check: (value: unknown) => boolean) {
    const schema = field<T>({}, (value, problem) => {
      if (!check(value)) problem(`must be ${what}, got ${describe(value)}`);
      return value as T;
    });
    CODE_ONLY.add(schema);
    return schema;
  },

  /** One `item` or a list of them; the output is always a list (paths of a single item have no index). */
  oneOrList<S extends v.GenericSchema>(item: S, what: string) {
    const list = opt.list(item, what);
    const schema = v.union([item, list]);
    type Dataset = { typed: boolean; value: unknown; issues?: unknown[] };
    (schema as { '~run': unknown })['~run'] = (
      dataset: Dataset,
      config: v.Config<v.BaseIssue<unknown>>,
    ) => {
      if (Array.isArray(dataset.value)) return list['~run'](dataset as never, config);
      const out = item['~run'](dataset as never, config) as Dataset;
      out.value = [out.value];
      return out;
    };
    return schema as unknown as OptionSchema<
      v.InferInput<S> | readonly v.InferInput<S>[],
      v.InferOutput<S>[]
    >;
  },

  /** A list of `item`; `what` names the items in messages ("sensors"). */
  list<const S extends v.GenericSchema>(item: S, what = 'values') {
    return v.array(item, (issue) => `must be a list of ${what}, got ${describe(issue.input)}`);
  },

  /**
   * Checks across entries and resolves the output. `check` runs even when some entries are bad
   * (those keep their raw input: test types), so its problems come with theirs; `resolve` runs once everything is
   * valid. Both report problems by entry path. Option names in messages are written `%{name}` so
   * that they read `saslUsername` in TypeScript and `sasl_username` in YAML.
   */
  resolve<S extends v.GenericSchema, O = v.InferOutput<S>>(
    schema: S,
    resolve: ((value: v.InferOutput<S>, problem: Problem) => O) | undefined,
    check?: (value: { readonly [K in keyof v.InferOutput<S>]?: unknown }, problem: Problem) => void,
  ): ResolvedSchema<S, O> {
    const report =
      (dataset: { value: unknown }, addIssue: (info: never) => void) =>
      (message: string, path?: readonly (string | number)[]): void =>
        addIssue({
          message,
          ...(path?.length ? { path: pathItems(path, dataset.value) } : {}),
        } as never);
    const actions: v.PipeItem<unknown, unknown, v.BaseIssue<unknown>>[] = [];
    if (check)
      actions.push(
        v.rawCheck(({ dataset, addIssue }) => {
          const value = dataset.value;
          if (value && typeof value === 'object') check(value as never, report(dataset, addIssue));
        }),
      );
    if (resolve)
      actions.push(
        v.rawTransform(({ dataset, addIssue, NEVER }) => {
          let bad = false;
          const problem = report(dataset, addIssue);
          const out = resolve(dataset.value as v.InferOutput<S>, (message, path) => {
            bad = true;
            problem(message, path);
          });
          return bad ? NEVER : out;
        }),
      );
    return (v.pipe as (...items: unknown[]) => unknown)(schema, ...actions) as ResolvedSchema<S, O>;
  },
};

/** A path key inside a free-form map, for `Problem`: kept as written in every naming style (header names, tags). */
export function recordKey(key: string): string {
  return `\u0000${key}`;
}

function issueOf(message: string, input: unknown, path: v.IssuePathItem[]): v.BaseIssue<unknown> {
  return {
    kind: 'schema',
    type: 'strict_object',
    input,
    expected: 'never',
    received: describe(input),
    message,
    path: path.length ? (path as [v.IssuePathItem, ...v.IssuePathItem[]]) : undefined,
  };
}

/** Converts one valibot issue to path segments (what each key is) and a message template. */
function segmentsOf(issue: v.BaseIssue<unknown>): PathSegment[] {
  const out: PathSegment[] = [];
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === 'number') out.push({ index: key });
    else if (typeof key === 'string' && key.startsWith('\u0000'))
      out.push({ key: key.slice(1), kind: 'entry' });
    else if (item.type === 'object')
      out.push({
        key: String(key),
        kind: item.origin === 'key' && issue.expected === 'never' ? 'unknown' : 'option',
      });
    else out.push({ key: String(key), kind: 'entry' });
  }
  return out;
}

/** A path of segments in one naming style, under `prefix` (`sinks[1].`). */
export function renderPath(
  segments: readonly PathSegment[],
  style: NameStyle,
  prefix = '',
): string {
  let path = prefix;
  for (const s of segments) {
    if ('index' in s) path = `${path.endsWith('.') ? path.slice(0, -1) : path}[${s.index}]`;
    else {
      const name = s.kind === 'option' && style === 'yaml' ? toSnakeCase(s.key) : s.key;
      // A prefix that ends in a space is a label (`--sink webhook: `), not a path to continue.
      path += path === '' || path.endsWith('.') || path.endsWith(' ') ? name : `.${name}`;
    }
  }
  return path.endsWith('.') ? path.slice(0, -1) : path;
}

/** A message template in one naming style: `%{saslUsername}` → `sasl_username` for YAML. */
export function renderMessage(template: string, style: NameStyle, hint?: string): string {
  const name = (n: string): string => (style === 'yaml' ? toSnakeCase(n) : n);
  const text = template.replace(/%\{([A-Za-z0-9_]+)\}/g, (_, n: string) => name(n));
  return hint ? `${text} (did you mean '${name(hint)}'?)` : text;
}

/** A problem in a given naming style, keeping what is needed to render it in the other. */
export function issueFrom(
  segments: readonly PathSegment[],
  template: string,
  style: NameStyle,
  prefix = '',
  hint?: string,
): ConfigIssue {
  return {
    path: renderPath(segments, style, prefix),
    message: renderMessage(template, style, hint),
    raw: { segments, template, ...(hint ? { hint } : {}) },
  };
}

/** Issues rendered again in YAML's names under `prefix`; issues without structure get the old treatment. */
export function issuesToYaml(issues: readonly ConfigIssue[], prefix: string): ConfigIssue[] {
  return issues.map((i) => {
    if (i.raw) return issueFrom(i.raw.segments, i.raw.template, 'yaml', prefix, i.raw.hint);
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

/** The issues of a failed validation, each with its path, in `style`. */
export function configIssues(
  issues: readonly v.BaseIssue<unknown>[],
  style: NameStyle,
  prefix = '',
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const issue of issues) {
    const hint = (issue as { hint?: string }).hint;
    const one = issueFrom(segmentsOf(issue), issue.message, style, prefix, hint);
    const key = `${one.path}\u0000${one.message}`;
    if (!seen.has(key)) out.push(one);
    seen.add(key);
  }
  return out;
}

function isValibot(schema: object): schema is v.GenericSchema {
  return typeof (schema as { '~run'?: unknown })['~run'] === 'function';
}

/** A Standard Schema (valibot, zod, arktype …): what a third-party sink may declare its options with. */
export interface StandardSchemaLike<O = unknown> {
  readonly '~standard': {
    readonly validate: (value: unknown) =>
      | {
          readonly value?: O;
          readonly issues?: readonly {
            readonly message: string;
            readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[];
          }[];
        }
      | Promise<unknown>;
  };
}

/**
 * Validates `input` with `schema` and returns its output, or throws one ConfigError with every
 * problem, each with its path in `style` under `prefix`. Any Standard Schema works; iotsim's
 * builders give the best messages.
 */
export function parseOptions<S extends OptionSchema<unknown, unknown> | StandardSchemaLike>(
  schema: S,
  input: unknown,
  options: {
    readonly style?: NameStyle;
    readonly prefix?: string;
    readonly suggest?: readonly string[];
  } = {},
): OutputOf<S> {
  type O = OutputOf<S>;
  const style = options.style ?? 'ts';
  const prefix = options.prefix ?? '';
  if (isValibot(schema)) {
    const result = v.safeParse(schema, input);
    if (result.success) return result.output as O;
    const issues = result.issues.map((issue) => {
      // The top level may suggest more names (a sink's throughput keys).
      if (options.suggest && issue.path?.length === 1 && issue.expected === 'never') {
        const own = (issue as { hint?: string }).hint;
        if (!own) {
          const [hint] = closestNames(String(issue.path[0]!.key), options.suggest, 1);
          (issue as { hint?: string }).hint = hint;
        }
      }
      return issue;
    });
    throw new ConfigError(configIssues(issues, style, prefix));
  }
  const result = schema['~standard'].validate(input);
  if (result instanceof Promise)
    throw new TypeError('an options schema must validate synchronously (no async refinements)');
  if (!result.issues) return result.value as O;
  throw new ConfigError(
    result.issues.map((i) => {
      const segments: PathSegment[] = (i.path ?? []).map((p) => {
        const key = typeof p === 'object' ? p.key : p;
        return typeof key === 'number' ? { index: key } : { key: String(key), kind: 'option' };
      });
      return issueFrom(segments, i.message, style, prefix);
    }),
  );
}

/** Unwraps optional/nullish wrappers and pipes to the schema that shapes the value. */
function shapeOf(schema: v.GenericSchema): v.GenericSchema {
  let s = schema as v.GenericSchema & { wrapped?: v.GenericSchema };
  while ((s.type === 'optional' || s.type === 'nullish' || s.type === 'nullable') && s.wrapped)
    s = s.wrapped as typeof s;
  return s;
}

/**
 * YAML's snake_case keys to the schema's camelCase ones, at every depth the schema declares as
 * options (not inside free-form maps such as headers or metadata). Keys the schema does not know
 * are kept as written, so their problem names them as the user did.
 */
export function fromYamlKeys(schema: OptionSchema | StandardSchemaLike, value: unknown): unknown {
  if (!isValibot(schema)) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return value;
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [toCamelCase(k), x]));
  }
  const s = shapeOf(schema) as v.GenericSchema & {
    entries?: v.ObjectEntries;
    item?: v.GenericSchema;
    options?: readonly unknown[];
  };
  if (Array.isArray(value)) {
    const list =
      s.type === 'array'
        ? s
        : (s.options as (typeof s)[] | undefined)?.find?.((o) => shapeOf(o).type === 'array');
    const item = list && (shapeOf(list) as typeof s).item;
    return item ? value.map((x) => fromYamlKeys(item, x)) : value;
  }
  if (!value || typeof value !== 'object' || value instanceof Date) return value;
  if (s.entries) {
    const entries = s.entries;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) {
      const camel = toCamelCase(k);
      const key = k in entries ? k : camel in entries ? camel : k;
      out[key] = entries[key] ? fromYamlKeys(entries[key] as v.GenericSchema, x) : x;
    }
    return out;
  }
  if ((s.type === 'union' || s.type === 'variant') && Array.isArray(s.options)) {
    // The option that knows most of the keys shapes them.
    let best: unknown = value;
    let score = -1;
    for (const o of s.options as v.GenericSchema[]) {
      const e = (shapeOf(o) as { entries?: v.ObjectEntries }).entries;
      if (!e) continue;
      const n = Object.keys(value).filter((k) => k in e || toCamelCase(k) in e).length;
      if (n > score) [best, score] = [fromYamlKeys(o, value), n];
    }
    return best;
  }
  return value;
}

/**
 * The JSON Schema (draft 2020-12) of a schema, with YAML's snake_case keys: objects reject unknown
 * keys, numbers carry their bounds, choices are enums. Parts declared by a third-party Standard
 * Schema that is not valibot are `{}` (anything).
 */
export function toJsonSchema(schema: OptionSchema | StandardSchemaLike): JsonSchema {
  if (!isValibot(schema)) return {};
  const known = JSON_OF.get(schema);
  if (known) return structuredClone(known);
  const s = schema as v.GenericSchema & {
    wrapped?: v.GenericSchema;
    default?: unknown;
    entries?: v.ObjectEntries;
    item?: v.GenericSchema;
    options?: readonly unknown[];
    literal?: unknown;
    value?: v.GenericSchema;
    pipe?: readonly unknown[];
  };
  if (s.pipe && s.pipe[0] !== schema) {
    const first = s.pipe[0] as v.GenericSchema;
    if (JSON_OF.get(first) || first.type !== s.type) return toJsonSchema(first);
  }
  switch (s.type) {
    case 'optional':
    case 'nullish':
    case 'nullable': {
      const inner = toJsonSchema(s.wrapped!);
      const out: JsonSchema = s.type === 'optional' ? inner : { anyOf: [inner, { type: 'null' }] };
      if (s.default !== undefined && typeof s.default !== 'function') out.default = s.default;
      return out;
    }
    case 'object':
    case 'strict_object':
    case 'loose_object': {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [k, e] of Object.entries(s.entries!)) {
        if (CODE_ONLY.has(shapeOf(e as v.GenericSchema))) continue;
        const key = toSnakeCase(k);
        properties[key] = toJsonSchema(e as v.GenericSchema);
        if (!['optional', 'nullish', 'exact_optional'].includes((e as v.GenericSchema).type))
          required.push(key);
      }
      return {
        type: 'object',
        properties,
        ...(required.length ? { required } : {}),
        ...(s.type === 'loose_object' ? {} : { additionalProperties: false }),
      };
    }
    case 'array':
      return { type: 'array', items: toJsonSchema(s.item!) };
    case 'union':
      return { anyOf: (s.options as v.GenericSchema[]).map(toJsonSchema) };
    case 'variant':
      return { oneOf: (s.options as v.GenericSchema[]).map(toJsonSchema) };
    case 'picklist':
      return { enum: [...(s.options as unknown[])] };
    case 'literal':
      return { const: s.literal };
    case 'record':
      return { type: 'object', additionalProperties: toJsonSchema(s.value!) };
    case 'string':
      return { type: 'string' };
    case 'number':
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'null':
      return { type: 'null' };
    default:
      return {};
  }
}

/** The entry names of an object schema (camelCase), for did-you-mean and the registry. */
export function optionNames(schema: OptionSchema | StandardSchemaLike): string[] | undefined {
  if (!isValibot(schema)) return undefined;
  const e = (shapeOf(schema) as { entries?: v.ObjectEntries }).entries;
  return e ? Object.keys(e) : undefined;
}

export { v };
