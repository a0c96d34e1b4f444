import { packageInfo } from '@iotsim/core';

/** The version in this package's package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = packageInfo(import.meta.url, '@iotsim/sink-delta').version;

/** `engineInfo` / `clientVersion` of our commits, e.g. `iotsim-sink-delta/0.1.0`. */
export const ENGINE_INFO = `iotsim-sink-delta/${PACKAGE_VERSION}`;
