/**
 * The strategic adversary harness (issue 15): the live coordinator's own work loop, in process
 * (src/coordinator/work/workFixture.ts: the real dispatch, commit–reveal, TaskVerification,
 * verdicts, reputation, canaries, canary reviews, kinship and per-task audit pricing on an
 * in-memory SQLite store with a virtual clock), driven by scripted providers that sign every
 * commitment, result and failure as a real agent does. Nothing here models the coordinator.
 *
 * Honest providers add noise drawn from real measurements (honestNoise.json, measureNoise.ts:
 * PP-OCRv4 under different thread counts and graph optimisation levels). Strategic adversaries:
 * lazy (random outputs), one-percent cheaters, near-miss (a cheap approximation 3% off),
 * cheat-on-large-tasks, colluding rings of 3 returning one identical wrong answer, trust farmers
 * (honest until trusted-looking, then cheat), Sybil bursts (fresh identities joining together
 * mid-run that cheat), and audit-aware withdrawers (commit a guess, withdraw when asked to reveal).
 *
 * Money per execution (base units): pay R·size for each paid execution, honest cost C·size for
 * each honest computation, F slashed per proven fault (what the coordinator wrote, less any slash
 * withdrawn on review). With a stand-in market the loop prices audits per task (taskEconomics.ts).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Hex } from 'viem';
import { compareTensorSets } from '../../src/coordinator/verification/compareTensors.ts';
import { newReputation } from '../../src/coordinator/verification/reputation.ts';
import { handleFailure, sweep } from '../../src/coordinator/work/leases.ts';
import { handleCommit, handleResult } from '../../src/coordinator/work/results.ts';
import { providerConnected } from '../../src/coordinator/work/sessions.ts';
import { type ScriptedProvider, workFixture } from '../../src/coordinator/work/workFixture.ts';
import { Rng } from '../../src/protocol/rng.ts';
import { decodeSafetensors } from '../../src/protocol/safetensors.ts';
import type { CoordinatorMessage } from '../../src/protocol/schemas.ts';
import type { TensorSet } from '../../src/protocol/tensorSet.ts';
import { standInMarket } from './standInMarket.ts';
import {
  type OverheadFigures,
  type OverheadSnapshot,
  overheadBetween,
  overheadSnapshot,
  REDUNDANT_K,
} from './strategicFigures.ts';
import { act, type Kind, LARGE_TIMEOUT, type Noise, truthOf } from './strategies.ts';

export const ADVERSARIES = [
  'lazy',
  'onePercent',
  'nearMiss',
  'largeTasks',
  'ring',
  'trustFarmer',
  'sybil',
  'withdrawer',
] as const;
export type Adversary = (typeof ADVERSARIES)[number];

export type StrategicOptions = {
  /** Real tasks submitted (canaries, audits and replicas come on top). */
  tasks: number;
  /** Providers at the start (Sybils join on top, mid-run). */
  providers: number;
  /** Share of the fleet that is adversarial, split evenly over the kinds. */
  adversaryShare: number;
  /** Trusted genesis operators among the honest. */
  genesis: number;
  /** Tasks per job. */
  jobSize: number;
  /** Share of jobs submitted as redundant(3). */
  redundantShare: number;
  /** Share of jobs that are large (60 × the reference size, 600 s timeout). */
  largeShare: number;
  /**
   * Models per size class that clients reuse (0: a fresh model for every job, so every first task
   * of a job is priced at the worst case and always audited — the mix of the earlier figures).
   */
  models: number;
  seed: string;
  /**
   * Jobs submitted and run at once (0: as many as fill every provider's slots, so every provider,
   * adversaries included, takes work as on a busy network; 1: one job at a time, where the
   * scheduler's model-cache and address tie-breaks hand most work to a few early providers and
   * adversaries get little — the earlier figures' harness).
   */
  concurrentJobs: number;
  /** Only these adversary kinds (default: all); their share of the fleet is split over them. */
  kinds?: readonly Adversary[];
  onProgress?: (done: number, total: number) => void;
  /** Every this many tasks, the overhead so far and over the last stretch (0: never). */
  checkpoint?: number;
  onCheckpoint?: (
    done: number,
    sofar: OverheadFigures,
    last: OverheadFigures,
    /** Wrong outputs accepted so far and honest providers with a fault so far (a long run's trend). */
    so: { wrongAccepted: number; honestFaulted: number; revoked: number },
  ) => void;
};

export const DEFAULT_STRATEGIC: StrategicOptions = {
  tasks: 1500,
  providers: 60,
  adversaryShare: 0.2,
  genesis: 4,
  jobSize: 10,
  redundantShare: 0.2,
  largeShare: 0.2,
  models: 0,
  concurrentJobs: 0,
  seed: 'strategic',
};

type Agent = {
  kind: Kind;
  p: ScriptedProvider;
  rng: Rng;
  executions: number;
  /** Sum of the sizes of its executions (what honest work on them would have cost and paid). */
  sizeSum: number;
  honestRuns: number;
  cheats: number;
  firstFaultAt?: number;
  cursor: number;
  pending: Map<string, { a: { assignmentId: string; taskId: string }; out: TensorSet; salt: Hex }>;
};

const LARGE = 60;
const SMALL_TIMEOUT = 10;

export type StrategicResult = {
  tasks: number;
  jobs: number;
  /** Wrong outputs that stand at the end of the run (delivered and not revoked since). */
  wrongAccepted: number;
  wrongAcceptedPer10k: number;
  /** Wrong outputs delivered when their job ended (before any later revocation). */
  wrongDelivered: number;
  /** Of those, revoked later with a right replacement (recheckCaught.ts `reviewEndedOutputs`). */
  revoked: number;
  /** Reviews of a caught provider's delivered outputs still open when the run ended. */
  openReviews: number;
  /** Tasks reopened after their provider was proven faulty (run again; recheckCaught.ts). */
  reopened: number;
  honestFaulted: number;
  /** Each unreversed fault of an honest provider: who executed the task, in which role, and why. */
  honestFaultDetails: {
    provider: string;
    kind: string;
    taskId: string;
    policy: string | null;
    executors: { kind: string; role: string; trusted: boolean }[];
    evidence: unknown;
  }[];
  /** Verification compute over useful compute (strategicFigures.ts), and the other views of it. */
  overhead: number;
  overheadExecutions: number;
  overheadWithRequested: number;
  requestedReplicas: number;
  overheadBy: OverheadFigures['overheadBy'];
  /** The same over the second half of the run (records built, caught cheaters suspended). */
  steadyState: OverheadFigures;
  maxExpectedProfitPerTask: number;
  honestProfitPerTask: number;
  byAdversary: Record<
    Adversary,
    {
      providers: number;
      executions: number;
      cheats: number;
      wrongAccepted: number;
      detectionP50: number | null;
      caught: number;
      /** Profit per execution: pay − slashes − honest cost of the work it really did. */
      expectedProfitPerTask: number;
      /** The same, less what honest work on the same executions would have earned: > 0 means cheating paid. */
      gainOverHonestPerTask: number;
    }
  >;
  seconds: number;
};

/**
 * Runs the harness and returns its figures.
 *
 * @example
 * const r = await runStrategic({ ...DEFAULT_STRATEGIC, tasks: 300 });
 */
export async function runStrategic(o: Partial<StrategicOptions> = {}): Promise<StrategicResult> {
  const opts = { ...DEFAULT_STRATEGIC, ...o };
  const started = performance.now();
  const noise = JSON.parse(readFileSync(new URL('./honestNoise.json', import.meta.url), 'utf8')) as Noise;
  // Each provider bonds 2,500·R: a large task's lease locks 20 × its pay (1,200·R), so a provider
  // holds at most two large leases, and one whose large cheat was slashed twice holds none.
  const f = await workFixture({
    canaries: { rate: 0.02 },
    market: standInMarket,
    verification: { stake: 2_500n * 1_000_000n },
  });
  const R = f.state.econ.reward;
  const C = f.state.econ.honestCost;
  const agents: Agent[] = [];
  const byAddress = new Map<string, Agent>();
  const rng = new Rng(opts.seed);
  const join = async (kind: Kind, ip: string) => {
    const p = await f.provider();
    await providerConnected(f.state, f.work, p.link, { ...p.hello(2), remoteAddress: ip });
    const g: Agent = {
      kind,
      p,
      rng: new Rng(`${opts.seed}:${p.address}`),
      executions: 0,
      sizeSum: 0,
      honestRuns: 0,
      cheats: 0,
      cursor: 0,
      pending: new Map(),
    };
    agents.push(g);
    byAddress.set(p.address, g);
    if (kind === 'genesis') {
      f.state.reputations.set(p.address, {
        ...newReputation(f.clock.t),
        alpha: 60,
        consecutiveValid: 50,
        verifiedValid: 50,
      });
    }
    return g;
  };
  const kinds: Adversary[] = (opts.kinds ?? ADVERSARIES).filter((k) => k !== 'sybil');
  const sybils = (opts.kinds ?? ADVERSARIES).includes('sybil');
  const nAdv = Math.round(opts.providers * opts.adversaryShare);
  const perKind = Math.max(2, Math.floor(nAdv / (kinds.length + 1)));
  /** A colluding ring has at least 3 members. */
  const countOf = (k: Adversary) => (k === 'ring' ? Math.max(3, perKind) : perKind);
  let ipn = 1;
  // Each provider on its own /24 (a ring that shares one is refused by kinship; assume it does not).
  const ip = () => `${11 + Math.floor(ipn / 250)}.${ipn % 250}.${ipn++ % 200}.7`;
  for (let i = 0; i < opts.genesis; i++) await join('genesis', ip());
  f.clock.t += 11 * 60_000; // genesis operators came first, in their own registration window
  const adversaries = kinds.reduce((n, k) => n + countOf(k), 0);
  for (let i = 0; i < opts.providers - opts.genesis - adversaries; i++) {
    await join('honest', ip());
    if (i % 4 === 3) f.clock.t += 11 * 60_000;
  }
  for (const k of kinds) {
    for (let i = 0; i < countOf(k); i++) {
      await join(k, ip());
      f.clock.t += 11 * 60_000;
    }
  }

  const truths = new Map<string, TensorSet>();
  const truthFor = (m: Extract<CoordinatorMessage, { type: 'assign' }>) => {
    const key = `${m.model}|${m.input}`;
    let t = truths.get(key);
    if (!t) {
      t = truthOf(m.model, m.input);
      truths.set(key, t);
    }
    return t;
  };
  const sizeOfTimeout = new Map<string, number>();

  /** Delivers every message the loop sent since last time; true if anything happened. */
  const pump = async (): Promise<boolean> => {
    let any = false;
    for (const g of agents) {
      while (g.cursor < g.p.sent.length) {
        const m = g.p.sent[g.cursor++]!;
        any = true;
        try {
          if (m.type === 'assign') {
            sizeOfTimeout.set(m.assignmentId, m.timeoutMs >= LARGE_TIMEOUT * 1000 ? LARGE : 1);
            const { out, cheat, withdraw } = act(g, truthFor(m), m, noise);
            g.executions++;
            g.sizeSum += sizeOfTimeout.get(m.assignmentId)!;
            if (cheat) g.cheats++;
            else g.honestRuns += sizeOfTimeout.get(m.assignmentId)!;
            const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
            g.pending.set(m.assignmentId, { a: m, out, salt });
            if (withdraw) (g.pending.get(m.assignmentId) as { withdraw?: boolean }).withdraw = true;
            await handleCommit(f.state, f.work, g.p.address, await g.p.commit(m, out, salt));
          } else if (m.type === 'reveal') {
            const w = g.pending.get(m.assignmentId);
            if (!w) continue;
            g.pending.delete(m.assignmentId);
            if ((w as { withdraw?: boolean }).withdraw) {
              await handleFailure(f.state, f.work, g.p.address, await g.p.failure(w.a));
            } else {
              // Usage as measured for the task's size (one reference unit: a cpu-core-second);
              // cheaters report the same, to be paid in full.
              const units = sizeOfTimeout.get(w.a.assignmentId) ?? 1;
              const cpuMs = units * 1000 + g.rng.int(50);
              await handleResult(
                f.state,
                f.work,
                g.p.address,
                await g.p.result(
                  w.a,
                  w.out,
                  { salt: w.salt },
                  { wallMs: cpuMs, cpuMs, peakRssBytes: 1 << 20 },
                ),
              );
            }
          } else if (m.type === 'cancel') {
            g.pending.delete(m.assignmentId);
          }
        } catch {
          // Refusals (stale leases and the like) are part of the game.
        }
      }
    }
    await f.idle();
    return any;
  };

  const jobs: { jobId: string; taskIds: string[]; size: number }[] = [];
  const sizeOfJob = new Map<string, number>();
  const snapshot = () =>
    overheadSnapshot(f.db, sizeOfJob, {
      executions: agents.reduce((a, g) => a + g.executions, 0),
      executedUnits: agents.reduce((a, g) => a + g.sizeSum, 0),
    });
  let half: OverheadSnapshot | undefined;
  let lastCheck: OverheadSnapshot | undefined;
  const jobsTotal = Math.ceil(opts.tasks / opts.jobSize);
  let wrongAccepted = 0;
  const wrongBy = new Map<Adversary, number>();
  const wrongTasks: { taskId: string; model: string; input: string; kind?: Adversary }[] = [];
  const sybilAt = Math.floor(jobsTotal / 3);
  const modelsOf = (size: string) =>
    Array.from({ length: opts.models }, (_, i) => f.put(new TextEncoder().encode(`${size} model ${i}`)));
  const smallModels = modelsOf('small');
  const largeModels = modelsOf('large');
  // Jobs per batch: enough tasks to fill every provider's two slots (see `concurrentJobs`).
  const batch =
    opts.concurrentJobs > 0
      ? opts.concurrentJobs
      : Math.max(1, Math.ceil((2 * opts.providers) / opts.jobSize));
  let sybilsJoined = false;
  for (let j0 = 0; j0 < jobsTotal; j0 += batch) {
    const inBatch: { jobId: string; taskIds: string[]; large: boolean }[] = [];
    for (let j = j0; j < Math.min(jobsTotal, j0 + batch); j++) {
      if (j >= sybilAt && sybils && !sybilsJoined) {
        // A Sybil burst: fresh identities, one registration window, joining at once.
        sybilsJoined = true;
        for (let i = 0; i < perKind * 2; i++) await join('sybil', ip());
      }
      const large = rng.next() < opts.largeShare;
      const redundant = rng.next() < opts.redundantShare;
      const job = await f.submitJob({
        // With --models N clients run N models per size class again and again (the loop estimates
        // a new job's size from its model's verified tasks); else a fresh model per job.
        ...(opts.models > 0 ? { model: (large ? largeModels : smallModels)[rng.int(opts.models)]! } : {}),
        tasks: opts.jobSize,
        taskTimeoutSec: large ? LARGE_TIMEOUT : SMALL_TIMEOUT,
        deadlineSec: 7 * 24 * 3600,
        maxAttempts: 10,
        verification: redundant ? { policy: 'redundant', k: REDUNDANT_K } : { policy: 'audit' },
      });
      jobs.push({ ...job, size: large ? LARGE : 1 });
      sizeOfJob.set(job.jobId, large ? LARGE : 1);
      inBatch.push({ ...job, large });
    }
    await f.work.dispatch();
    const anyLarge = inBatch.some((b) => b.large);
    for (let idle = 0; idle < 50; ) {
      let open = false;
      for (const b of inBatch) {
        const status = (await f.job(b.jobId)).status;
        if (status !== 'completed' && status !== 'failed') open = true;
      }
      if (!open) break;
      if (await pump()) {
        idle = 0;
        continue;
      }
      idle++;
      // Nothing moved: let leases run out (a withdrawn or stuck execution) and dispatch again.
      f.clock.t += (anyLarge ? LARGE_TIMEOUT : SMALL_TIMEOUT) * 1000 + 1000;
      await sweep(f.state, f.work);
      await f.work.dispatch();
      await f.idle();
    }
    for (const job of inBatch) {
      // Outcomes of this job's tasks: a completed task whose output is not the truth is wrong.
      const spec = JSON.parse((await f.job(job.jobId)).spec) as { model: string };
      for (const id of job.taskIds) {
        const t = await f.task(id);
        if (t.status !== 'completed' || !t.output_cid) continue;
        const out = decodeSafetensors(await f.work.blobs.read(t.output_cid));
        if (!compareTensorSets(out, truthOf(spec.model, t.input_cid)).ok) {
          wrongAccepted++;
          const g = byAddress.get(t.provider ?? '');
          const kind = g && g.kind !== 'honest' && g.kind !== 'genesis' ? g.kind : undefined;
          if (kind) wrongBy.set(kind, (wrongBy.get(kind) ?? 0) + 1);
          wrongTasks.push({ taskId: id, model: spec.model, input: t.input_cid, ...(kind ? { kind } : {}) });
        }
      }
    }
    // First fault of each agent, in its own executions.
    const faulted = await f.db.selectFrom('verification_faults').select('provider').distinct().execute();
    for (const { provider } of faulted) {
      const g = byAddress.get(provider);
      if (g && g.firstFaultAt === undefined) g.firstFaultAt = g.executions;
    }
    const doneJobs = Math.min(jobsTotal, j0 + batch);
    opts.onProgress?.(Math.min(opts.tasks, doneJobs * opts.jobSize), opts.tasks);
    if (half === undefined && doneJobs >= Math.floor(jobsTotal / 2)) half = await snapshot();
    const every = opts.checkpoint ? Math.max(1, Math.round(opts.checkpoint / opts.jobSize)) : 0;
    if (every && Math.floor(doneJobs / every) > Math.floor(j0 / every) && doneJobs < jobsTotal) {
      const now = await snapshot();
      // Honest providers with a fault so far (reversals not subtracted: an upper bound).
      const honestFaultedNow = (
        await f.db.selectFrom('verification_faults').select('provider').distinct().execute()
      ).filter((r) => {
        const k = byAddress.get(r.provider)?.kind;
        return k === 'honest' || k === 'genesis';
      }).length;
      // Of the wrong outputs delivered so far, those revoked since (two trusted checks).
      const ids = wrongTasks.map((w) => w.taskId);
      const revokedNow = ids.length
        ? (
            await f.db
              .selectFrom('output_revocations')
              .select('task_id')
              .where('task_id', 'in', ids)
              .execute()
          ).length
        : 0;
      opts.onCheckpoint?.(doneJobs * opts.jobSize, overheadBetween(now), overheadBetween(now, lastCheck), {
        wrongAccepted,
        honestFaulted: honestFaultedNow,
        revoked: revokedNow,
      });
      lastCheck = now;
    }
  }

  // Money, per agent: paid executions (valid or unverified outcomes) at R·size, slashes, honest cost.
  const paid = new Map<string, bigint>();
  const verdicts = await f.db
    .selectFrom('task_verifications')
    .select(['verdict', 'job_id'])
    .where('verdict', 'is not', null)
    .execute();
  for (const v of verdicts) {
    const verdict = JSON.parse(v.verdict!) as { outcomes: { provider: string; outcome: string }[] };
    const size = BigInt(sizeOfJob.get(v.job_id) ?? 1);
    for (const o of verdict.outcomes) {
      if (o.outcome === 'valid' || o.outcome === 'unverified') {
        paid.set(o.provider.toLowerCase(), (paid.get(o.provider.toLowerCase()) ?? 0n) + R * size);
      }
    }
  }
  const slashed = new Map<string, bigint>();
  const withdrawn = new Set(
    (await f.db.selectFrom('fault_reversals').select('slash_id').where('withdrawn', '=', 1).execute()).map(
      (r) => r.slash_id,
    ),
  );
  for (const s of await f.db.selectFrom('slashes').select(['id', 'provider', 'amount']).execute()) {
    if (withdrawn.has(s.id)) continue;
    slashed.set(s.provider, (slashed.get(s.provider) ?? 0n) + BigInt(s.amount));
  }
  const profitOf = (g: Agent) =>
    (paid.get(g.p.address) ?? 0n) - (slashed.get(g.p.address) ?? 0n) - C * BigInt(g.honestRuns);
  const perTask = (gs: Agent[]) => {
    const ex = gs.reduce((a, g) => a + g.executions, 0);
    return ex === 0 ? 0 : Number(gs.reduce((a, g) => a + profitOf(g), 0n)) / ex;
  }; /** Profit per execution beyond what honest work on the same executions would have earned. */
  const gainPerTask = (gs: Agent[]) => {
    const ex = gs.reduce((a, g) => a + g.executions, 0);
    const honestWould = gs.reduce((a, g) => a + (R - C) * BigInt(g.sizeSum), 0n);
    return ex === 0 ? 0 : Number(gs.reduce((a, g) => a + profitOf(g), 0n) - honestWould) / ex;
  };

  const honestAgents = agents.filter((g) => g.kind === 'honest' || g.kind === 'genesis');
  const reversed = new Set(
    (await f.db.selectFrom('fault_reversals').select(['provider', 'task_id']).execute()).map(
      (r) => `${r.provider}|${r.task_id}`,
    ),
  );
  const faults = await f.db
    .selectFrom('verification_faults')
    .select(['provider', 'task_id', 'job_id', 'kind', 'evidence', 'created_at'])
    .execute();
  // Every fault of an honest provider not reversed on review, with what decided it: the smoke
  // test prints these when it fails, so a rare interleaving leaves its evidence behind.
  const honestFaultDetails: StrategicResult['honestFaultDetails'] = [];
  for (const x of faults) {
    const k = byAddress.get(x.provider)?.kind;
    if ((k !== 'honest' && k !== 'genesis') || reversed.has(`${x.provider}|${x.task_id}`)) continue;
    const tv = await f.db
      .selectFrom('task_verifications')
      .select(['policy', 'audit', 'log'])
      .where('task_id', '=', x.task_id)
      .executeTakeFirst();
    const log = tv
      ? (JSON.parse(tv.log) as { type: string; provider?: string; role?: string; trusted?: boolean }[])
      : [];
    honestFaultDetails.push({
      provider: x.provider,
      kind: x.kind,
      taskId: x.task_id,
      policy: tv?.policy ?? null,
      executors: log
        .filter((e) => e.type === 'assign')
        .map((e) => ({
          kind: byAddress.get(e.provider ?? '')?.kind ?? 'unknown',
          role: e.role ?? '',
          trusted: e.trusted === true,
        })),
      evidence: JSON.parse(x.evidence) as unknown,
    });
  }
  const honestFaulted = new Set(
    faults
      .filter((x) => !reversed.has(`${x.provider}|${x.task_id}`))
      .map((x) => x.provider)
      .filter((p) => {
        const k = byAddress.get(p)?.kind;
        return k === 'honest' || k === 'genesis';
      }),
  ).size;
  // Delivered wrong outputs revoked since with a right replacement no longer stand (both counted).
  const wrongDelivered = wrongAccepted;
  let revoked = 0;
  for (const w of wrongTasks) {
    const r = await f.db
      .selectFrom('output_revocations')
      .select('replacement_cid')
      .where('task_id', '=', w.taskId)
      .executeTakeFirst();
    if (!r) continue;
    const out = decodeSafetensors(await f.work.blobs.read(r.replacement_cid));
    if (!compareTensorSets(out, truthOf(w.model, w.input)).ok) continue;
    revoked++;
    wrongAccepted--;
    if (w.kind) wrongBy.set(w.kind, (wrongBy.get(w.kind) ?? 1) - 1);
  }
  const open = f.db.selectFrom('canary_reviews').select('id').where('status', '=', 'open');
  const openReviews = (await open.execute()).length;
  const end = await snapshot();
  const whole = overheadBetween(end);
  const byAdversary = {} as StrategicResult['byAdversary'];
  for (const k of ADVERSARIES) {
    const gs = agents.filter((g) => g.kind === k);
    const caught = gs
      .filter((g) => g.firstFaultAt !== undefined)
      .map((g) => g.firstFaultAt!)
      .sort((a, b) => a - b);
    byAdversary[k] = {
      providers: gs.length,
      executions: gs.reduce((a, g) => a + g.executions, 0),
      cheats: gs.reduce((a, g) => a + g.cheats, 0),
      wrongAccepted: wrongBy.get(k) ?? 0,
      caught: caught.length,
      detectionP50: caught.length === 0 ? null : caught[Math.floor((caught.length - 1) / 2)]!,
      expectedProfitPerTask: Math.round(perTask(gs)),
      gainOverHonestPerTask: Math.round(gainPerTask(gs)),
    };
  }
  const tasks = jobs.length * opts.jobSize;
  const reopened = (
    await f.db.selectFrom('events').select('id').where('type', '=', 'task.reopened').execute()
  ).length;
  await f.close();
  return {
    tasks,
    jobs: jobs.length,
    wrongAccepted,
    wrongAcceptedPer10k: (wrongAccepted / tasks) * 10_000,
    wrongDelivered,
    revoked,
    openReviews,
    reopened,
    honestFaulted,
    honestFaultDetails,
    overhead: whole.overhead,
    overheadExecutions: whole.overheadExecutions,
    overheadWithRequested: whole.overheadWithRequested,
    requestedReplicas: whole.requestedReplicas,
    overheadBy: whole.overheadBy,
    steadyState: half ? overheadBetween(end, half) : whole,
    // The strategies' gain over honesty: > 0 would mean a strategy pays better than honest work.
    maxExpectedProfitPerTask: Math.max(...ADVERSARIES.map((k) => byAdversary[k].gainOverHonestPerTask)),
    honestProfitPerTask: Math.round(perTask(honestAgents)),
    byAdversary,
    seconds: (performance.now() - started) / 1000,
  };
}
