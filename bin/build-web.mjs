#!/usr/bin/env node
// Part of `prepare` (so `npm install` runs it): builds the explorer into web/dist with Vite, so the
// coordinator serves it at / right after `npm install && npm start`. Vite is a development
// dependency: an `npm install --omit=dev` (a provider's install) skips this with one line; a
// coordinator that should serve the explorer builds it once with a full install (docs/dashboard.md).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let viteBin;
try {
  const pkg = createRequire(import.meta.url).resolve('vite/package.json');
  viteBin = join(dirname(pkg), 'bin', 'vite.js');
} catch {
  console.log(
    'plexus build: vite is not installed (npm install --omit=dev): the explorer (web/dist) is not built',
  );
  process.exit(0);
}
const started = performance.now();
const r = spawnSync(process.execPath, [viteBin, 'build', 'web', '--logLevel', 'warn'], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) process.exit(r.status ?? 1);
console.log(
  `plexus build: explorer built to web/dist in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
