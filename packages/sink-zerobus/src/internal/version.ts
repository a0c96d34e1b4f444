import { packageInfo } from '@iotsim/core';

/** The version in this package's package.json, e.g. `0.1.0`. */
export const PACKAGE_VERSION: string = packageInfo(import.meta.url, '@iotsim/sink-zerobus').version;

/** How the sink names itself to Zerobus (`x-zerobus-sdk`, the gRPC user agent), e.g. `iotsim-sink-zerobus/0.1.0`. */
export const SDK_ID = `iotsim-sink-zerobus/${PACKAGE_VERSION}`;
