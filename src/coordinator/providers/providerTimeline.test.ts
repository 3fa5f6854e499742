import assert from 'node:assert/strict';
import { test } from 'node:test';
import { providerTimeline, timelineTotal } from './providerTimeline.ts';

const H = 3_600_000;

test('uptime per bucket from merged sessions, clipped to first sighting and now', () => {
  const points = providerTimeline({
    from: 0,
    bucketMs: H,
    buckets: 4,
    now: 3.5 * H,
    firstSeen: 0.5 * H,
    openUntil: 3.5 * H,
    sessions: [
      { start: 0.5 * H, end: 0.75 * H },
      // overlaps the one before (a reconnect before the old socket closed): counted once
      { start: 0.7 * H, end: 1 * H },
      { start: 2 * H, end: null },
    ],
    postings: [],
  });
  assert.deepEqual(
    points.map((p) => p.uptime),
    [1, 0, 1, 1],
    'bucket 0 counts only after first sighting; the open session lasts until now',
  );
  assert.deepEqual(
    points.map((p) => p.onlineMs),
    [0.5 * H, 0, H, 0.5 * H],
  );
  const total = timelineTotal(points, 3.5 * H, 0.5 * H);
  assert.equal(total.onlineMs, 2 * H);
  assert.equal(total.uptime, 2 / 3);
});

test('buckets before the first sighting or after now have no uptime; an open session of a vanished provider ends at its last sighting', () => {
  const points = providerTimeline({
    from: 0,
    bucketMs: H,
    buckets: 3,
    now: 2 * H,
    firstSeen: H,
    openUntil: 1.25 * H,
    sessions: [{ start: H, end: null }],
    postings: [],
  });
  assert.deepEqual(
    points.map((p) => p.uptime),
    [null, 0.25, null],
  );
});

test('earnings summed per bucket as bigints from credit postings (18-decimal amounts stay exact)', () => {
  const big = 123_456_789_012_345_678_901_234n;
  const points = providerTimeline({
    from: 1_000,
    bucketMs: H,
    buckets: 2,
    now: 3 * H,
    firstSeen: 0,
    openUntil: 0,
    sessions: [],
    postings: [
      { at: 1_000, amount: (-big).toString() },
      { at: 1_000 + H - 1, amount: '-1' },
      { at: 1_000 + H, amount: '-7' },
      { at: 1_000 + H + 5, amount: '2' }, // a debit lowers the bucket
      { at: 999, amount: '-1000' }, // before the window
      { at: 1_000 + 2 * H, amount: '-1000' }, // after it
    ],
  });
  assert.deepEqual(
    points.map((p) => [p.earned, p.entries]),
    [
      [(big + 1n).toString(), 2],
      ['5', 2],
    ],
  );
  assert.equal(timelineTotal(points, 3 * H, 0).earned, (big + 6n).toString());
});
