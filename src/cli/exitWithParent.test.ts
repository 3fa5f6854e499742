import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('./exitWithParent.ts', import.meta.url));

test('a child told its parent pid ends itself (SIGTERM) once that parent is killed with SIGKILL', async () => {
  const parent = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const code = `const m = await import(${JSON.stringify(MODULE)}); m.exitWithParent();
    process.on('SIGTERM', () => { console.log('SIGTERM'); process.exit(0); });
    console.log('WATCHING'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    env: { ...process.env, PLEXUS_PARENT_PID: String(parent.pid) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  try {
    const watching = new Promise<void>((resolve) =>
      child.stdout!.on('data', () => out.includes('WATCHING') && resolve()),
    );
    await watching;
    assert.equal(child.exitCode, null, 'alive while its parent lives');
    parent.kill('SIGKILL');
    const [exitCode] = (await once(child, 'exit')) as [number | null];
    assert.equal(exitCode, 0);
    assert.match(out, /SIGTERM/, 'it ended through its own SIGTERM handler (a graceful stop)');
  } finally {
    parent.kill('SIGKILL');
    child.kill('SIGKILL');
  }
});

test('without PLEXUS_PARENT_PID nothing is watched', async () => {
  const code = `const m = await import(${JSON.stringify(MODULE)}); m.exitWithParent({});
    console.log(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await once(child, 'exit');
  assert.equal(out.trim(), '0', 'no timer was started');
});
