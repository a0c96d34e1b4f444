import { createRequire } from 'node:module';

/**
 * This package's name and version, read from its package.json at load time. The file is two
 * levels up from here both as `src/internal/version.ts` (ts-jest) and as
 * `dist/internal/version.js` (the build and the published tarball, where package.json sits
 * beside `dist/`), so the wire never carries a version the package.json does not have.
 */
const pkg = createRequire(import.meta.url)('../../package.json') as {
  name?: unknown;
  version?: unknown;
};
if (pkg.name !== '@iotsim/sink-delta' || typeof pkg.version !== 'string')
  throw new Error(
    `@iotsim/sink-delta: ../../package.json from ${import.meta.url} is not this package's (name ${String(pkg.name)})`,
  );

/** The version in package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = pkg.version;

/** `engineInfo` / `clientVersion` of our commits, e.g. `iotsim-sink-delta/0.1.0`. */
export const ENGINE_INFO = `iotsim-sink-delta/${PACKAGE_VERSION}`;
