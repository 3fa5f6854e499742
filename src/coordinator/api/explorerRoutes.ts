import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import {
  jobAssignmentsSchema,
  jobVerificationViewSchema,
  providerHistorySchema,
  statsSchema,
} from '../../protocol/http/explorer.ts';
import {
  providerTimelineQuerySchema,
  providerTimelineSchema,
  TIMELINE_BUCKET_MS,
} from '../../protocol/http/providerTimeline.ts';
import { addressSchema, hex32Schema } from '../../protocol/schemas.ts';
import { lastEventId, listProviderSessions } from '../events/eventQueries.ts';
import {
  countByStatus,
  findJob,
  jobsPerMinute,
  listJobAssignments,
  listProviderAssignments,
} from '../jobs/jobQueries.ts';
import { isPublicJob, listProviderShadowLeases, shadowAggregates, sumRows } from '../jobs/shadowJobs.ts';
import { publicVerificationTotals } from '../jobs/shadowOutcomes.ts';
import { findProvider, providerExists, scanProviders } from '../providers/providerQueries.ts';
import { providerTimeline, timelineTotal } from '../providers/providerTimeline.ts';
import { listEarningPostings, listSessionIntervals } from '../providers/timelineQueries.ts';
import type { Database } from '../store/schema.ts';
import {
  listJobTaskVerifications,
  listProviderFaults,
  openTaskKeys,
  verificationCounts,
} from '../verification/verificationQueries.ts';
import {
  countBy,
  faultView,
  historyAssignmentView,
  minuteBuckets,
  providerAggregates,
  sessionView,
  taskVerificationView,
  verificationTotals,
} from './explorerViews.ts';
import { requireJobClient } from './jobReader.ts';

/** Where `npm run build:web` writes the explorer (web/dist at the repository root). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../web/dist/', import.meta.url));
/** The overview's jobs-per-minute chart covers this many one-minute buckets, newest last. */
export const STATS_WINDOW_MINUTES = 60;
/** Rows a provider's history (assignments, sessions, faults) returns at most, each. */
const HISTORY_LIMIT = 200;

/**
 * The explorer's side of the coordinator: read-only aggregates the dashboard needs
 * (`GET /v1/stats` with verification outcomes, a provider's assignment, session and fault history,
 * a job's assignments and per-task verification) and the
 * built dashboard itself (web/dist) at `/`. When the dashboard was not built, `/` says how to
 * build it instead of failing. Everything here only reads the store.
 *
 * @example await app.register(explorerRoutes({ db, activeOf: loop.activeOf, log }));
 */
export function explorerRoutes(deps: {
  db: Kysely<Database>;
  /** Tasks a provider is running now (the scheduler's live count). */
  activeOf: (address: string) => number;
  log: Logger;
  /** The chain id of the EIP-712 domain a client signs its job reads in. */
  chainId: number;
  /** Folder with the built dashboard; defaults to web/dist. */
  webRoot?: string;
  /**
   * When the epoch holding `now` began: faults since then are shown without who agreed (their
   * evidence is published at the epoch's close). None: every fault's whole evidence.
   */
  epochStart?: (now: number) => number;
}) {
  const { db, activeOf, log, chainId } = deps;
  // A job's client, or null for a public job (anyone reads its task views; api/jobRoutes.ts).
  const clientOf = (id: string) => async () => {
    const job = await findJob(db, id);
    return job && isPublicJob(job.spec) ? null : job?.client;
  };
  const webRoot = deps.webRoot ?? DEFAULT_WEB_ROOT;
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get(
      '/v1/stats',
      {
        schema: {
          summary: 'Network aggregates for the explorer overview',
          response: { 200: statsSchema, ...errorResponses },
        },
      },
      async () => {
        const now = Date.now();
        const since = now - STATS_WINDOW_MINUTES * 60_000;
        const providers = providerAggregates(await scanProviders(db, 100_000), activeOf);
        // Canaries' shadow jobs count like any job (a counter that moved for real work only was a tell).
        const shadow = await shadowAggregates(db, since);
        const minutes = await jobsPerMinute(db, since);
        const perMinute = minuteBuckets(since, STATS_WINDOW_MINUTES, {
          submitted: sumRows('minute', minutes.submitted, shadow.submitted),
          completed: sumRows('minute', minutes.completed, shadow.completed),
        });
        const real = await countByStatus(db);
        const counts = {
          jobs: sumRows('status', real.jobs, shadow.jobs),
          tasks: sumRows('status', real.tasks, shadow.tasks),
          assignments: sumRows('status', real.assignments, shadow.assignments),
        };
        // Canaries count as the unaudited tasks of their shadow jobs: totals that moved for real
        // verdicts only told a provider, right after it answered, that its task was a canary.
        const verification = await publicVerificationTotals(db);
        return {
          generatedAt: now,
          // The explorer opens /v1/events?after=lastEventId, so it streams news, not all history.
          lastEventId: await lastEventId(db),
          ...providers,
          jobsPerMinute: perMinute,
          jobs: countBy(counts.jobs, ['queued', 'running', 'completed', 'failed'] as const),
          tasks: countBy(counts.tasks, ['queued', 'assigned', 'completed', 'failed', 'cancelled'] as const),
          assignments: countBy(counts.assignments, ['leased', 'completed', 'failed', 'expired'] as const),
          verification,
        };
      },
    );

    r.get(
      '/v1/providers/:address/history',
      {
        schema: {
          summary: "A provider's recent assignments and session events (explorer)",
          params: z.object({ address: addressSchema }),
          response: { 200: providerHistorySchema, ...errorResponses },
        },
      },
      async (req) => {
        const address = req.params.address.toLowerCase();
        if (!(await providerExists(db, address)))
          throw new PlexusError('PLX_NOT_FOUND', `no provider ${address}`);
        const all = await listProviderAssignments(db, address, HISTORY_LIMIT);
        // Executions of tasks still open stay out until the verdict (who runs what is secret).
        const open = await openTaskKeys(
          db,
          all.map((a) => a.job_id),
        );
        // Its finished canary leases are listed too, under their shadow jobs, like any execution.
        const shadow = await listProviderShadowLeases(db, address, HISTORY_LIMIT);
        const assignments = [...all.filter((a) => !open.has(`${a.job_id}:${a.idx}`)), ...shadow]
          .sort((a, b) => b.created_at - a.created_at)
          .slice(0, HISTORY_LIMIT);
        const sessions = await listProviderSessions(db, address, HISTORY_LIMIT);
        // Proven faults with their evidence and what each cost (the slash entry of the same task).
        const faults = await listProviderFaults(db, address, HISTORY_LIMIT);
        return {
          address,
          faults: faults.map((f) => faultView(f, deps.epochStart?.(Date.now()) ?? Number.POSITIVE_INFINITY)),
          assignments: assignments.map(historyAssignmentView),
          sessions: sessions.map(sessionView),
        };
      },
    );

    r.get(
      '/v1/providers/:address/timeline',
      {
        schema: {
          summary:
            "A provider's earnings (ledger postings) and uptime (session intervals) per hour or day, oldest first (explorer charts)",
          params: z.object({ address: addressSchema }),
          querystring: providerTimelineQuerySchema,
          response: { 200: providerTimelineSchema, ...errorResponses },
        },
      },
      async (req) => {
        const address = req.params.address.toLowerCase();
        const provider = await findProvider(db, address);
        if (!provider) throw new PlexusError('PLX_NOT_FOUND', `no provider ${address}`);
        const { bucket, buckets } = req.query;
        const bucketMs = TIMELINE_BUCKET_MS[bucket];
        const now = Date.now();
        // Whole buckets (UTC), the last one holding `until` (default now): pages line up.
        const to = Math.floor((req.query.until ?? now) / bucketMs) * bucketMs + bucketMs;
        const from = to - buckets * bucketMs;
        const [sessions, postings] = await Promise.all([
          listSessionIntervals(db, address, from, to),
          listEarningPostings(db, address, from, to),
        ]);
        const firstSeen = provider.first_seen;
        const points = providerTimeline({
          from,
          bucketMs,
          buckets,
          now,
          firstSeen,
          // An open session of a provider that is not connected (a crash the coordinator has not
          // closed yet) ends at its last sighting.
          openUntil: provider.connected === 1 ? now : provider.last_seen,
          sessions,
          postings,
        });
        return {
          address,
          bucket,
          bucketMs,
          from,
          to,
          generatedAt: now,
          firstSeen,
          points,
          total: timelineTotal(points, now, firstSeen),
          previous: from > firstSeen ? from - 1 : null,
        };
      },
    );

    r.get(
      '/v1/jobs/:id/assignments',
      {
        schema: {
          summary:
            "Every attempt at a job's finished tasks: provider, status, lease and error (its client's: signed JobRead; open tasks' executions are secret until their verdict)",
          params: z.object({ id: hex32Schema }),
          response: { 200: jobAssignmentsSchema, ...errorResponses },
        },
      },
      async (req) => {
        await requireJobClient(req, req.params.id, chainId, clientOf(req.params.id));
        const all = await listJobAssignments(db, req.params.id, 10_000);
        // An open task's executions (primary, replicas, auditor, tie-breakers) are listed only
        // once it is finished: naming them earlier tells a provider its co-executors and tells a
        // primary whether an auditor was leased. The task's own status stays public.
        const open = await openTaskKeys(db, [req.params.id]);
        const rows = all.filter((a) => !open.has(`${req.params.id}:${a.idx}`));
        return {
          assignments: rows.map((a) => ({
            id: a.id,
            taskIndex: a.idx,
            provider: a.provider,
            status: a.status,
            createdAt: a.created_at,
            finishedAt: a.finished_at,
            error: a.error_code ? { code: a.error_code, message: a.error_message } : null,
          })),
        };
      },
    );

    r.get(
      '/v1/jobs/:id/verification',
      {
        schema: {
          summary:
            "Verification of a job's tasks: policy, audit draw, verdict and each execution (its client's: signed JobRead)",
          params: z.object({ id: hex32Schema }),
          response: { 200: jobVerificationViewSchema, ...errorResponses },
        },
      },
      async (req) => {
        await requireJobClient(req, req.params.id, chainId, clientOf(req.params.id));
        const rows = await listJobTaskVerifications(db, req.params.id, 10_000);
        return { tasks: rows.map(taskVerificationView) };
      },
    );

    if (existsSync(webRoot)) {
      // wildcard: false serves exactly the files built at start-up (no path walking at request
      // time, so no traversal); the explorer routes with #hashes, so every page is index.html.
      await app.register(fastifyStatic, { root: webRoot, prefix: '/', wildcard: false, index: 'index.html' });
    } else {
      log.warn({ webRoot }, 'explorer dashboard not built (npm run build:web); / explains how');
      app.get('/', { schema: { hide: true } }, async (_req, reply) =>
        reply
          .type('text/plain; charset=utf-8')
          .send(
            'The Plexus explorer is not built. Run `npm run build:web` (it needs the development dependencies: `npm install`, not `--omit=dev`), then restart the coordinator.\n',
          ),
      );
    }
  };
}
