/**
 * Issue 22: `npm install --omit=dev` must give a working provider and coordinator, and test-only
 * and demo-only packages stay out of their install. Every npm package the provider's and the
 * coordinator's code loads at run time (value imports reachable from `plexus provider` and
 * `plexus coordinator`, and from every other command except `plexus devnet`) must be a production
 * dependency; the devnet's packages are development dependencies, and `plexus devnet` says so in
 * one line when they are missing (docs/benchmarks.md "cli" has the measured install sizes of a
 * real `npm ci --omit=dev`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEVNET_PACKAGES, missingPackages, requireDevnetPackages } from '../src/cli/devDependencies.ts';
import { roleClosure, valueImports } from './helpers/roleClosure.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function notProduction(packages: Map<string, string>): string[] {
  return [...packages].filter(([p]) => !(p in pkg.dependencies)).map(([p, f]) => `${p} (imported by ${f})`);
}

test('the provider and the coordinator load only production dependencies', () => {
  const provider = roleClosure(root, ['src/cli/provider.ts']);
  const coordinator = roleClosure(root, ['src/cli/coordinator.ts']);
  assert.ok(
    provider.packages.has('onnxruntime-node') && provider.packages.has('ws'),
    'the reader sees imports',
  );
  assert.ok(
    coordinator.packages.has('fastify') && coordinator.packages.has('world-atlas'),
    'and createRequire',
  );
  assert.deepEqual(notProduction(provider.packages), [], 'provider');
  assert.deepEqual(notProduction(coordinator.packages), [], 'coordinator');
  for (const f of [...provider.files, ...coordinator.files])
    assert.ok(!f.startsWith('src/devnet/'), `${f}: a role must not load the devnet`);
});

test('every command but the devnet loads only production dependencies; the devnet packages are dev-only', () => {
  const cli = roleClosure(root, ['src/cli/main.ts'], ['src/cli/devnet.ts']);
  assert.deepEqual(notProduction(cli.packages), []);
  // bin/plexus.mjs runs src/ through tsx when dist/ is stale: tsx (and its esbuild) is run time.
  const bin = valueImports('bin/plexus.mjs', readFileSync(join(root, 'bin/plexus.mjs'), 'utf8'));
  assert.deepEqual(bin.packages, ['tsx']);
  assert.ok('tsx' in pkg.dependencies, "'tsx' in pkg.dependencies");
  for (const p of DEVNET_PACKAGES) {
    assert.ok(p in pkg.devDependencies, `${p} is a development dependency`);
    assert.ok(!(p in pkg.dependencies), `${p} is not installed by --omit=dev`);
  }
  for (const p of ['@foundry-rs/forge', 'solc', '@openzeppelin/contracts', 'playwright-core', 'vite'])
    assert.ok(p in pkg.devDependencies && !(p in pkg.dependencies), `${p} is test/build-only`);
});

test('the devnet says which packages are missing instead of failing to load', () => {
  assert.deepEqual(missingPackages(DEVNET_PACKAGES), [], 'a full install has them');
  assert.deepEqual(missingPackages(['@plexus-test/not-a-package', 'zod']), ['@plexus-test/not-a-package']);
  assert.throws(
    () => requireDevnetPackages(['@plexus-test/not-a-package']),
    (err: { code?: string; message?: string }) =>
      err.code === 'PLX_NOT_INSTALLED' &&
      /npm install --omit=dev leaves out: run npm install/.test(err.message ?? ''),
  );
});
