/**
 * A provider's earnings and uptime per time bucket, from its ledger postings and its session
 * intervals (provider_sessions). Pure: the route reads the rows, this shapes them.
 */
import type { TimelinePoint } from '../../protocol/http/providerTimeline.ts';

/** One connected interval; `end` null while the session is open. */
export type SessionInterval = { start: number; end: number | null };
/** One posting to the provider's earnings account (credit: negative base units). */
export type EarningPosting = { at: number; amount: string };

/**
 * Merged, clipped intervals: overlapping sessions (a reconnect before the old socket closed) count
 * once; an open session lasts until `openUntil` (now when connected, else the last sighting).
 */
function mergedIntervals(sessions: readonly SessionInterval[], openUntil: number): [number, number][] {
  const spans = sessions
    .map((s): [number, number] => [s.start, s.end ?? Math.max(s.start, openUntil)])
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [a, b] of spans) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Milliseconds of [a, b) covered by the merged intervals. */
function covered(intervals: readonly [number, number][], a: number, b: number): number {
  let ms = 0;
  for (const [s, e] of intervals) {
    if (e <= a) continue;
    if (s >= b) break;
    ms += Math.min(e, b) - Math.max(s, a);
  }
  return ms;
}

/**
 * Buckets of `bucketMs` from `from`, oldest first: the provider's net earnings in each (sum of the
 * credits to its earnings account, as a positive decimal string of base units; bigint arithmetic),
 * the time it was connected, and uptime = connected time over the part of the bucket after it was
 * first seen and before `now` (null where that part is empty).
 *
 * @example
 * providerTimeline({ from: 0, bucketMs: 3_600_000, buckets: 2, now: 7_200_000, firstSeen: 0,
 *   openUntil: 7_200_000, sessions: [{ start: 0, end: 1_800_000 }], postings: [{ at: 10, amount: '-5' }] });
 * // [{ start: 0, …, earned: '5', uptime: 0.5 }, { start: 3_600_000, …, earned: '0', uptime: 0 }]
 */
export function providerTimeline(input: {
  from: number;
  bucketMs: number;
  buckets: number;
  now: number;
  firstSeen: number;
  openUntil: number;
  sessions: readonly SessionInterval[];
  postings: readonly EarningPosting[];
}): TimelinePoint[] {
  const { from, bucketMs, buckets, now, firstSeen } = input;
  const intervals = mergedIntervals(input.sessions, Math.min(input.openUntil, now));
  const earned = Array.from({ length: buckets }, () => 0n);
  const entries = Array.from({ length: buckets }, () => 0);
  for (const p of input.postings) {
    const i = Math.floor((p.at - from) / bucketMs);
    if (i < 0 || i >= buckets || !/^-?[0-9]+$/.test(p.amount)) continue;
    // Earnings are credits (negative postings); a debit (a correction) lowers them.
    earned[i] = (earned[i] ?? 0n) - BigInt(p.amount);
    entries[i] = (entries[i] ?? 0) + 1;
  }
  return Array.from({ length: buckets }, (_, i) => {
    const start = from + i * bucketMs;
    const end = start + bucketMs;
    const a = Math.max(start, firstSeen);
    const b = Math.min(end, now);
    const onlineMs = b > a ? covered(intervals, a, b) : 0;
    return {
      start,
      end,
      earned: (earned[i] ?? 0n).toString(),
      entries: entries[i] ?? 0,
      onlineMs,
      uptime: b > a ? Math.min(1, onlineMs / (b - a)) : null,
    };
  });
}

/**
 * Totals over the buckets: earnings summed as bigints, connected time, and uptime over the whole
 * span the provider existed in (null when it existed in none of it).
 *
 * @example const total = timelineTotal(points, now, firstSeen);
 */
export function timelineTotal(
  points: readonly TimelinePoint[],
  now: number,
  firstSeen: number,
): { earned: string; onlineMs: number; uptime: number | null } {
  let earned = 0n;
  let onlineMs = 0;
  let span = 0;
  for (const p of points) {
    earned += BigInt(p.earned);
    onlineMs += p.onlineMs;
    span += Math.max(0, Math.min(p.end, now) - Math.max(p.start, firstSeen));
  }
  return { earned: earned.toString(), onlineMs, uptime: span > 0 ? Math.min(1, onlineMs / span) : null };
}
