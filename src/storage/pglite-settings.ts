/**
 * How the embedded PostgreSQL is configured when it opens (issue 15, the embedded default's memory). PostgreSQL's
 * own default `shared_buffers = 128MB` is touched at start-up inside PGlite's WebAssembly memory, which never
 * shrinks: 229 MB of RSS after opening, 320 MB after 100,000 assertion rows. The service's tables are small and
 * written in batches, so 16 MB of buffers hold the working set: 105 MB after opening, 180 MB after the same rows
 * (measured with the service's data directory; BENCHMARKS.md has the service's figures).
 */
export const PGLITE_POSTGRESQL_CONF: readonly string[] = ['shared_buffers=16MB'];

/**
 * Which of V8's WebAssembly compilers builds PGlite's Postgres (PGLITE_WASM_COMPILER). `baseline` (the default) keeps
 * it on Liftoff, V8's single-pass compiler, and never tiers hot functions up to TurboFan; `optimizing` is V8's own
 * default (Liftoff first, TurboFan for hot functions). Measured on one core (`node bench/pglite-compilers.mjs`,
 * BENCHMARKS.md "Round two"): opening the data directory 0.97 → 0.61 s, RSS after opening 161 → 130 MB and after
 * 3,600 statements 229 → 176 MB, and the same cost per statement within noise (0.42–0.46 ms either way): Postgres's
 * work per statement is spread thin over many functions, so TurboFan's compile work and code return nothing here.
 * The flag is process-wide; the service's only WebAssembly is PGlite's.
 */
export type PgliteWasmCompiler = 'baseline' | 'optimizing';
export const PGLITE_WASM_COMPILERS: readonly PgliteWasmCompiler[] = ['baseline', 'optimizing'];

/** The V8 flags that select `compiler`; set before PGlite compiles its module (pglite-worker.ts). */
export function v8FlagsFor(compiler: PgliteWasmCompiler): string[] {
  return compiler === 'baseline' ? ['--liftoff-only'] : [];
}
