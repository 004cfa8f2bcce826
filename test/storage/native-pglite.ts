/**
 * Import this first in any jest test that opens PGlite. PGlite's CommonJS build loads Node built-ins with dynamic
 * import(), which jest's VM sandbox refuses without --experimental-vm-modules (electric-sql/pglite#224). Node's
 * own loader has no such limit, so the module is loaded natively (outside jest's registry) and handed to jest as
 * the module's mock. Production code imports PGlite normally; only the test runner needs this.
 *
 * Consequence in tests: PGlite's values come from the main realm, so `instanceof Date` is false for its
 * timestamps (src/storage/database.ts's toIso does not rely on it).
 */
type NativeModule = { createRequire(path: string): NodeJS.Require };
const getBuiltinModule = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
if (typeof getBuiltinModule !== 'function') throw new Error('Node ≥ 20.16 is needed (process.getBuiltinModule) to load PGlite under jest.');
const nativeRequire = (getBuiltinModule('node:module') as NativeModule).createRequire(__filename);

jest.mock('@electric-sql/pglite', () => nativeRequire('@electric-sql/pglite') as unknown);

export {};
