import { packageInfo } from '@iotsim/core';

/** This package's name and version, read from its package.json (src/internal and dist/internal alike). */
export const PACKAGE = packageInfo(import.meta.url, '@iotsim/sink-kafka');

/** The default client id: this package and its version (`iotsim-sink-kafka-0.1.0`), as the brokers log it. */
export const DEFAULT_CLIENT_ID = `${PACKAGE.name.replace(/^@/, '').replace(/\//g, '-')}-${PACKAGE.version}`;
