#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm install` runs it): compiles src/ to JavaScript in dist/
// with esbuild (installed with tsx, a production dependency), one output file per source file so
// the CLI's lazy imports stay lazy. bin/plexus.mjs runs dist/ when it is newer than every source
// file, and falls back to transpiling src/ with tsx otherwise.
import { copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');

async function files(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
}

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('plexus build: esbuild is not installed; the CLI will run from source with tsx');
  process.exit(0);
}

const started = performance.now();
const all = await files(join(root, 'src'));
const sources = all.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
await rm(out, { recursive: true, force: true });

// Every relative import stays a separate module (renamed .ts → .js); packages stay in node_modules.
const keepModules = {
  name: 'keep-modules',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (args.path.startsWith('.')) return { path: args.path.replace(/\.ts$/, '.js'), external: true };
      return { path: args.path, external: true };
    });
  },
};
await esbuild.build({
  entryPoints: sources,
  outdir: out,
  outbase: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [keepModules],
});

// Worker entry scripts (.mjs) import their TypeScript main: point them at the compiled one.
for (const f of all.filter((x) => x.endsWith('.mjs'))) {
  const dest = join(out, relative(root, f));
  await mkdir(dirname(dest), { recursive: true });
  const text = await readFile(f, 'utf8');
  await writeFile(dest, text.replace(/(import\(['"]\.\/[^'"]+)\.ts(['"]\))/g, '$1.js$2'));
}
for (const f of all.filter((x) => x.endsWith('.json') || x.endsWith('.py'))) {
  const dest = join(out, relative(root, f));
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(f, dest);
}
// Code that finds files next to the repo (../../bin/plexus.mjs, ../../../web/dist) finds them from dist/src too.
for (const name of ['bin', 'web']) await symlink(join('..', name), join(out, name));
await writeFile(join(out, 'BUILT'), `${new Date().toISOString()}\n`);
console.log(
  `plexus build: ${sources.length} files compiled to dist/ in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
