/** Jest runs the TypeScript sources through ts-jest in transpile-only mode; `npm run typecheck` does the type checking. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 20000,
  // Tests that start the real service open PGlite, which jest's module sandbox cannot load (see the file).
  setupFiles: ['<rootDir>/test/storage/native-pglite.ts'],
  // One build of dist/ (server + SMART app bundle) for every test that runs the built service.
  globalSetup: '<rootDir>/test/global-setup.ts',
  // Tests start real HTTP servers on port 0; run files in parallel on the 2 cores this machine has.
  maxWorkers: 2,
};
