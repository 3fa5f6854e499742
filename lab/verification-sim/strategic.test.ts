import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStrategic } from './strategic.ts';

test('strategic harness on the live work loop (120 tasks): honest providers with measured noise are never faulted, lazy cheaters, the ring and the Sybil burst are caught and none of their answers is accepted, and no strategy gains over honest work', async () => {
  const r = await runStrategic({ tasks: 120, providers: 40, seed: 'strategic-test' });
  assert.equal(r.tasks, 120);
  assert.equal(r.honestFaulted, 0);
  for (const k of ['lazy', 'ring', 'sybil'] as const) {
    assert.ok(r.byAdversary[k].caught > 0, `${k} caught`);
    assert.equal(r.byAdversary[k].wrongAccepted, 0, `${k} wrong accepted`);
  }
  assert.ok(r.maxExpectedProfitPerTask <= 0, `max gain over honest ${r.maxExpectedProfitPerTask}`);
});
