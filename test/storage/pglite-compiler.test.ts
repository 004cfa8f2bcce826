import { loadStorageSettings } from '../../src/config';
import { v8FlagsFor } from '../../src/storage/pglite-settings';

// PGLITE_WASM_COMPILER (README Configuration): a wrong value stops the start with the setting's name, never runs
// the embedded database with a compiler nobody chose.
describe('PGLITE_WASM_COMPILER', () => {
  it('defaults to the baseline compiler (V8 --liftoff-only) and accepts optimizing (V8\'s own tiering, no flag)', () => {
    expect(loadStorageSettings({}).pgliteWasmCompiler).toBe('baseline');
    expect(loadStorageSettings({ PGLITE_WASM_COMPILER: '' }).pgliteWasmCompiler).toBe('baseline');
    expect(loadStorageSettings({ PGLITE_WASM_COMPILER: 'optimizing' }).pgliteWasmCompiler).toBe('optimizing');
    expect(v8FlagsFor('baseline')).toEqual(['--liftoff-only']);
    expect(v8FlagsFor('optimizing')).toEqual([]);
  });

  it('refuses any other value, naming the setting and the allowed ones', () => {
    for (const value of ['turbo', 'Baseline', '--liftoff-only', ' baseline']) {
      expect(() => loadStorageSettings({ PGLITE_WASM_COMPILER: value })).toThrow(`PGLITE_WASM_COMPILER must be one of baseline, optimizing, not "${value}"`);
    }
  });
});
