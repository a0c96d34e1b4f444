import { readFileSync } from 'node:fs';

/** This package's name and version, read from its package.json (src/internal and dist/internal alike). */
export const PACKAGE: { readonly name: string; readonly version: string } = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
})();

/** The default client id: this package and its version (`iotsim-sink-kafka-0.1.0`), as the brokers log it. */
export const DEFAULT_CLIENT_ID = `${PACKAGE.name.replace(/^@/, '').replace(/\//g, '-')}-${PACKAGE.version}`;
