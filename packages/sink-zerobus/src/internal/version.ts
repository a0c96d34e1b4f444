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
if (pkg.name !== '@iotsim/sink-zerobus' || typeof pkg.version !== 'string')
  throw new Error(
    `@iotsim/sink-zerobus: ../../package.json from ${import.meta.url} is not this package's (name ${String(pkg.name)})`,
  );

/** The version in package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = pkg.version;

/** How the sink names itself to Zerobus (`x-zerobus-sdk`, the gRPC user agent), e.g. `iotsim-sink-zerobus/0.1.0`. */
export const SDK_ID = `iotsim-sink-zerobus/${PACKAGE_VERSION}`;
