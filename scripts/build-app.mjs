// Bundles the SMART details app (src/smart-app) for the browser into dist/public/smart: no CDN, works offline.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'public', 'smart');
mkdirSync(outdir, { recursive: true });
await build({
  entryPoints: { launch: join(root, 'src/smart-app/launch.ts'), app: join(root, 'src/smart-app/app.ts') },
  outdir,
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
copyFileSync(join(root, 'src/smart-app/app.css'), join(outdir, 'app.css'));
