/**
 * Pure shaping for the explorer routes (explorerRoutes.ts): stored rows in, wire views
 * (src/protocol/http/explorer.ts) out. No store access here, so each piece reads on its own and
 * the route handlers stay a list of reads and one call each.
 */
import { z } from 'zod';
import type {
  FaultView,
  ProviderHistory,
  Stats,
  TaskVerificationView,
  VerificationStatus,
} from '../../protocol/http/explorer.ts';
import type { listProviderAssignments } from '../jobs/jobQueries.ts';
import type { ProvidersTable } from '../store/schema.ts';
import { verificationPolicySchema } from '../verification/policy.ts';
import { publicFaultKind } from '../verification/slashing.ts';
import type {
  listJobTaskVerifications,
  listProviderFaults,
  verificationCounts,
} from '../verification/verificationQueries.ts';

type HardwareJson = {
  cpuModel?: string;
  cpuCores?: number;
  memoryBytes?: number;
  gpus?: { name?: string; memoryMiB?: number }[];
};
type Rows<F extends (...args: never[]) => Promise<unknown[]>> = Awaited<ReturnType<F>>;

/** Task verification statuses as the store records them (task_verifications.status). */
const VERIFICATION_STATUSES = ['open', 'accepted', 'rejected', 'disputed'] as const;
/**
 * Proven fault kinds as the public sees them (FaultKind in verification/slashing.ts): a canary's
 * fault counts as `outvoted` (publicFaultKind), as a real audit's does.
 */
const FAULT_KINDS = ['outvoted', 'bad-reveal', 'capability', 'malformed'] as const;

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
 * Counts of a status column as `{ status: n }`, every known status present (zero when absent).
 *
 * @example countBy([{ status: 'queued', n: 2 }], ['queued', 'running'] as const) // { queued: 2, running: 0 }
 */
export function countBy<S extends string>(rows: { status: S; n: number | bigint }[], all: readonly S[]) {
  const out = Object.fromEntries(all.map((s) => [s, 0])) as Record<S, number>;
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

/**
 * Verification outcomes over every task that has a verification record: verdicts, how many were
 * verified by a second opinion, audits drawn, policies, proven faults and the total slashed. Slash
 * amounts are summed as bigints (18-decimal base units, far past what a double holds).
 *
 * @example const verification = verificationTotals(await verificationCounts(db));
 */
export function verificationTotals(
  counts: Awaited<ReturnType<typeof verificationCounts>>,
): Stats['verification'] {
  const tasks = countBy<VerificationStatus>([], VERIFICATION_STATUSES);
  const policies: Record<string, number> = { none: 0, audit: 0, redundant: 0 };
  let verified = 0;
  let audited = 0;
  for (const r of counts.verifications) {
    const n = Number(r.n);
    if (r.status in tasks) tasks[r.status] += n;
    policies[r.policy] = (policies[r.policy] ?? 0) + n;
    // Only decided tasks: an open task's audit draw is secret until its verdict (a primary that
    // watched this count move right after its commitment would know it was audited).
    if (r.audit === 1 && r.status !== 'open') audited += n;
    if (r.status === 'accepted' && Number(r.verified) === 1) verified += n;
  }
  const byKind: Record<string, number> = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0]));
  let faults = 0;
  for (const r of counts.faults) {
    const kind = publicFaultKind(r.kind);
    byKind[kind] = (byKind[kind] ?? 0) + Number(r.n);
    faults += Number(r.n);
  }
  let slashed = 0n;
  for (const r of counts.slashes) if (/^[0-9]+$/.test(r.amount)) slashed += BigInt(r.amount) * BigInt(r.n);
  return {
    tasks,
    verified,
    unverified: tasks.accepted - verified,
    audited,
    policies,
    faults: { total: faults, byKind },
    slashed: slashed.toString(),
  };
}

/** Whether a provider's stored capability view (JSON, or null) says its GPU is proven. */
function gpuProven(capability: string | null | undefined): boolean {
  if (!capability) return false;
  try {
    return (JSON.parse(capability) as { gpuTrusted?: unknown }).gpuTrusted === true;
  } catch {
    return false;
  }
}

/**
 * The provider side of `/v1/stats`: providers known and online, their classes, capacity online
 * (with `active` from the scheduler), GPU models and regions, sorted as the overview shows them.
 * Only GPUs proven by a capability proof count.
 *
 * @example const { providers, capacity, regions } = providerAggregates(rows, loop.activeOf);
 */
export function providerAggregates(
  rows: readonly (Pick<ProvidersTable, 'address' | 'region' | 'connected' | 'slots' | 'hardware'> & {
    capability?: string | null;
  })[],
  activeOf: (address: string) => number,
): Pick<Stats, 'providers' | 'capacity' | 'regions'> {
  const gpuModels = new Map<string, { model: string; count: number; memoryMiB: number }>();
  const regions = new Map<string, Stats['regions'][number]>();
  const capacity = { cpuCores: 0, memoryBytes: 0, gpus: 0, slots: 0, active: 0 };
  const classes = { cpu: 0, gpu: 0 };
  let online = 0;
  for (const p of rows) {
    const hw = JSON.parse(p.hardware) as HardwareJson;
    // A GPU counts once a capability proof showed GPU speed (gpuTrusted): a claim alone is a
    // line of JSON anyone can send (issue 16). Unproven GPUs are neither capacity nor a class.
    const gpus = gpuProven(p.capability) ? (hw.gpus ?? []) : [];
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
  return {
    providers: { known: rows.length, online, classes },
    capacity: {
      ...capacity,
      utilization: capacity.slots > 0 ? capacity.active / capacity.slots : null,
      gpuModels: [...gpuModels.values()].sort((a, b) => b.count - a.count || a.model.localeCompare(b.model)),
    },
    regions: [...regions.values()].sort((a, b) => b.online - a.online || a.region.localeCompare(b.region)),
  };
}

/**
 * `minutes` one-minute buckets from `since`, newest last, filled from grouped counts (a bucket
 * past the window, from a clock step, counts in the last one).
 *
 * @example const perMinute = minuteBuckets(since, 60, await jobsPerMinute(db, since));
 */
export function minuteBuckets(
  since: number,
  minutes: number,
  counts: {
    submitted: readonly { minute: number; n: number | bigint }[];
    completed: readonly { minute: number; n: number | bigint }[];
  },
): Stats['jobsPerMinute'] {
  const perMinute = Array.from({ length: minutes }, (_, i) => ({
    start: since + i * 60_000,
    submitted: 0,
    completed: 0,
  }));
  for (const row of counts.submitted) {
    const b = perMinute[Math.min(row.minute, minutes - 1)];
    if (b) b.submitted += Number(row.n);
  }
  for (const row of counts.completed) {
    const b = perMinute[Math.min(row.minute, minutes - 1)];
    if (b) b.completed += Number(row.n);
  }
  return perMinute;
}

/**
 * A proven fault row (with its slash amount) as the provider history shows it.
 *
 * @example const faults = rows.map(faultView);
 */
export function faultView(f: Rows<typeof listProviderFaults>[number], openSince = Infinity): FaultView {
  const evidence = parseStored(storedEvidenceSchema, f.evidence);
  // Who agreed, and every execution's digest, only once the fault's epoch ended (its evidence is
  // published at the close): an audit's fault named its auditor and a canary's nobody, which told
  // the canary (and its shadow job) apart the moment it was faulted (issue 15).
  const open = f.created_at >= openSince;
  return {
    taskId: f.task_id,
    // A canary's fault reads as a verdict's fault on its shadow job (kind `outvoted`).
    jobId: f.shadow_job_id ?? f.job_id,
    kind: publicFaultKind(f.kind),
    at: f.created_at,
    slashed: f.amount,
    evidence: evidence && {
      faultyDigest: evidence.faultyDigest ?? null,
      acceptedDigest: evidence.acceptedDigest ?? null,
      agreeing: open ? [] : evidence.agreeing,
      digests: open ? {} : evidence.digests,
      reasons: evidence.reasons,
    },
  };
}

/**
 * A provider's assignment row as the provider history shows it.
 *
 * @example const assignments = rows.map(historyAssignmentView);
 */
export function historyAssignmentView(
  a: Rows<typeof listProviderAssignments>[number],
): ProviderHistory['assignments'][number] {
  return {
    id: a.id,
    jobId: a.job_id,
    taskIndex: a.idx,
    status: a.status,
    createdAt: a.created_at,
    finishedAt: a.finished_at,
    errorCode: a.error_code,
  };
}

/**
 * A provider.connected / provider.disconnected event as the provider history shows it.
 *
 * @example const sessions = rows.map(sessionView);
 */
export function sessionView(e: {
  type: string;
  data: string;
  created_at: number;
}): ProviderHistory['sessions'][number] {
  const data = JSON.parse(e.data) as { region?: string; slots?: number };
  return { type: e.type, at: e.created_at, region: data.region ?? null, slots: data.slots ?? null };
}

/**
 * A task's verification record as the job page shows it: the verdict's executions and faults once
 * decided. While the task is open nothing about its verification shows (no audit flag, roles,
 * executions or co-executors): a primary that saw its audit drawn could withdraw before revealing,
 * and a provider that saw its co-executors could collude with them (docs/verification.md,
 * "What the public sees").
 *
 * @example const tasks = rows.map(taskVerificationView);
 */
export function taskVerificationView(v: Rows<typeof listJobTaskVerifications>[number]): TaskVerificationView {
  const verdict = v.status === 'open' ? null : parseStored(storedVerdictSchema, v.verdict);
  const executions = verdict
    ? verdict.outcomes.map((o) => ({
        provider: o.provider.toLowerCase(),
        role: o.role,
        outcome: o.outcome,
      }))
    : [];
  return {
    taskIndex: v.idx,
    taskId: v.task_id,
    policy: parseStored(verificationPolicySchema, v.policy),
    // The policy is the client's own choice (public); the draw is shown only with the verdict.
    audit: verdict !== null && v.audit === 1,
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
}
