import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnNode } from './spawnNode.ts';

test('waitFor finds a marker the child printed before anyone waited for it', async () => {
  const child = spawnNode('echo', ['-e', 'console.log("NOISE"); console.log("READY {\\"port\\":7}")'], {
    print: () => {},
  });
  assert.equal(await child.exited, 0, 'the child printed its marker and exited before waitFor');
  assert.deepEqual(await child.waitFor('READY', 1000), { port: 7 });
  await assert.rejects(child.waitFor('READY', 50), /exited|did not print/, 'a marker is handed out once');
});
