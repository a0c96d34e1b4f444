import { createRequire } from 'node:module';
import { jestConfig } from '../../jest.preset.js';

// Two things node-opcua needs under jest 29 (Node runs it as is):
// - @peculiar/webcrypto's `import` build is ESM in a `.js` file without "type": "module"; Node
//   detects that, jest does not: point jest at its CommonJS build (what `require` resolves to).
// - node-opcua packages (nodesets, types, server) read import.meta.dirname, which jest 29 does not set.
const from = (req, pkg) => createRequire(req.resolve(`${pkg}/package.json`));
const server = from(createRequire(import.meta.url), 'node-opcua-server');
const webcrypto = from(server, 'node-opcua-crypto').resolve('@peculiar/webcrypto');
const base = jestConfig();

export default {
  ...base,
  moduleNameMapper: { ...base.moduleNameMapper, '^@peculiar/webcrypto$': webcrypto },
  transform: {
    ...base.transform,
    '/node-opcua-[a-z-]+/dist/.+\\.js$': '<rootDir>/test/import-meta-dirname.cjs',
  },
  transformIgnorePatterns: ['/node_modules/(?!\\.pnpm/node-opcua-|node-opcua-)'],
  // A test that fails before closing its node-opcua client leaves the client's timers running,
  // and jest would then wait forever: end the run once the tests are done.
  forceExit: true,
};
