import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { createScratchFiles } from './scratchFiles.ts';

const dir = await mkdtemp(join(tmpdir(), 'plexus-scratch-'));
after(() => rm(dir, { recursive: true, force: true }));

test('scratch paths are reused once given back, never while in use; discarded ones are deleted', () => {
  const scratch = createScratchFiles(dir, 2);
  const [a, b, c] = [scratch.take(), scratch.take(), scratch.take()];
  assert.equal(new Set([a, b, c]).size, 3, 'paths in use are distinct');
  assert.equal(dirname(a), dir);
  for (const p of [a, b, c]) writeFileSync(p, 'x');
  scratch.give(a);
  scratch.give(b);
  scratch.give(c); // over maxIdle: deleted
  assert.equal(existsSync(c), false);
  assert.deepEqual(new Set([scratch.take(), scratch.take()]), new Set([a, b]));
  scratch.discard(a);
  assert.equal(existsSync(a), false);
  assert.notEqual(scratch.take(), a, 'a discarded path is not handed out again');
  scratch.discard(join(dir, 'never-written')); // no error
});
