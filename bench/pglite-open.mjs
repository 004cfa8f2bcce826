// Reference for the cold-start and memory figures: what opening the embedded database alone costs. Opens an
// initialised PGlite data dir exactly as dist/storage/pglite-database.js does (PGlite.create, with the same settings), runs SELECT 1 and
// prints {"openMs", "rssMb", "baseRssMb"} as one JSON line. Usage: node bench/pglite-open.mjs <data dir>/pglite
import { setFlagsFromString } from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_POSTGRESQL_CONF, v8FlagsFor } from '../dist/storage/pglite-settings.js';

// The service's compiler choice (PGLITE_WASM_COMPILER, default baseline), set as its worker sets it.
for (const flag of v8FlagsFor(process.env.PGLITE_WASM_COMPILER || 'baseline')) setFlagsFromString(flag);

const dir = process.argv[2];
const baseRssMb = process.memoryUsage().rss / 1048576;
const t0 = performance.now();
const db = await PGlite.create(dir, { postgresqlconf: [...PGLITE_POSTGRESQL_CONF] });
await db.query('SELECT 1');
const openMs = performance.now() - t0;
const rssMb = process.memoryUsage().rss / 1048576;
await db.close();
process.stdout.write(`${JSON.stringify({ openMs: Math.round(openMs), rssMb: Math.round(rssMb), baseRssMb: Math.round(baseRssMb) })}\n`);
