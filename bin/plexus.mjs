#!/usr/bin/env node
// Entry point of the `plexus` command. Runs the compiled CLI in dist/ (`npm run build`, also run
// by `npm install`) when it is newer than every source file; otherwise registers the TypeScript
// loader and runs src/ directly (a checkout without a build, or sources edited since).
// PLEXUS_FROM_SOURCE=1 forces the source.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function compiledIsFresh() {
  if (process.env.PLEXUS_FROM_SOURCE === '1') return false;
  let built;
  try {
    built = statSync(join(root, 'dist', 'BUILT')).mtimeMs;
  } catch {
    return false;
  }
  // A few hundred stat calls (~2 ms): cheaper than a wrong answer from stale JavaScript.
  const src = join(root, 'src');
  for (const name of readdirSync(src, { recursive: true })) {
    if (!name.endsWith('.ts') && !name.endsWith('.mjs')) continue;
    if (statSync(join(src, name)).mtimeMs > built) return false;
  }
  return true;
}

if (compiledIsFresh()) {
  await import('../dist/src/cli/main.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
