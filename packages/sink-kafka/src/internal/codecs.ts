import zlib from 'node:zlib';
import { ConfigError, isModuleMissing } from '@iotsim/core';
import type { Compression } from '../options.js';

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

/** The subset of @platformatic/wasm-utils the snappy and lz4 codecs use (WebAssembly, nothing to compile). */
export interface WasmCodecs {
  snappyCompress(data: Uint8Array): Uint8Array;
  snappyDecompress(data: Uint8Array): Uint8Array;
  lz4Compress(data: Uint8Array): Uint8Array;
  lz4Decompress(data: Uint8Array): Uint8Array;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A kafkajs codec over a pair of synchronous functions. */
function syncCodec(
  compress: (d: Uint8Array) => Uint8Array,
  decompress: (d: Uint8Array) => Uint8Array,
): KafkaCodecFactory {
  const codec: KafkaCodec = {
    async compress(encoder) {
      return asBuffer(compress(encoder.buffer));
    },
    async decompress(buffer) {
      return asBuffer(decompress(buffer));
    },
  };
  return () => codec;
}

/** zstd from node:zlib (Node >= 22.15), Kafka's default level; undefined on older Node. */
export function zlibZstdCodec(level = ZSTD_LEVEL): KafkaCodecFactory | undefined {
  if (typeof zlib.zstdCompressSync !== 'function') return undefined;
  const params = { [zlib.constants.ZSTD_c_compressionLevel]: level };
  return syncCodec(
    (d) => zlib.zstdCompressSync(d, { params }),
    (d) => zlib.zstdDecompressSync(d),
  );
}

const WASM_UTILS = '@platformatic/wasm-utils';

/**
 * Codecs kafkajs does not ship, and the packages that provide them (gzip is built in). snappy and
 * lz4 are WebAssembly (a dependency, nothing compiles); zstd is zstd-napi when it is installed
 * (native, ~1.6x faster) and node:zlib's otherwise.
 */
export const CODEC_SOURCES: Readonly<Record<'snappy' | 'lz4' | 'zstd', CodecSource>> = {
  snappy: {
    packageName: WASM_UTILS,
    load: async () => {
      const w = (await import('@platformatic/wasm-utils')) as WasmCodecs;
      return syncCodec(w.snappyCompress, w.snappyDecompress);
    },
  },
  lz4: {
    packageName: WASM_UTILS,
    load: async () => {
      const w = (await import('@platformatic/wasm-utils')) as WasmCodecs;
      return syncCodec(w.lz4Compress, w.lz4Decompress);
    },
  },
  zstd: {
    packageName: 'zstd-napi',
    load: async () => {
      try {
        return zstdCodec(await import('zstd-napi'));
      } catch (err) {
        const builtIn = zlibZstdCodec();
        if (builtIn && isModuleMissing(err, 'zstd-napi')) return builtIn;
        throw err;
      }
    },
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
