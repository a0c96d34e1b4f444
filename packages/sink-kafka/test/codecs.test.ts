import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@iotsim/core';
import zlib from 'node:zlib';
import {
  CODEC_SOURCES,
  installCodec,
  loadCodec,
  zlibZstdCodec,
  type CodecTable,
} from '../src/internal/codecs.js';

const run = promisify(execFile);
const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const text = Buffer.from(
  JSON.stringify(
    Array.from({ length: 200 }, (_, i) => ({ sensor_name: `s${i % 7}`, value: i / 3 })),
  ),
);

async function rejection(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('codec registry', () => {
  it('needs no codec package for none and gzip (kafkajs has them)', async () => {
    expect(await loadCodec('none')).toBeUndefined();
    expect(await loadCodec('gzip')).toBeUndefined();
  });

  it.each(['snappy', 'lz4', 'zstd'] as const)(
    'loads the installed %s codec and it round-trips a payload',
    async (name) => {
      const factory = await loadCodec(name);
      expect(typeof factory).toBe('function');
      const codec = factory!();
      const packed = await codec.compress({ buffer: text });
      expect(packed.length).toBeLessThan(text.length);
      expect(Buffer.compare(await codec.decompress(packed), text)).toBe(0);
    },
  );

  it('a codec package that is not installed is a ConfigError naming the codec and the install command', async () => {
    // A real failed import in plain Node (jest's resolver raises a different error), against the build.
    const script = `
      import { loadCodec } from './dist/internal/codecs.js';
      try {
        await loadCodec('zstd', { zstd: { packageName: 'iotsim-no-such-codec', load: async () => (await import('iotsim-no-such-codec')).default } });
        console.log('no error');
      } catch (err) {
        console.log(JSON.stringify({ name: err.constructor.name, issues: err.issues }));
      }`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: packageDir,
    });
    expect(JSON.parse(stdout)).toEqual({
      name: 'ConfigError',
      issues: [
        {
          path: 'compression',
          message:
            "'zstd' needs the package iotsim-no-such-codec, which is not installed; install it with: npm install iotsim-no-such-codec (or choose another compression)",
        },
      ],
    });
  });

  it('a codec package that is installed but broken says so, with its error', async () => {
    const err = await rejection(
      loadCodec('lz4', {
        lz4: {
          packageName: 'kafkajs-lz4',
          load: async () => {
            // what a native dependency that did not compile looks like
            await import('lz4-binding-that-is-missing' as string);
            throw new Error('unreachable');
          },
        },
      }),
    );
    expect(err.message).toMatch(
      /^compression: 'lz4': the package kafkajs-lz4 is installed but failed to load \(.*lz4-binding-that-is-missing.*\); reinstall it with: npm install kafkajs-lz4/,
    );
  });

  it('a package that exports no codec is a ConfigError', async () => {
    const err = await rejection(
      loadCodec('snappy', {
        snappy: { packageName: 'x', load: async () => 42 as never },
      }),
    );
    expect(err.message).toMatch(/does not export a kafkajs codec/);
  });

  it('the default sources name the packages the README tells users to install', () => {
    expect(CODEC_SOURCES.snappy.packageName).toBe('@platformatic/wasm-utils');
    expect(CODEC_SOURCES.lz4.packageName).toBe('@platformatic/wasm-utils');
    expect(CODEC_SOURCES.zstd.packageName).toBe('zstd-napi');
  });

  it('lz4 writes the LZ4 frame format Kafka reads (magic 0x184D2204), no native build involved', async () => {
    const codec = (await loadCodec('lz4'))!();
    const packed = await codec.compress({ buffer: text });
    expect(packed.readUInt32LE(0)).toBe(0x184d2204);
  });

  it("zstd without zstd-napi falls back to node:zlib's zstd, which reads and writes the same frames", async () => {
    const builtIn = zlibZstdCodec()!();
    const napi = (await loadCodec('zstd'))!();
    const a = await builtIn.compress({ buffer: text });
    expect(a.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(Buffer.compare(await napi.decompress(a), text)).toBe(0);
    expect(
      Buffer.compare(await builtIn.decompress(await napi.compress({ buffer: text })), text),
    ).toBe(0);
    const fallback = await loadCodec('zstd', {
      zstd: {
        ...CODEC_SOURCES.zstd,
        load: async () => {
          try {
            await import('zstd-napi-not-installed' as string);
          } catch (err) {
            const c = zlibZstdCodec();
            if (c && typeof zlib.zstdCompressSync === 'function') return c;
            throw err;
          }
          throw new Error('unreachable');
        },
      },
    });
    expect(typeof fallback).toBe('function');
  });

  it("replaces kafkajs's not-implemented placeholder, but keeps a codec the application registered", async () => {
    const ours = (await loadCodec('zstd'))!;
    const table: CodecTable = {
      4: () => {
        throw new Error('ZSTD compression not implemented');
      },
    };
    expect(installCodec(table, 4, ours)).toBe(true);
    expect(table[4]).toBe(ours);
    const theirs = () => ({
      compress: async () => Buffer.alloc(0),
      decompress: async () => Buffer.alloc(0),
    });
    const table2: CodecTable = { 2: theirs };
    expect(installCodec(table2, 2, ours)).toBe(false);
    expect(table2[2]).toBe(theirs);
  });
});
