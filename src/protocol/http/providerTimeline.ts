/**
 * `GET /v1/providers/:address/timeline`: a provider's earnings and uptime per time bucket (the
 * explorer's provider charts). Amounts are decimal strings of PLX base units.
 */
import { z } from 'zod';

/** Bucket sizes the timeline serves, in milliseconds. */
export const TIMELINE_BUCKET_MS = { hour: 3_600_000, day: 86_400_000 } as const;
/** Buckets one answer holds at most (a page; `until=` the answer's `from` gives the one before). */
export const TIMELINE_MAX_BUCKETS = 366;

/**
 * Query of the timeline: bucket size, how many buckets, and the end of the last one (ms since the
 * epoch; default now, rounded up to a whole bucket).
 *
 * @example providerTimelineQuerySchema.parse({ bucket: 'hour', buckets: '24' })
 */
export const providerTimelineQuerySchema = z
  .object({
    bucket: z.enum(['hour', 'day']).default('hour'),
    buckets: z.coerce.number().int().min(1).max(TIMELINE_MAX_BUCKETS).default(24),
    until: z.coerce.number().int().min(0).max(8_640_000_000_000_000).optional(),
  })
  .strict();

const amountSchema = z.string().regex(/^-?(0|[1-9][0-9]*)$/);

/**
 * One bucket: what the provider earned in it (net of its earnings-account postings, base units),
 * how long it was connected, and that as a share of the part of the bucket it existed for
 * (`uptime` null before it was first seen or in the future).
 *
 * @example const p: TimelinePoint = { start: 0, end: 3600000, earned: '0', entries: 0, onlineMs: 0, uptime: null };
 */
export const timelinePointSchema = z.object({
  start: z.number(),
  end: z.number(),
  earned: amountSchema,
  entries: z.number().int().nonnegative(),
  onlineMs: z.number().nonnegative(),
  uptime: z.number().min(0).max(1).nullable(),
});
/** @example const up = (p: TimelinePoint) => p.uptime ?? 0; */
export type TimelinePoint = z.infer<typeof timelinePointSchema>;

/**
 * The whole answer, oldest bucket first; `total` sums the buckets, `previous` is the `until` of the
 * page before (null when the provider did not exist then).
 *
 * @example const { points } = providerTimelineSchema.parse(await res.json());
 */
export const providerTimelineSchema = z.object({
  address: z.string(),
  bucket: z.enum(['hour', 'day']),
  bucketMs: z.number(),
  from: z.number(),
  to: z.number(),
  generatedAt: z.number(),
  firstSeen: z.number(),
  points: z.array(timelinePointSchema),
  total: z.object({
    earned: amountSchema,
    onlineMs: z.number(),
    uptime: z.number().min(0).max(1).nullable(),
  }),
  previous: z.number().nullable(),
});
/** @example const earned = (t: ProviderTimeline) => BigInt(t.total.earned); */
export type ProviderTimeline = z.infer<typeof providerTimelineSchema>;
