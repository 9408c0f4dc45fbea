// Builds ui/dist/: our page (src/) plus Vizceral's browser bundle from node_modules.
// No bundler: Vizceral ships a UMD build that defines the global `Vizceral`.
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ui = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(ui, 'src');
const dist = join(ui, 'dist');
const require = createRequire(join(ui, 'package.json'));

let vizceral;
try {
  vizceral = join(dirname(require.resolve('vizceral/package.json')), 'dist', 'vizceral.js');
  statSync(vizceral);
} catch (e) {
  console.error('build: vizceral is not installed; run `npm ci` in ui/ first');
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const files = readdirSync(src).filter((f) => /\.(html|js|css)$/.test(f));
for (const f of files) copyFileSync(join(src, f), join(dist, f));
copyFileSync(vizceral, join(dist, 'vizceral.js'));
console.log(`build: ${files.length + 1} files in ${dist}`);
