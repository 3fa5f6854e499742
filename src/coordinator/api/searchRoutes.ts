import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { errorResponses } from '../../protocol/http/common.ts';
import { type SearchHit, searchResultSchema } from '../../protocol/http/search.ts';
import { findByAddress, findByCid, findByHash } from '../search/searchQueries.ts';
import type { Database } from '../store/schema.ts';

/** Hits of each lookup, and of the whole answer. */
const PER_LOOKUP = 20;
const MAX_HITS = 50;

/**
 * `GET /v1/search?q=`: the explorer's search box. A 0x-prefixed 32-byte hash is a job id or a
 * settlement transaction, a 20-byte address a provider, a device (or its owner) or a client, 64 hex
 * digits a content id (model, input or output of jobs). Read-only, indexed lookups only.
 *
 * @example await app.register(searchRoutes({ db }));
 */
export function searchRoutes(deps: { db: Kysely<Database> }) {
  const { db } = deps;
  return async (app: FastifyInstance) => {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/search',
      {
        schema: {
          summary: 'Find what a job id, address, transaction hash or content id names (explorer)',
          querystring: z.strictObject({ q: z.string().trim().min(1).max(100) }),
          response: { 200: searchResultSchema, ...errorResponses },
        },
      },
      async (req) => {
        const q = req.query.q.toLowerCase();
        const hits: SearchHit[] = [];
        let kind: 'hash' | 'address' | 'cid' | 'unknown' = 'unknown';
        if (/^0x[0-9a-f]{64}$/.test(q)) {
          kind = 'hash';
          const r = await findByHash(db, q, PER_LOOKUP);
          for (const j of r.jobs) hits.push({ type: 'job', id: j.id, label: j.status, role: 'id' });
          for (const e of r.epochs)
            hits.push({
              type: 'epoch',
              id: String(e.epoch),
              label: `epoch ${e.epoch} (${e.status})`,
              role: 'settlement-tx',
            });
        } else if (/^0x[0-9a-f]{40}$/.test(q)) {
          kind = 'address';
          const r = await findByAddress(db, q, PER_LOOKUP);
          for (const p of r.providers)
            hits.push({ type: 'provider', id: p.address, label: `provider in ${p.region}`, role: 'id' });
          for (const d of r.devices)
            hits.push({
              type: 'device',
              id: d.address,
              label: `sensor ${d.model}`,
              role: d.address === q ? 'id' : 'owner',
            });
        } else if (/^(0x)?[0-9a-f]{64}$/.test(q)) {
          kind = 'cid';
          for (const j of await findByCid(db, q.replace(/^0x/, ''), PER_LOOKUP))
            hits.push({ type: 'job', id: j.id, label: j.status, role: j.role });
        }
        return { query: q, kind, hits: hits.slice(0, MAX_HITS) };
      },
    );
  };
}
