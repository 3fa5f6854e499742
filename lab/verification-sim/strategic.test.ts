import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runStrategic } from './strategic.ts';

// The harness drives the real work loop on a virtual clock, but the loop's own async steps still
// interleave with the harness differently on a loaded machine, so which adversary gets how much work
// in 120 tasks varies between runs (seen in CI). Safety must hold in every run; detection is asserted
// for the adversaries together. Whether a rarely-audited strategy (1% cheaters, cheating on large
// tasks) ends up ahead over only 120 tasks is chance (one loaded run: +71,429 base units); that figure
// is the bench's, over 1,500 tasks (`npm run bench -- verification-sim`). Here: the strategies that
// cheat on every task never gain.
//
// It used to end with an honest provider faulted in about 1 loaded run in 7 (issue 15). The cause:
// a redundant(3) round seated while every trusted provider's slots were busy got no trusted member,
// and two agreeing adversaries (two of the ring, or two near-miss cheaters computing the same
// approximation) outvoted and slashed the honest third. Runs are not replays of each other (ids,
// keys, the audit seed and the random trusted draw are fresh each run), so only some runs hit such a
// round. A redundant round now waits for a trusted slot (dispatch.ts pickFor). Should an honest
// provider ever be faulted again, the failure prints who executed the task, in which role, and why.
test('strategic harness on the live work loop (120 tasks): honest providers with measured noise are never faulted, no answer of a lazy cheater, the ring or the Sybil burst is accepted, cheaters are caught, and none of these strategies gains over honest work', async () => {
  const r = await runStrategic({ tasks: 120, providers: 40, seed: 'strategic-test' });
  assert.equal(r.tasks, 120);
  assert.equal(r.honestFaulted, 0, JSON.stringify(r.honestFaultDetails, null, 1));
  for (const k of ['lazy', 'ring', 'sybil'] as const)
    assert.equal(r.byAdversary[k].wrongAccepted, 0, `${k} wrong accepted`);
  const caught = (['lazy', 'ring', 'sybil'] as const).reduce((n, k) => n + r.byAdversary[k].caught, 0);
  assert.ok(caught > 0, 'cheaters caught');
  for (const k of ['lazy', 'ring', 'sybil'] as const) {
    const gain = r.byAdversary[k].gainOverHonestPerTask;
    assert.ok(gain <= 0, `${k} gains ${gain} over honest work`);
  }
});
