import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { addressSchema, hex32Schema } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { verificationPolicySchema } from '../verification/policy.ts';

/** Where `npm run build:web` writes the explorer (web/dist at the repository root). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../../web/dist/', import.meta.url));
/** The overview's jobs-per-minute chart covers this many one-minute buckets, newest last. */
export const STATS_WINDOW_MINUTES = 60;
/** Rows a provider's history (assignments, sessions, faults) returns at most, each. */
const HISTORY_LIMIT = 200;

type HardwareJson = {
  cpuModel?: string;
  cpuCores?: number;
  memoryBytes?: number;
  gpus?: { name?: string; memoryMiB?: number }[];
};

/** Task verification statuses as the store records them (task_verifications.status). */
const VERIFICATION_STATUSES = ['open', 'accepted', 'rejected', 'disputed'] as const;
/** Proven fault kinds (FaultKind in verification/slashing.ts). */
const FAULT_KINDS = ['outvoted', 'canary', 'bad-reveal', 'capability'] as const;

/**
 * The parts of a stored verdict (task_verifications.verdict, written by the work loop) the explorer
 * shows. Parsed, not cast: a row this code does not understand shows as "no verdict", never a crash.
 */
const storedVerdictSchema = z.object({
  status: z.enum(['accepted', 'rejected', 'disputed']),
  verified: z.boolean(),
  acceptedFrom: z.string().optional(),
  executions: z.number().int().nonnegative(),
  outcomes: z.array(z.object({ provider: z.string(), role: z.string(), outcome: z.string() })),
  faults: z.array(
    z.object({
      provider: z.string(),
      evidence: z.object({ kind: z.string(), agreeing: z.array(z.string()), reasons: z.array(z.string()) }),
    }),
  ),
});
/** The verification event log (VerificationEvent[]) as far as the explorer reads it. */
const storedLogSchema = z.array(z.object({ type: z.string(), provider: z.string() }).loose());
/** A stored FaultEvidence (verification/slashing.ts). */
const storedEvidenceSchema = z.object({
  kind: z.string(),
  faultyDigest: z.string().optional(),
  acceptedDigest: z.string().optional(),
  agreeing: z.array(z.string()),
  digests: z.record(z.string(), z.string()),
  reasons: z.array(z.string()),
});

/** JSON.parse + schema, or null when the stored text is not what the schema says. */
function parseStored<T>(schema: z.ZodType<T>, text: string | null): T | null {
  if (text === null) return null;
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Where each execution of a still-open task stands, from its verification log: asked for
 * (`pending`), output revealed (`revealed`) or given up on lease expiry (`abandoned`).
 */
function executionsFromLog(log: { type: string; provider: string; role?: unknown }[]) {
  const out = new Map<string, { provider: string; role: string; outcome: string }>();
  for (const e of log) {
    const provider = e.provider.toLowerCase();
    if (e.type === 'assign')
      out.set(provider, {
        provider,
        role: typeof e.role === 'string' ? e.role : 'primary',
        outcome: 'pending',
      });
    const x = out.get(provider);
    if (x && e.type === 'reveal') x.outcome = 'revealed';
    if (x && e.type === 'abandon') x.outcome = 'abandoned';
  }
  return [...out.values()];
}

/** Counts of a status column as `{ status: n }`, every known status present (zero when absent). */
function countBy<S extends string>(rows: { status: S; n: number | bigint }[], all: readonly S[]) {
  const out = Object.fromEntries(all.map((s) => [s, 0])) as Record<S, number>;
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/**
 * Verification outcomes over every task that has a verification record: verdicts, how many were
 * verified by a second opinion, audits drawn, policies, proven faults and the total slashed.
 * Each table is read in one grouped scan; slash amounts are summed as bigints (they are 18-decimal
 * base units, far past what SQLite's integers or a double hold), grouped by amount first because
 * slashes of one economics share their amount.
 */
async function verificationTotals(db: Kysely<Database>) {
  const rows = await db
    .selectFrom('task_verifications')
    .select([
      'status',
      'audit',
      sql<string>`json_extract(policy, '$.kind')`.as('policy'),
      sql<number | null>`json_extract(verdict, '$.verified')`.as('verified'),
      (eb) => eb.fn.countAll<number>().as('n'),
    ])
    .groupBy(['status', 'audit', 'policy', 'verified'])
    .execute();
  const tasks = countBy([], VERIFICATION_STATUSES);
  const policies: Record<string, number> = { none: 0, audit: 0, redundant: 0 };
  let verified = 0;
  let audited = 0;
  for (const r of rows) {
    const n = Number(r.n);
    if (r.status in tasks) tasks[r.status] += n;
    policies[r.policy] = (policies[r.policy] ?? 0) + n;
    if (r.audit === 1) audited += n;
    if (r.status === 'accepted' && Number(r.verified) === 1) verified += n;
  }
  const faultRows = await db
    .selectFrom('verification_faults')
    .select(['kind', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('kind')
    .execute();
  const byKind: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  let faults = 0;
  for (const r of faultRows) {
    byKind[r.kind] = (byKind[r.kind] ?? 0) + Number(r.n);
    faults += Number(r.n);
  }
  const slashRows = await db
    .selectFrom('slashes')
    .select(['amount', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('amount')
    .execute();
  let slashed = 0n;
  for (const r of slashRows) if (/^[0-9]+$/.test(r.amount)) slashed += BigInt(r.amount) * BigInt(r.n);
  return {
    tasks,
    /** Accepted with at least two agreeing providers (or a known answer). */
    verified,
    /** Accepted on one provider's word (policy none, or an audit not drawn or waived). */
    unverified: tasks.accepted - verified,
    audited,
    policies,
    faults: { total: faults, byKind },
    /** Sum of slash entries, base units as a decimal string. */
    slashed: slashed.toString(),
  };
}

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
  /** Folder with the built dashboard; defaults to web/dist. */
  webRoot?: string;
}) {
  const { db, activeOf, log } = deps;
  const webRoot = deps.webRoot ?? DEFAULT_WEB_ROOT;
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/v1/stats', { schema: { summary: 'Network aggregates for the explorer overview' } }, async () => {
      const now = Date.now();
      const providers = await db.selectFrom('providers').selectAll().limit(100_000).execute();
      const gpuModels = new Map<string, { model: string; count: number; memoryMiB: number }>();
      const regions = new Map<
        string,
        { region: string; providers: number; online: number; cpuCores: number; gpus: number; slots: number }
      >();
      const capacity = { cpuCores: 0, memoryBytes: 0, gpus: 0, slots: 0, active: 0 };
      const classes = { cpu: 0, gpu: 0 };
      let online = 0;
      for (const p of providers) {
        const hw = JSON.parse(p.hardware) as HardwareJson;
        const gpus = hw.gpus ?? [];
        const region = regions.get(p.region) ?? {
          region: p.region,
          providers: 0,
          online: 0,
          cpuCores: 0,
          gpus: 0,
          slots: 0,
        };
        regions.set(p.region, region);
        region.providers++;
        // Capacity counts only what is connected now: offline hardware cannot take work.
        if (p.connected !== 1) continue;
        online++;
        region.online++;
        region.cpuCores += hw.cpuCores ?? 0;
        region.gpus += gpus.length;
        region.slots += p.slots;
        capacity.cpuCores += hw.cpuCores ?? 0;
        capacity.memoryBytes += hw.memoryBytes ?? 0;
        capacity.gpus += gpus.length;
        capacity.slots += p.slots;
        capacity.active += activeOf(p.address);
        if (gpus.length > 0) classes.gpu++;
        else classes.cpu++;
        for (const g of gpus) {
          const model = g.name ?? 'unknown GPU';
          const m = gpuModels.get(model) ?? { model, count: 0, memoryMiB: g.memoryMiB ?? 0 };
          m.count++;
          gpuModels.set(model, m);
        }
      }

      const since = now - STATS_WINDOW_MINUTES * 60_000;
      const bucket = (col: 'created_at' | 'updated_at') =>
        sql<number>`cast((${sql.ref(col)} - ${since}) / 60000 as integer)`.as('minute');
      const submitted = await db
        .selectFrom('jobs')
        .select([bucket('created_at'), (eb) => eb.fn.countAll<number>().as('n')])
        .where('created_at', '>=', since)
        .groupBy('minute')
        .execute();
      const completed = await db
        .selectFrom('jobs')
        .select([bucket('updated_at'), (eb) => eb.fn.countAll<number>().as('n')])
        .where('status', '=', 'completed')
        .where('updated_at', '>=', since)
        .groupBy('minute')
        .execute();
      const perMinute = Array.from({ length: STATS_WINDOW_MINUTES }, (_, i) => ({
        start: since + i * 60_000,
        submitted: 0,
        completed: 0,
      }));
      for (const row of submitted) {
        const b = perMinute[Math.min(row.minute, STATS_WINDOW_MINUTES - 1)];
        if (b) b.submitted += Number(row.n);
      }
      for (const row of completed) {
        const b = perMinute[Math.min(row.minute, STATS_WINDOW_MINUTES - 1)];
        if (b) b.completed += Number(row.n);
      }

      const jobs = await db
        .selectFrom('jobs')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      const tasks = await db
        .selectFrom('tasks')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      const assignments = await db
        .selectFrom('assignments')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();

      const verification = await verificationTotals(db);

      const last = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('id').as('id'))
        .executeTakeFirst();

      return {
        generatedAt: now,
        // The explorer opens /v1/events?after=lastEventId, so it streams news, not all history.
        lastEventId: Number(last?.id ?? 0),
        providers: { known: providers.length, online, classes },
        capacity: {
          ...capacity,
          utilization: capacity.slots > 0 ? capacity.active / capacity.slots : null,
          gpuModels: [...gpuModels.values()].sort(
            (a, b) => b.count - a.count || a.model.localeCompare(b.model),
          ),
        },
        regions: [...regions.values()].sort(
          (a, b) => b.online - a.online || a.region.localeCompare(b.region),
        ),
        jobsPerMinute: perMinute,
        jobs: countBy(jobs, ['queued', 'running', 'completed', 'failed'] as const),
        tasks: countBy(tasks, ['queued', 'assigned', 'completed', 'failed', 'cancelled'] as const),
        assignments: countBy(assignments, ['leased', 'completed', 'failed', 'expired'] as const),
        verification,
      };
    });

    r.get(
      '/v1/providers/:address/history',
      {
        schema: {
          summary: "A provider's recent assignments and session events (explorer)",
          params: z.object({ address: addressSchema }),
        },
      },
      async (req) => {
        const address = req.params.address.toLowerCase();
        const provider = await db
          .selectFrom('providers')
          .select('address')
          .where('address', '=', address)
          .executeTakeFirst();
        if (!provider) throw new PlexusError('PLX_NOT_FOUND', `no provider ${address}`);
        const assignments = await db
          .selectFrom('assignments')
          .innerJoin('tasks', 'tasks.id', 'assignments.task_id')
          .select([
            'assignments.id',
            'assignments.job_id',
            'tasks.idx',
            'assignments.status',
            'assignments.created_at',
            'assignments.finished_at',
            'assignments.error_code',
          ])
          .where('assignments.provider', '=', address)
          .orderBy('assignments.created_at', 'desc')
          .limit(HISTORY_LIMIT)
          .execute();
        // Session events carry the address in their JSON body; json_extract keeps this one query.
        const sessions = await db
          .selectFrom('events')
          .select(['id', 'type', 'data', 'created_at'])
          .where('job_id', 'is', null)
          .where('type', 'in', ['provider.connected', 'provider.disconnected'])
          .where(sql<string>`lower(json_extract(data, '$.address'))`, '=', address)
          .orderBy('id', 'desc')
          .limit(HISTORY_LIMIT)
          .execute();
        // Proven faults with their evidence and what each cost (the slash entry of the same task).
        const faults = await db
          .selectFrom('verification_faults as f')
          .leftJoin('slashes as s', (j) =>
            j.onRef('s.task_id', '=', 'f.task_id').onRef('s.provider', '=', 'f.provider'),
          )
          .select(['f.task_id', 'f.job_id', 'f.kind', 'f.evidence', 'f.created_at', 's.amount'])
          .where('f.provider', '=', address)
          .orderBy('f.id', 'desc')
          .limit(HISTORY_LIMIT)
          .execute();
        return {
          address,
          faults: faults.map((f) => {
            const evidence = parseStored(storedEvidenceSchema, f.evidence);
            return {
              taskId: f.task_id,
              jobId: f.job_id,
              kind: f.kind,
              at: f.created_at,
              slashed: f.amount,
              evidence: evidence && {
                faultyDigest: evidence.faultyDigest ?? null,
                acceptedDigest: evidence.acceptedDigest ?? null,
                agreeing: evidence.agreeing,
                digests: evidence.digests,
                reasons: evidence.reasons,
              },
            };
          }),
          assignments: assignments.map((a) => ({
            id: a.id,
            jobId: a.job_id,
            taskIndex: a.idx,
            status: a.status,
            createdAt: a.created_at,
            finishedAt: a.finished_at,
            errorCode: a.error_code,
          })),
          sessions: sessions.map((e) => {
            const data = JSON.parse(e.data) as { region?: string; slots?: number };
            return {
              type: e.type,
              at: e.created_at,
              region: data.region ?? null,
              slots: data.slots ?? null,
            };
          }),
        };
      },
    );

    r.get(
      '/v1/jobs/:id/assignments',
      {
        schema: {
          summary: "Every attempt at a job's tasks: provider, status, lease and error (explorer)",
          params: z.object({ id: hex32Schema }),
        },
      },
      async (req) => {
        const job = await db
          .selectFrom('jobs')
          .select('id')
          .where('id', '=', req.params.id)
          .executeTakeFirst();
        if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${req.params.id}`);
        const rows = await db
          .selectFrom('assignments')
          .innerJoin('tasks', 'tasks.id', 'assignments.task_id')
          .select([
            'assignments.id',
            'tasks.idx',
            'assignments.provider',
            'assignments.status',
            'assignments.created_at',
            'assignments.finished_at',
            'assignments.error_code',
            'assignments.error_message',
          ])
          .where('assignments.job_id', '=', job.id)
          .orderBy('assignments.created_at')
          .limit(10_000)
          .execute();
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
          summary: "Verification of a job's tasks: policy, audit draw, verdict and each execution (explorer)",
          params: z.object({ id: hex32Schema }),
        },
      },
      async (req) => {
        const job = await db
          .selectFrom('jobs')
          .select('id')
          .where('id', '=', req.params.id)
          .executeTakeFirst();
        if (!job) throw new PlexusError('PLX_NOT_FOUND', `no job ${req.params.id}`);
        // Through tasks (indexed by job) to the per-task rows (keyed by task).
        const rows = await db
          .selectFrom('tasks')
          .innerJoin('task_verifications as v', 'v.task_id', 'tasks.id')
          .select([
            'tasks.idx',
            'v.task_id',
            'v.policy',
            'v.audit',
            'v.status',
            'v.verdict',
            'v.log',
            'v.updated_at',
          ])
          .where('tasks.job_id', '=', job.id)
          .orderBy('tasks.idx')
          .limit(10_000)
          .execute();
        return {
          tasks: rows.map((v) => {
            const verdict = v.status === 'open' ? null : parseStored(storedVerdictSchema, v.verdict);
            const executions = verdict
              ? verdict.outcomes.map((o) => ({
                  provider: o.provider.toLowerCase(),
                  role: o.role,
                  outcome: o.outcome,
                }))
              : executionsFromLog(parseStored(storedLogSchema, v.log) ?? []);
            return {
              taskIndex: v.idx,
              taskId: v.task_id,
              policy: parseStored(verificationPolicySchema, v.policy),
              audit: v.audit === 1,
              status: v.status,
              verified: verdict?.verified ?? null,
              acceptedFrom: verdict?.acceptedFrom?.toLowerCase() ?? null,
              executions,
              faults: (verdict?.faults ?? []).map((f) => ({
                provider: f.provider.toLowerCase(),
                kind: f.evidence.kind,
                agreeing: f.evidence.agreeing.map((a) => a.toLowerCase()),
                reasons: f.evidence.reasons,
              })),
              updatedAt: v.updated_at,
            };
          }),
        };
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
          .send('The Plexus explorer is not built. Run `npm run build:web`, then restart the coordinator.\n'),
      );
    }
  };
}
