import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitDrained } from './waitDrained.ts';

test('a drain waits for work that arrives after it began, and ends once quiet', async () => {
  let running = 0;
  // Nothing runs when the drain begins; an assignment arrives 100 ms later and runs 300 ms.
  setTimeout(() => {
    running = 1;
    setTimeout(() => {
      running = 0;
    }, 300);
  }, 100);
  const started = Date.now();
  let doneWhileRunning = false;
  await waitDrained(() => running > 0, 30_000, 400).then(() => {
    doneWhileRunning = running > 0;
  });
  assert.equal(doneWhileRunning, false, 'not done while the late assignment runs');
  assert.ok(Date.now() - started >= 800, 'done only after the late work and a quiet period');
});

test('a drain ends at its timeout even if work never stops', async () => {
  const started = Date.now();
  await waitDrained(() => true, 300, 100);
  assert.ok(Date.now() - started >= 300, 'ran to the timeout');
});
