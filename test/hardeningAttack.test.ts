/**
 * The standing attack suite (test/attack/run.ts, `npm run attack`) as part of `npm test`, at a
 * small scale (ATTACK_SCALE=0.1: the same cases with smaller payloads, about a minute on a loaded
 * 2-core machine): every case must get its PLX_ code, the coordinator's health p99 must stay under
 * 1 s here (250 ms in `npm run attack`; above a control server's, sampled alike) and its RSS
 * growth under 100 MiB throughout, and an honest job must complete afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

test('npm run attack passes at ATTACK_SCALE=0.1 (every case, health p99 < 1 s, RSS growth < 100 MiB)', async () => {
  const root = join(import.meta.dirname, '..');
  const child = spawn(process.execPath, ['--import', 'tsx', join('test', 'attack', 'run.ts')], {
    cwd: root,
    // Health bound 1 s here (250 ms in `npm run attack`): this file shares the machine with other
    // test files, and the paired control did not absorb their load (459 ms at load 45, once).
    env: { ...process.env, ATTACK_SCALE: '0.1', ATTACK_HEALTH_P99_MS: '1000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d.toString();
  });
  child.stderr.resume();
  const code = await new Promise<number | null>((resolve) => {
    // Generous: the suite takes about a minute; the runner's per-test limit is 300 s.
    const killer = setTimeout(() => child.kill('SIGKILL'), 280_000);
    child.on('exit', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  const lines = out.trim().split('\n');
  const failed = lines.filter((l) => l.startsWith('FAIL'));
  assert.deepEqual(failed, [], 'no failed case');
  assert.match(lines.at(-1) ?? '', /^\d+ passed, 0 failed$/);
  assert.ok(
    lines.some((l) => /^ok {4}health p99/.test(l)),
    'the health bound was checked',
  );
  assert.ok(
    lines.some((l) => /^ok {4}RSS growth/.test(l)),
    'the RSS bound was checked',
  );
  assert.equal(code, 0);
});
