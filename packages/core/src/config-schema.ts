import { ConfigSchema } from './config.js';
import { SinkNotInstalledError } from './errors.js';
import { Registry } from './registry.js';
import {
  toJsonSchema,
  type JsonSchema,
  type OptionSchema,
  type StandardSchemaLike,
} from './schema.js';
import { ThroughputSchema } from './sink.js';

/** Where the printed schema says it comes from. */
const SCHEMA_ID = 'https://github.com/iotsim/iotsim/schema/config.json';

interface PluginSchema {
  readonly type: string;
  /** The options' JSON Schema; undefined when the package is not installed. */
  readonly options: JsonSchema | undefined;
  readonly packageName: string | undefined;
}

/** One `then` branch: the entry of `type`, its own options (and the throughput keys for a sink). */
function entrySchema(p: PluginSchema, extra: JsonSchema | undefined): JsonSchema {
  if (!p.options) {
    return {
      description: `options of ${p.type}: install ${p.packageName ?? 'its package'} for their schema`,
      properties: { type: { const: p.type } },
    };
  }
  const own = (p.options.properties ?? {}) as Record<string, JsonSchema>;
  const more = (extra?.properties ?? {}) as Record<string, JsonSchema>;
  const open = p.options.additionalProperties !== false;
  return {
    properties: { type: { const: p.type }, ...own, ...more },
    ...(Array.isArray(p.options.required) ? { required: p.options.required } : {}),
    ...(open ? {} : { additionalProperties: false }),
  };
}

/** A list of plugin entries: `type` picks the options schema that applies (if/then per type). */
function entriesSchema(plugins: readonly PluginSchema[], extra?: JsonSchema): JsonSchema {
  return {
    type: 'array',
    items: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: plugins.map((p) => p.type) } },
      allOf: plugins.map((p) => ({
        if: { properties: { type: { const: p.type } }, required: ['type'] },
        then: entrySchema(p, extra),
      })),
    },
  };
}

async function pluginSchemas(
  types: readonly string[],
  load: (type: string) => Promise<{ schema?: OptionSchema | StandardSchemaLike }>,
  packageOf: (type: string) => string | undefined,
): Promise<PluginSchema[]> {
  const out: PluginSchema[] = [];
  for (const type of types) {
    try {
      const cls = await load(type);
      out.push({
        type,
        // A plugin without a schema takes any options (its constructor checks them).
        options: cls.schema ? toJsonSchema(cls.schema) : { type: 'object' },
        packageName: packageOf(type),
      });
    } catch (err) {
      if (!(err instanceof SinkNotInstalledError)) throw err;
      out.push({ type, options: undefined, packageName: packageOf(type) });
    }
  }
  return out;
}

/**
 * The JSON Schema (draft 2020-12) of a YAML config, built from the same schemas the loader uses:
 * the document, the simulator section, custom sensors, and every sink and server type `registry`
 * knows with its own options (and a sink's throughput keys). A type whose package is not installed
 * takes any options. Editors (VS Code's YAML extension) complete and check a config with it.
 */
export async function configJsonSchema(registry: Registry = new Registry()): Promise<JsonSchema> {
  const doc = toJsonSchema(ConfigSchema);
  const props = doc.properties as Record<string, JsonSchema>;
  const sinks = await pluginSchemas(
    registry.sinkTypes(),
    (t) => registry.loadSink(t),
    (t) => registry.sinkRegistration(t)?.packageName,
  );
  const servers = await pluginSchemas(
    registry.serverTypes(),
    (t) => registry.loadServer(t),
    (t) => registry.serverRegistration(t)?.packageName,
  );
  const nullable = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: 'null' }] });
  props.sinks = nullable(entriesSchema(sinks, toJsonSchema(ThroughputSchema)));
  props.servers = nullable(entriesSchema(servers));
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'iotsim configuration',
    description:
      'An iotsim YAML config (snake_case keys). Values may reference environment variables as ${NAME}.',
    ...doc,
  };
}
