/**
 * Shared jest config for every package: ts-jest in ESM mode. `pnpm test` runs `test/**\/*.test.ts`
 * except `*.services.test.ts`; with IOTSIM_SERVICES=1 (`pnpm test:services`) only the latter run.
 */
export function jestConfig(overrides = {}) {
  const services = process.env.IOTSIM_SERVICES === '1';
  return {
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    transform: {
      '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.json' }],
    },
    testMatch: services
      ? ['<rootDir>/test/**/*.services.test.ts']
      : ['<rootDir>/test/**/*.test.ts'],
    testPathIgnorePatterns: services
      ? ['/node_modules/']
      : ['/node_modules/', '\\.services\\.test\\.ts$'],
    testTimeout: services ? 120_000 : 30_000,
    ...overrides,
  };
}
