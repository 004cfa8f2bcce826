// Runs a TypeScript entry point of this project without a prior `npm run build`: esbuild bundles it (dependencies
// stay external, resolved from node_modules as usual) into node_modules/.cache and Node runs the result with the
// remaining arguments. Used by `npm run validate` and `npm run token`, which a payer's informaticist runs often.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node scripts/run-ts.mjs <src/…/entry.ts> [args…]\n');
  process.exit(2);
}
const outdir = join(root, 'node_modules', '.cache', 'run-ts');
mkdirSync(outdir, { recursive: true });
const outfile = join(outdir, `${basename(entry, '.ts')}.cjs`);
await build({
  entryPoints: [resolve(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'external',
  sourcemap: 'inline',
  logLevel: 'warning',
});
// `require.main === module` in the entry holds in the bundle too: it is the file Node runs.
const result = spawnSync(process.execPath, ['--enable-source-maps', outfile, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
