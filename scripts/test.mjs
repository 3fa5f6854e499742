#!/usr/bin/env node
// The one test command (`npm test`): lint and format check, type check over code and tests,
// then every *.test.ts under src/, test/, bench/ and lab/ in Node's test runner.
// Extra arguments narrow the run to test files whose path contains one of them
// (e.g. `npm test -- scheduler`), and skip lint and type check.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

const filters = process.argv.slice(2);

function run(label, cmd, args) {
  console.log(`\n▶ ${label}: ${cmd} ${args.join(' ')}`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  console.log(`◀ ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  if (r.status !== 0) {
    console.error(`✖ ${label} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function findTests(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(findTests(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

if (filters.length === 0) {
  run('lint', 'npx', ['biome', 'check', '.']);
  run('typecheck', 'npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']);
  run('contracts', 'node', ['scripts/contracts.mjs', 'check']);
  run('typecheck web', 'npx', ['tsc', '--noEmit', '-p', 'web/tsconfig.json']);
}
// The coordinator serves the explorer from web/dist, and test/dashboard.test.ts drives it in a
// browser: build it first (well under a second), also for filtered runs.
run('build web', 'npx', ['vite', 'build', 'web', '--logLevel', 'warn']);

// The files that take longest (minutes on a 2-core machine, mostly waiting on processes, epochs
// and the chain) start first, so the run does not end with one of them running alone (longest-
// first scheduling); the rest follow in path order. Measured per file with nothing else running.
const LONGEST_FIRST = [
  'test/readmeDevnet.test.ts',
  'test/settlement.test.ts',
  'test/failoverReplicas.test.ts',
  'test/storageNetwork.test.ts',
  'test/adversary.test.ts',
  'test/chainCli.test.ts',
  'test/hardeningAttack.test.ts',
  'test/cli.test.ts',
];
const rank = (f) => {
  const i = LONGEST_FIRST.indexOf(f.split(sep).join('/'));
  return i < 0 ? LONGEST_FIRST.length : i;
};
const files = ['src', 'test', 'bench', 'lab']
  .flatMap(findTests)
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
run('tests', process.execPath, [
  '--import',
  'tsx',
  '--test',
  '--test-reporter=spec',
  // Three files at a time on a 2-core machine: most process-test files wait (on processes, epochs,
  // the chain) far more than they compute (the failover test: 17 s of CPU in 167 s at load 45).
  // Three once failed in CI (2026-12-06) through two tests reading each other's PostgreSQL advisory
  // locks, not through load: fixed, they read only their own database's.
  `--test-concurrency=${process.env.PLEXUS_TEST_CONCURRENCY ?? 3}`,
  // Per test file as a whole (the runner isolates files): the longest process-test files (settlement,
  // three-replica failover) take 3–4 minutes on a loaded 2-core machine.
  '--test-timeout=600000',
  ...files,
]);
