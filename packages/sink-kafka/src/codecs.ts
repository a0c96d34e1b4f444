import { ConfigError, isModuleMissing } from '@iotsim/core';
import type { Compression } from './options.js';

/** A kafkajs compression codec: what `CompressionCodecs[type]()` returns. */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** What kafkajs keeps in `CompressionCodecs[type]`. */
export type KafkaCodecFactory = () => KafkaCodec;

/** Where the codec of a compression type comes from. */
export interface CodecSource {
  /** The npm package whose absence means "not installed". */
  readonly packageName: string;
  /** Imports the package and returns the codec factory. */
  load(): Promise<KafkaCodecFactory>;
}

/** The subset of zstd-napi the zstd codec uses. */
export interface ZstdBinding {
  compress(data: Uint8Array, parameters?: { compressionLevel?: number }): Buffer;
  decompress(data: Uint8Array): Buffer;
}

/** Kafka's default zstd level. */
const ZSTD_LEVEL = 3;

/** A kafkajs codec over zstd-napi (standard zstd frames, which the broker's zstd-jni reads). */
export function zstdCodec(zstd: ZstdBinding, level = ZSTD_LEVEL): KafkaCodecFactory {
  const codec: KafkaCodec = {
    async compress(encoder) {
      return zstd.compress(encoder.buffer, { compressionLevel: level });
    },
    async decompress(buffer) {
      return zstd.decompress(buffer);
    },
  };
  return () => codec;
}

/** Codecs kafkajs does not ship, and the packages that provide them. gzip is built in. */
export const CODEC_SOURCES: Readonly<Record<'snappy' | 'lz4' | 'zstd', CodecSource>> = {
  snappy: {
    packageName: 'kafkajs-snappy',
    load: async () => (await import('kafkajs-snappy')).default,
  },
  lz4: {
    packageName: 'kafkajs-lz4',
    load: async () => {
      // CommonJS `module.exports = LZ4Codec`: Node's default export is the class itself.
      const mod = await import('kafkajs-lz4');
      const LZ4Codec = ((mod.default as { default?: unknown }).default ??
        mod.default) as new () => {
        codec: KafkaCodecFactory;
      };
      return new LZ4Codec().codec;
    },
  },
  zstd: {
    packageName: 'zstd-napi',
    load: async () => zstdCodec(await import('zstd-napi')),
  },
};

/**
 * Loads the codec for `compression` (undefined for `none` and `gzip`, which kafkajs handles).
 * A missing package or one that fails to load is a ConfigError naming the codec and the fix.
 */
export async function loadCodec(
  compression: Compression,
  sources: Readonly<Record<string, CodecSource>> = CODEC_SOURCES,
): Promise<KafkaCodecFactory | undefined> {
  const source = sources[compression];
  if (!source) return undefined;
  const pkg = source.packageName;
  let factory: KafkaCodecFactory;
  try {
    factory = await source.load();
  } catch (err) {
    const message = isModuleMissing(err, pkg)
      ? `'${compression}' needs the package ${pkg}, which is not installed; install it with: npm install ${pkg} (or choose another compression)`
      : `'${compression}': the package ${pkg} is installed but failed to load (${err instanceof Error ? err.message : String(err)}); reinstall it with: npm install ${pkg} (it may need to compile native code)`;
    throw new ConfigError([{ path: 'compression', message }], { cause: err });
  }
  if (typeof factory !== 'function') {
    throw new ConfigError([
      {
        path: 'compression',
        message: `'${compression}': the package ${pkg} does not export a kafkajs codec; reinstall it with: npm install ${pkg}`,
      },
    ]);
  }
  return factory;
}

/** kafkajs's codec table (`CompressionCodecs`), indexed by compression type number. */
export type CodecTable = Record<number, () => unknown>;

/**
 * Puts `factory` into kafkajs's codec table unless a codec is already registered there (by the
 * application or an earlier sink). kafkajs's placeholder for a missing codec throws when called.
 * Returns true when this call registered it.
 */
export function installCodec(table: CodecTable, type: number, factory: KafkaCodecFactory): boolean {
  const current = table[type];
  if (current) {
    try {
      current();
      return false;
    } catch {
      // kafkajs's "not implemented" placeholder
    }
  }
  table[type] = factory;
  return true;
}
