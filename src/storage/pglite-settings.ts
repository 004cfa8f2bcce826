/**
 * How the embedded PostgreSQL is configured when it opens (issue 15, the embedded default's memory). PostgreSQL's
 * own default `shared_buffers = 128MB` is touched at start-up inside PGlite's WebAssembly memory, which never
 * shrinks: 229 MB of RSS after opening, 320 MB after 100,000 assertion rows. The service's tables are small and
 * written in batches, so 16 MB of buffers hold the working set: 105 MB after opening, 180 MB after the same rows
 * (measured with the service's data directory; BENCHMARKS.md has the service's figures).
 */
export const PGLITE_POSTGRESQL_CONF: readonly string[] = ['shared_buffers=16MB'];
