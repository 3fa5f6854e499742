/**
 * Wire shape of `GET /v1/search?q=` (the explorer's search box): what a job id, an address, a
 * transaction hash or a content id names on this coordinator.
 */
import { z } from 'zod';

/**
 * One thing the query names: a job (by id, by its client, or holding the content id as model,
 * input or output), a provider, a sensor device, or an epoch settled by the transaction.
 *
 * @example const h: SearchHit = { type: 'job', id: '0x…', label: 'completed · 2 tasks', role: 'id' };
 */
export const searchHitSchema = z.object({
  type: z.enum(['job', 'provider', 'device', 'epoch']),
  /** The job id, address or epoch number (as a string). */
  id: z.string(),
  label: z.string(),
  /** How the query matched: `id`, `client`, `model`, `input`, `output`, `owner`, `settlement-tx`. */
  role: z.string(),
});
/** @example const jobs = (hits: SearchHit[]) => hits.filter((h) => h.type === 'job'); */
export type SearchHit = z.infer<typeof searchHitSchema>;

/**
 * `GET /v1/search?q=`: what the query looks like and everything it names (at most 50 hits).
 *
 * @example const { kind, hits } = searchResultSchema.parse(await res.json());
 */
export const searchResultSchema = z.object({
  query: z.string(),
  kind: z.enum(['hash', 'address', 'cid', 'unknown']),
  hits: z.array(searchHitSchema),
});
/** @example const nothing = (r: SearchResult) => r.hits.length === 0; */
export type SearchResult = z.infer<typeof searchResultSchema>;
