import { randomBytes } from 'node:crypto';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import type { ErrorCode } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { computeCommitment, verifyReveal } from '../../protocol/commitment.ts';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { verifyPlexusMessage } from '../../protocol/eip712.ts';
import { cidToBytes32 } from '../../protocol/ids.ts';
import { hashUnit } from '../../protocol/rng.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type {
  CoordinatorMessage,
  HardwareClaim,
  OnnxInferSpec,
  ProviderCommit,
  ProviderFailure,
  ProviderResult,
} from '../../protocol/schemas.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Market } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import { createReputationLimitedScheduler } from '../scheduler/reputationLimitedScheduler.ts';
import type { Scheduler, TaskRequirements } from '../scheduler/types.ts';
import { type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { AdaptiveAuditPolicy, auditRate, economicAuditBound } from '../verification/auditPolicy.ts';
import { policyOfSpec, type VerificationPolicy } from '../verification/policy.ts';
import {
  concurrencyLimit,
  isTrusted,
  newReputation,
  parseReputation,
  type ReputationState,
  reputationScore,
  updateReputation,
} from '../verification/reputation.ts';
import { type FaultKind, slashAmount } from '../verification/slashing.ts';
import {
  type ExecutionRole,
  TaskVerification,
  type TaskVerificationInit,
  type Verdict,
  type VerificationEvent,
} from '../verification/taskVerification.ts';
import {
  type CapabilityProofOptions,
  type CapabilityView,
  createCapabilityProofs,
} from './capabilityProofs.ts';
import { workQueries } from './workQueries.ts';

/** What the work loop needs to reach one connected provider. */
export type ProviderLink = {
  address: Address;
  send(msg: CoordinatorMessage): boolean;
};

export type ProviderHello = {
  address: Address;
  hardware: HardwareClaim;
  slots: number;
  region: string;
  agentVersion: string;
  cached: string[];
  inFlight: string[];
  /** Floor price per resource class the agent advertised (decimal base units); absent → defaults. */
  floorPrices?: Record<string, string> | undefined;
};

export type WorkLoop = {
  providerConnected(link: ProviderLink, hello: ProviderHello): Promise<void>;
  providerDisconnected(link: ProviderLink): Promise<void>;
  /** The provider will take no new work (it is draining before shutdown). */
  providerDraining(address: Address): void;
  providerCacheChanged(address: Address, added: string[], removed: string[]): void;
  handleResult(address: Address, msg: ProviderResult): Promise<void>;
  /** Protocol v2: a provider's signed commitment to an output, before it reveals it. */
  handleCommit(address: Address, msg: ProviderCommit): Promise<void>;
  /** The session is authenticated and welcomed: the capability proof starts. */
  providerWelcomed(address: Address, hardware: HardwareClaim): Promise<void>;
  /** Capability proof: the answer's digest (stops the clock), then the uploaded answer. */
  handleCapabilityDigest(address: Address, msg: { challengeId: string; digest: string }): void;
  handleCapabilityAnswer(address: Address, msg: { challengeId: string; productCid: string }): Promise<void>;
  handleFailure(address: Address, msg: ProviderFailure): Promise<void>;
  /** Assigns queued tasks to free providers. Safe to call often: runs are coalesced. */
  dispatch(): Promise<void>;
  /** Expires leases and fails jobs past their deadline. */
  sweep(): Promise<void>;
  connectedProviders(): number;
  activeOf(address: string): number;
  /**
   * A provider's reputation (from its stored JSON, or fresh) and the audit rate its next result
   * would be audited at, for GET /v1/providers.
   */
  verificationView(
    address: string,
    stored: string | null,
    storedCapability?: string | null,
  ): {
    reputation: ReputationState & { score: number; trusted: boolean };
    auditRate: number;
    capability: CapabilityView | null;
  };
  /** Stops timers (coordinator shutdown). */
  close(): void;
};

/**
 * Canaries in live work: the share of a provider's assignments that get a known-answer task
 * alongside (default 0.02), how often one canary is issued before it retires (default 50), and the
 * largest pool kept (default 1000).
 *
 * @example
 * createWorkLoop({ ...deps, canaries: { rate: 0.05 } });
 */
export type CanaryOptions = { rate?: number; maxIssues?: number; poolSize?: number };

/**
 * Task economics the audit bound and slash entries are priced with, in integer base units, and
 * the coordinator's secret audit seed. Until settlement prices tasks individually, every task
 * uses these figures (see docs/verification.md).
 *
 * @example
 * createWorkLoop({ ...deps, verification: { seed: 'secret', reward: 10n ** 6n, honestCost: 5n * 10n ** 5n, stake: 2n * 10n ** 7n } });
 */
export type VerificationEconomics = {
  /** Secret seed of the audit draws: providers cannot predict which results are audited. */
  seed: string;
  /** Reward R paid for one task. */
  reward: bigint;
  /** Estimated cost C of running one task honestly. */
  honestCost: bigint;
  /** Stake each provider is assumed to have bonded (slashable up to min(stake, 20·R)). */
  stake: bigint;
};

/**
 * Defaults of {@link VerificationEconomics} (a fresh random seed per coordinator process).
 *
 * @example
 * const econ = { ...defaultVerificationEconomics(), reward: 2_000_000n };
 */
export function defaultVerificationEconomics(): VerificationEconomics {
  return {
    seed: randomBytes(32).toString('hex'),
    reward: 1_000_000n,
    honestCost: 500_000n,
    stake: 20_000_000n,
  };
}

/** A verdict as JSON (bigints as decimal strings). */
function verdictJson(v: Verdict): string {
  return JSON.stringify(v, (_k, value) => (typeof value === 'bigint' ? value.toString() : value));
}

type JobInfo = { spec: OnnxInferSpec; status: string; maxPrice: bigint | undefined; client: string };
type ExecutionRow = Selectable<Database['task_executions']>;

/** Largest output file a provider may return for one task. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
/**
 * Throws PLX_STALE_ASSIGNMENT unless `lease` (a task or canary assignment row) is leased to
 * `address` for `taskId`: a result for a lease that expired, moved or never existed is refused.
 */
function assertLeasedTo(
  lease: { provider: string; task_id: string; status: string } | undefined,
  address: string,
  assignmentId: string,
  taskId: string,
): asserts lease is NonNullable<typeof lease> {
  if (
    !lease ||
    lease.provider.toLowerCase() !== address.toLowerCase() ||
    lease.task_id !== taskId ||
    lease.status !== 'leased'
  ) {
    throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${assignmentId} is not leased to ${address}`);
  }
}

/** Queued tasks read per page while dispatching (the first page of a run: FIRST_DISPATCH_PAGE). */
const DISPATCH_PAGE = 256;
const FIRST_DISPATCH_PAGE = 16;

/**
 * The coordinator's work loop: it turns queued tasks into leased assignments on connected
 * providers, takes signed results and failures back, retries failed or expired work elsewhere,
 * and fails jobs that run out of attempts or time. Every state change is one transaction, and
 * state lives in the store, so a restarted coordinator resumes exactly where it was.
 *
 * @example
 * const loop = createWorkLoop({ db, blobs, events, scheduler, chainId: 31337, log, metrics });
 * await loop.dispatch();
 */
export function createWorkLoop(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  scheduler: Scheduler;
  chainId: number;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
  verification?: VerificationEconomics;
  /** Billing, floors and sessions (src/market); absent in unit tests that exercise the loop alone. */
  market?: Market;
  capability?: CapabilityProofOptions;
  canaries?: CanaryOptions;
  /** The store's raw connection: per-task queries run as templates on it (store/queryTemplate.ts). */
  raw?: RawConnection;
}): WorkLoop {
  const { db, events, log, metrics } = deps;
  const q = workQueries(db);
  const stmt = templateRunner(deps.raw);
  const now = deps.now ?? Date.now;
  const econ = deps.verification ?? defaultVerificationEconomics();
  const slashable = slashAmount({ reward: econ.reward, stake: econ.stake });
  /** Reputation of providers seen by this process (loaded on connect, updated by verdicts). */
  const reputations = new Map<string, ReputationState>();
  const reputationOf = (address: string): ReputationState =>
    reputations.get(address.toLowerCase()) ?? newReputation(now());
  const audits = new AdaptiveAuditPolicy({ seed: econ.seed, reputationOf });
  // New and doubtful providers get fewer concurrent leases (docs/verification.md, "Reputation").
  const scheduler = createReputationLimitedScheduler(deps.scheduler, (a) =>
    concurrencyLimit(reputationOf(a)),
  );
  /** Open verifications (tasks without a verdict), rebuilt from the store on demand. */
  const verifications = new Map<string, TaskVerification>();
  /** Decoded outputs of open verifications, per task, by output digest. */
  const outputsOf = new Map<string, Map<string, TensorSet>>();
  const links = new Map<string, ProviderLink>();
  const draining = new Set<string>();
  const jobCache = new Map<string, JobInfo>();
  let dispatching: Promise<void> | undefined;
  let again = false;
  const canaryRate = deps.canaries?.rate ?? 0.02;
  const canaryMaxIssues = deps.canaries?.maxIssues ?? 50;
  const canaryPoolSize = deps.canaries?.poolSize ?? 1000;
  const proofs = createCapabilityProofs({
    db,
    blobs: deps.blobs,
    log,
    now,
    send: (address, msg) => send(address, msg),
    onFault: (trx, f) =>
      recordFault(trx, {
        provider: f.provider,
        taskId: f.taskId,
        jobId: null,
        kind: 'capability',
        evidence: f.evidence,
      }),
    ...(deps.capability ? { options: deps.capability } : {}),
  });

  /**
   * A job's spec and status, cached. Inside a transaction pass `trx`: SQLite has one connection,
   * and a query on `db` would wait forever for the transaction that is waiting for it.
   */
  async function jobInfo(
    jobId: string,
    executor: Kysely<Database> | Transaction<Database> = db,
  ): Promise<JobInfo | undefined> {
    const cached = jobCache.get(jobId);
    if (cached) return cached;
    const row = await executor
      .selectFrom('jobs')
      .select(['spec', 'status', 'max_price', 'client'])
      .where('id', '=', jobId)
      .executeTakeFirst();
    if (!row) return undefined;
    const info = {
      spec: JSON.parse(row.spec) as OnnxInferSpec,
      status: row.status,
      maxPrice: row.max_price ? BigInt(row.max_price) : undefined,
      client: row.client,
    };
    jobCache.set(jobId, info);
    return info;
  }

  function send(address: string, msg: CoordinatorMessage): boolean {
    return links.get(address)?.send(msg) ?? false;
  }

  function initFor(taskId: string, policy: VerificationPolicy, audit: boolean): TaskVerificationInit {
    return { taskId, policy, audit, reward: econ.reward, stakeOf: () => econ.stake };
  }

  /**
   * The open verification of a task: from memory, or rebuilt from its stored event log and the
   * stored outputs (after a restart). Undefined when the task has none yet (audit and none
   * policies create it when the first result arrives) or it already has a verdict.
   */
  async function loadVerification(
    taskId: string,
    executor: Kysely<Database> | Transaction<Database> = db,
  ): Promise<TaskVerification | undefined> {
    const cached = verifications.get(taskId);
    if (cached) return cached;
    const row = await stmt.first(executor, q.openVerification, { taskId });
    if (!row) return undefined;
    const execs = await executor
      .selectFrom('task_executions')
      .select(['output_cid', 'output_digest'])
      .where('task_id', '=', taskId)
      .execute();
    const outputs = new Map<string, TensorSet>();
    for (const e of execs) {
      outputs.set(e.output_digest, decodeSafetensors(await deps.blobs.read(e.output_cid)));
    }
    const tv = TaskVerification.restore(
      initFor(taskId, JSON.parse(row.policy) as VerificationPolicy, row.audit === 1),
      JSON.parse(row.log) as VerificationEvent[],
      (digest) => outputs.get(digest),
    );
    verifications.set(taskId, tv);
    outputsOf.set(taskId, outputs);
    return tv;
  }

  /** Writes a verification's log (and, when new, its row) in the caller's transaction. */
  async function saveVerification(
    trx: Transaction<Database>,
    tv: TaskVerification,
    jobId: string,
    policy: VerificationPolicy,
    audit: boolean,
  ): Promise<void> {
    await stmt.run(trx, q.saveVerification, {
      taskId: tv.taskId,
      jobId,
      policy: JSON.stringify(policy),
      audit: audit ? 1 : 0,
      log: JSON.stringify(tv.log()),
      at: now(),
    });
  }

  /** Applies one verified outcome to a provider's stored reputation. */
  async function recordOutcome(
    trx: Transaction<Database>,
    provider: string,
    outcome: 'valid' | 'fault' | 'timeout',
  ): Promise<void> {
    const address = provider.toLowerCase();
    let rep = reputations.get(address);
    if (!rep) {
      const row = await trx
        .selectFrom('providers')
        .select('reputation')
        .where('address', '=', address)
        .executeTakeFirst();
      rep = row?.reputation ? parseReputation(JSON.parse(row.reputation)) : newReputation(now());
    }
    const next = updateReputation(rep, outcome, now());
    reputations.set(address, next);
    scheduler.refresh(address);
    await stmt.run(trx, q.setReputation, { address, reputation: JSON.stringify(next) });
  }

  /**
   * Records a proven fault outside a job's verdict (a wrong capability proof, a failed canary):
   * the fault with its evidence, a slash entry, the reputation change and a `provider.faulted` event.
   */
  async function recordFault(
    trx: Transaction<Database>,
    f: { provider: string; taskId: string; jobId: string | null; kind: FaultKind; evidence: unknown },
  ): Promise<void> {
    const t = now();
    const provider = f.provider.toLowerCase();
    await trx
      .insertInto('verification_faults')
      .values({
        task_id: f.taskId,
        job_id: f.jobId ?? '',
        provider,
        kind: f.kind,
        evidence: JSON.stringify(f.evidence),
        created_at: t,
      })
      .execute();
    await trx
      .insertInto('slashes')
      .values({
        task_id: f.taskId,
        provider,
        amount: slashable.toString(),
        evidence: JSON.stringify(f.evidence),
        created_at: t,
      })
      .execute();
    await trx
      .updateTable('providers')
      .set((eb) => ({ tasks_failed: eb('tasks_failed', '+', 1) }))
      .where('address', '=', provider)
      .execute();
    await recordOutcome(trx, provider, 'fault');
    await events.append(trx, null, 'provider.faulted', {
      provider,
      taskId: f.taskId,
      kind: f.kind,
      slashed: slashable.toString(),
    });
  }

  /**
   * Stores a verdict and acts on it in the caller's transaction: accepted → the task completes with
   * the accepted output (and maybe the job); disputed or rejected → the task and its job fail.
   * Faults, slash entries and reputation changes are written either way.
   */
  async function settleVerdict(
    trx: Transaction<Database>,
    jobId: string,
    verdict: Verdict,
    log: readonly VerificationEvent[],
    known: {
      /** The verification row may not exist yet: insert it (with this policy and audit flag) if so. */
      row?: { policy: VerificationPolicy; audit: boolean };
      /** The task's executions as stored, oldest first (read in the caller's transaction). */
      executions?: ExecutionRow[];
      job?: JobInfo;
    } = {},
  ): Promise<{ jobDone: boolean; cancelled: { id: string; provider: string }[] }> {
    const t = now();
    const taskId = verdict.taskId;
    verifications.delete(taskId);
    outputsOf.delete(taskId);
    const set = {
      taskId,
      status: verdict.status,
      verdict: verdictJson(verdict),
      log: JSON.stringify(log),
      at: t,
    };
    if (known.row) {
      await stmt.run(trx, q.settleVerification, {
        ...set,
        jobId,
        policy: JSON.stringify(known.row.policy),
        audit: known.row.audit ? 1 : 0,
      });
    } else {
      await stmt.run(trx, q.updateVerification, set);
    }
    // Money: the paid executions of an accepted task go into the ledger in this transaction.
    await deps.market?.onVerdict(trx, jobId, verdict, {
      ...(known.job ? { job: known.job } : {}),
      ...(known.executions ? { executions: known.executions } : {}),
    });
    for (const o of verdict.outcomes) {
      if (o.outcome === 'valid' || o.outcome === 'fault' || o.outcome === 'timeout') {
        await recordOutcome(trx, o.provider, o.outcome);
      }
      // Only valid and unverified executions are paid (and counted as completed work).
      if (o.outcome === 'valid' || o.outcome === 'unverified') {
        await stmt.run(trx, q.taskCompletedBy, { address: o.provider });
      }
    }
    for (const f of verdict.faults) {
      const slash = verdict.slashes.find((x) => x.provider === f.provider);
      await trx
        .insertInto('verification_faults')
        .values({
          task_id: taskId,
          job_id: jobId,
          provider: f.provider,
          kind: f.evidence.kind,
          evidence: JSON.stringify(f.evidence),
          created_at: t,
        })
        .execute();
      await trx
        .updateTable('providers')
        .set((eb) => ({ tasks_failed: eb('tasks_failed', '+', 1) }))
        .where('address', '=', f.provider)
        .execute();
      await events.append(trx, jobId, 'provider.faulted', {
        provider: f.provider,
        taskId,
        kind: f.evidence.kind,
        faultyDigest: f.evidence.faultyDigest ?? null,
        acceptedDigest: f.evidence.acceptedDigest ?? null,
        agreeing: f.evidence.agreeing,
        slashed: (slash?.amount ?? 0n).toString(),
      });
    }
    for (const sl of verdict.slashes) {
      await trx
        .insertInto('slashes')
        .values({
          task_id: taskId,
          provider: sl.provider,
          amount: sl.amount.toString(),
          evidence: JSON.stringify(sl.evidence),
          created_at: t,
        })
        .execute();
    }
    if (verdict.status !== 'accepted' || !verdict.acceptedFrom) {
      const message =
        verdict.status === 'disputed'
          ? `no strict majority among ${verdict.executions} executions`
          : 'no execution produced an acceptable output';
      await trx
        .updateTable('tasks')
        .set({ status: 'failed', last_error: message, updated_at: t })
        .where('id', '=', taskId)
        .execute();
      if (verdict.status === 'disputed') {
        await events.append(trx, jobId, 'task.disputed', { taskId, executions: verdict.executions });
      }
      const task = await trx
        .selectFrom('tasks')
        .select('idx')
        .where('id', '=', taskId)
        .executeTakeFirstOrThrow();
      const cancelled = await failJob(
        trx,
        jobId,
        verdict.status === 'disputed' ? 'PLX_TASK_DISPUTED' : 'PLX_TASK_FAILED',
        `task ${task.idx}: ${message}`,
        { taskIndex: task.idx },
      );
      return { jobDone: false, cancelled };
    }
    const acceptedFrom = verdict.acceptedFrom;
    const accepted =
      known.executions?.findLast((e) => e.provider === acceptedFrom) ??
      (await trx
        .selectFrom('task_executions')
        .selectAll()
        .where('task_id', '=', taskId)
        .where('provider', '=', acceptedFrom)
        .orderBy('created_at', 'desc')
        .executeTakeFirstOrThrow());
    await stmt.run(trx, q.completeTask, {
      id: taskId,
      outputCid: accepted.output_cid,
      provider: accepted.provider,
      result: accepted.result,
      at: t,
    });
    const job = await stmt.first(trx, q.jobTaskDone, { id: jobId, at: t });
    if (!job) throw new Error(`job ${jobId} of task ${taskId} is not in the store`);
    if (verdict.verified) {
      await seedCanary(trx, jobId, taskId, verdict, accepted.output_cid);
      await events.append(trx, jobId, 'task.verified', {
        taskId,
        outputDigest: verdict.acceptedDigest ?? null,
        agreeing: verdict.outcomes.filter((o) => o.outcome === 'valid').map((o) => o.provider),
        executions: verdict.executions,
      });
    }
    await events.append(trx, jobId, 'task.completed', {
      taskId,
      provider: accepted.provider,
      output: accepted.output_cid,
      usage: (JSON.parse(accepted.result) as { usage: unknown }).usage,
      verified: verdict.verified,
      done: job.tasks_done,
      total: job.tasks_total,
    });
    if (job.tasks_done === job.tasks_total) {
      await trx
        .updateTable('jobs')
        .set({ status: 'completed', updated_at: t })
        .where('id', '=', jobId)
        .execute();
      await events.append(trx, jobId, 'job.completed', { tasks: job.tasks_total });
      return { jobDone: true, cancelled: [] };
    }
    return { jobDone: false, cancelled: [] };
  }

  /**
   * A task that two or more providers agreed on becomes a known-answer canary (its model, input
   * and the agreed output), unless the pool is full. Stored, so a restart keeps the pool.
   */
  async function seedCanary(
    trx: Transaction<Database>,
    jobId: string,
    taskId: string,
    verdict: Verdict,
    outputCid: string,
  ): Promise<void> {
    if (canaryRate <= 0 || verdict.acceptedDigest === undefined) return;
    if (verdict.outcomes.filter((o) => o.outcome === 'valid').length < 2) return;
    const live = Number(
      (
        await trx
          .selectFrom('canary_tasks')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('retired', '=', 0)
          .executeTakeFirstOrThrow()
      ).n,
    );
    if (live >= canaryPoolSize) return;
    const task = await trx
      .selectFrom('tasks')
      .select('input_cid')
      .where('id', '=', taskId)
      .executeTakeFirst();
    const job = await jobInfo(jobId, trx);
    if (!task || !job) return;
    await trx
      .insertInto('canary_tasks')
      .values({
        id: `canary-${randomBytes(8).toString('hex')}`,
        source_task_id: taskId,
        source_job_id: jobId,
        model: job.spec.model,
        input_cid: task.input_cid,
        gpu: job.spec.resources.gpu ? 1 : 0,
        timeout_ms: job.spec.taskTimeoutSec * 1000,
        expected_digest: verdict.acceptedDigest,
        expected_cid: outputCid,
        issued: 0,
        retired: 0,
        created_at: now(),
      })
      .onConflict((oc) => oc.column('source_task_id').doNothing())
      .execute();
  }

  /** First result (v1) or commitment (v2) of an `audit` or `none` task: draw the audit now. */
  function openVerification(
    a: { task_id: string },
    address: string,
    policy: VerificationPolicy,
  ): { tv: TaskVerification; audit: boolean } {
    const audit =
      policy.kind === 'audit' &&
      audits.shouldAudit(address as Hex, {
        taskId: a.task_id,
        reward: econ.reward,
        honestCost: econ.honestCost,
        slashable,
      }).audit &&
      anotherProviderOnline([address]);
    const tv = new TaskVerification(initFor(a.task_id, policy, audit));
    tv.assign(address as Hex, 'primary');
    verifications.set(a.task_id, tv);
    return { tv, audit };
  }

  function mayReveal(tv: TaskVerification, provider: string): boolean {
    try {
      return tv.canReveal(provider as Hex);
    } catch {
      return false; // no live execution (abandoned): nothing to reveal
    }
  }

  /** Whether this assignment already committed; a different second commitment is refused. */
  async function priorCommitment(trx: Transaction<Database>, msg: ProviderCommit): Promise<boolean> {
    const prior = await stmt.first(trx, q.commitmentOf, { assignmentId: msg.assignmentId });
    if (prior && prior.commitment !== msg.commitment) {
      throw new PlexusError(
        'PLX_VERIFICATION_DUPLICATE',
        'this execution already committed to another output',
      );
    }
    return prior !== undefined; // the same commitment again (after a reconnect): answered idempotently
  }

  /**
   * Signed commitments of a task whose round's commit phase is over and whose output has not been
   * revealed yet: their providers are told to reveal now.
   */
  async function releasableReveals(
    trx: Transaction<Database>,
    taskId: string,
    tv: TaskVerification,
  ): Promise<{ assignment_id: string; provider: string }[]> {
    if (tv.verdict()) return [];
    // Commitments of the task without an execution (a revealed output) yet, in one query.
    const commits = await stmt.all(trx, q.unrevealedCommitments, { taskId });
    return commits.filter((c) => mayReveal(tv, c.provider));
  }

  /**
   * A canary's result: compared with the known answer (tolerances as for any float output). A
   * match is a valid outcome; a miss is a fault with evidence and a slash entry. Neither touches a
   * job, the client's escrow or the provider's earnings.
   */
  async function handleCanaryResult(
    address: string,
    msg: ProviderResult,
    canary: { id: string; task_id: string; canary_id: string; provider: string; status: string },
    tensors: TensorSet,
    outputDigest: Hex,
  ): Promise<void> {
    assertLeasedTo(canary, address, msg.assignmentId, msg.taskId);
    const signed = await db
      .selectFrom('task_commitments')
      .select('commitment')
      .where('assignment_id', '=', canary.id)
      .executeTakeFirst();
    const salt = (msg.salt as Hex | undefined) ?? (`0x${randomBytes(32).toString('hex')}` as Hex);
    if (signed && msg.salt === undefined) {
      throw new PlexusError('PLX_REVEAL_MISMATCH', 'this execution committed: reveal its digest and salt');
    }
    if (msg.salt !== undefined && !signed) {
      throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'no signed commitment for this execution');
    }
    const commitment =
      (signed?.commitment as Hex | undefined) ??
      computeCommitment({ taskId: canary.task_id, provider: address as Hex, outputDigest, salt });
    if (
      !verifyReveal({
        taskId: canary.task_id,
        provider: address as Hex,
        commitment,
        reveal: { outputDigest, salt },
      })
    ) {
      throw new PlexusError('PLX_REVEAL_MISMATCH', 'the reveal does not open the signed commitment');
    }
    const known = await db
      .selectFrom('canary_tasks')
      .selectAll()
      .where('id', '=', canary.canary_id)
      .executeTakeFirstOrThrow();
    const expected = decodeSafetensors(await deps.blobs.read(known.expected_cid));
    const tv = new TaskVerification({
      ...initFor(canary.task_id, { kind: 'none' }, false),
      canary: { expectedDigest: known.expected_digest as Hex, expected },
    });
    tv.assign(address as Hex, 'primary');
    tv.commit(address as Hex, commitment);
    tv.reveal(address as Hex, { outputDigest, salt, tensors });
    const verdict = tv.verdict();
    const passed = verdict?.status === 'accepted';
    const t = now();
    await db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('canary_assignments')
        .set({ status: passed ? 'passed' : 'failed', output_cid: msg.outputCid, finished_at: t })
        .where('id', '=', canary.id)
        .where('status', '=', 'leased')
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) {
        throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} is no longer leased`);
      }
      if (passed) await recordOutcome(trx, address, 'valid');
      for (const f of verdict?.faults ?? []) {
        await recordFault(trx, {
          provider: f.provider,
          taskId: canary.task_id,
          jobId: null,
          kind: 'canary',
          evidence: f.evidence,
        });
      }
    });
    log.info({ provider: address, canary: known.id, passed }, 'canary checked');
    scheduler.release(address);
    metrics.tasksFinished.inc({ status: passed ? 'completed' : 'failed' });
    void dispatch();
  }

  /** Canary leases that ran out (or that the provider forgot): a timeout, never a fault. */
  async function expireCanaries(where: {
    provider?: string;
    keep?: Set<string>;
    before?: number;
  }): Promise<void> {
    let leased: { id: string; provider: string }[];
    if (!where.provider && where.before !== undefined) {
      // The sweep's question, every second: a template.
      leased = await stmt.all(db, q.expiredCanaries, { before: where.before });
    } else {
      let query = db
        .selectFrom('canary_assignments')
        .select(['id', 'provider'])
        .where('status', '=', 'leased');
      if (where.provider) query = query.where('provider', '=', where.provider);
      if (where.before !== undefined) query = query.where('lease_expires_at', '<', where.before);
      leased = await query.limit(1000).execute();
    }
    const rows = leased.filter((r) => !where.keep?.has(r.id));
    for (const r of rows) {
      const done = await db.transaction().execute(async (trx) => {
        const u = await trx
          .updateTable('canary_assignments')
          .set({ status: 'expired', finished_at: now() })
          .where('id', '=', r.id)
          .where('status', '=', 'leased')
          .executeTakeFirst();
        if (u.numUpdatedRows === 0n) return false;
        await recordOutcome(trx, r.provider, 'timeout');
        return true;
      });
      if (done && links.has(r.provider) && where.keep === undefined) {
        scheduler.release(r.provider);
        send(r.provider, { type: 'cancel', assignmentId: r.id as Hex, reason: 'lease expired' });
      }
    }
  }

  /** Some connected provider other than `except` could take another execution of a task. */
  function anotherProviderOnline(except: readonly string[]): boolean {
    const skip = new Set(except.map((a) => a.toLowerCase()));
    for (const a of links.keys()) if (!skip.has(a.toLowerCase()) && !draining.has(a)) return true;
    return false;
  }

  async function runDispatch(): Promise<void> {
    let afterQueuedAt = -1;
    let afterId = '';
    for (let page = 0; page < 40 && scheduler.freeSlots() > 0; page++) {
      // Usually a slot or two just came free: the first page is short, so a long queue is not
      // read (and thrown away) after every result. Later pages are full.
      const limit = page === 0 ? FIRST_DISPATCH_PAGE : DISPATCH_PAGE;
      const tasks = await stmt.all(db, q.queuedPage, { after: afterQueuedAt, afterId, limit });
      if (tasks.length === 0) return;
      for (const task of tasks) {
        afterQueuedAt = task.queued_at;
        afterId = task.id;
        if (scheduler.freeSlots() === 0) return;
        const job = await jobInfo(task.job_id);
        if (!job) continue;
        // A client whose escrow no longer covers its jobs starts no new task; executions of tasks
        // already started (audits, replicas, retries) go on, so their verdicts and bills land.
        if (task.attempts === 0 && deps.market?.clientHeld(job.client)) continue;
        // A verified task may need several executions at once (replicas, tie-breakers).
        let attempts = task.attempts;
        for (;;) {
          if (scheduler.freeSlots() === 0) return;
          const r = await leaseOne({ ...task, attempts }, job);
          if (!r.leased || !r.more) break;
          attempts++;
        }
      }
      // A short page was the end of the queue (tasks queued since then bring a dispatch of their own).
      if (tasks.length < limit) return;
    }
  }

  /**
   * Leases one execution of a queued task. Without verification state (primary of an `audit` or
   * `none` job) this is a plain lease; for a task whose TaskVerification asks for executions
   * (replicas, an auditor, tie-breakers) it assigns one of those to a provider not yet involved,
   * trusted ones first where the round asks for them. `more`: the task still wants executions.
   */
  async function leaseOne(
    task: { id: string; job_id: string; input_cid: string; attempts: number },
    job: JobInfo,
  ): Promise<{ leased: boolean; more: boolean }> {
    const policy = policyOfSpec(job.spec);
    // A task never leased has no verification yet (one starts with its first lease, commitment
    // or result): nothing to look up.
    let tv = task.attempts === 0 ? undefined : await loadVerification(task.id);
    let role: ExecutionRole = 'primary';
    let trustedOnly = false;
    let involved: string[] = [];
    let fresh = false;
    if (tv) {
      const req = tv.pending()[0];
      if (!req) {
        // Nothing to assign: every execution is out; the task waits for results.
        await db
          .updateTable('tasks')
          .set({ status: 'assigned' })
          .where('id', '=', task.id)
          .where('status', '=', 'queued')
          .execute();
        return { leased: false, more: false };
      }
      role = req.role;
      trustedOnly = req.trustedOnly;
      involved = req.exclude;
      if (role === 'auditor' && !anotherProviderOnline(involved)) {
        await waiveAudit(task.id, task.job_id, tv);
        return { leased: false, more: false };
      }
    } else if (policy.kind === 'redundant') {
      tv = new TaskVerification(initFor(task.id, policy, false));
      role = 'replica';
      fresh = true;
    }
    const failedBefore =
      task.attempts > 0
        ? (
            await db.selectFrom('assignments').select('provider').where('task_id', '=', task.id).execute()
          ).map((a) => a.provider)
        : [];
    const req: TaskRequirements = {
      model: job.spec.model,
      minMemoryMiB: job.spec.resources.minMemoryMiB,
      gpu: job.spec.resources.gpu,
    };
    // Only providers active on chain whose floor is within the client's cap (docs/market.md).
    const tooDear = deps.market?.ineligible(job.maxPrice, job.spec.resources.gpu) ?? new Set<string>();
    // GPU work only for providers whose latest capability proof showed the GPU they claim.
    if (job.spec.resources.gpu) for (const a of links.keys()) if (!proofs.gpuTrusted(a)) tooDear.add(a);
    const provider = pickFor(req, {
      // Prefer a provider that has not tried this task; if there is none, any provider will do,
      // except that one provider never executes the same verified task twice.
      preferredExclude: new Set([...failedBefore, ...involved, ...draining, ...tooDear]),
      requiredExclude: new Set([...involved, ...draining, ...tooDear]),
      trustedOnly,
    });
    if (!provider) return { leased: false, more: false };
    const started = performance.now();
    const assignmentId = `0x${randomBytes(32).toString('hex')}` as Hex;
    // Sometimes the slot carries a canary instead; the task stays queued for the next free slot.
    if ((role === 'primary' || role === 'replica') && (await injectCanary(provider, assignmentId))) {
      return { leased: false, more: false };
    }
    const t = now();
    let more = false;
    if (tv) {
      tv.assign(provider as Hex, role);
      more = tv.pending().length > 0;
    }
    let leased = false;
    try {
      leased = await db.transaction().execute(async (trx) => {
        const updated = await stmt.run(trx, q.leaseTask, {
          id: task.id,
          status: more ? 'queued' : 'assigned',
          attempts: task.attempts + 1,
          at: t,
        });
        if (updated === 0n) return false;
        await stmt.run(trx, q.insertAssignment, {
          id: assignmentId,
          taskId: task.id,
          jobId: task.job_id,
          provider,
          expiresAt: t + job.spec.taskTimeoutSec * 1000,
          at: t,
        });
        if (tv) await saveVerification(trx, tv, task.job_id, policy, false);
        // A job's status never returns to queued: once this process saw it leave, nothing to do.
        if (job.status === 'queued') {
          const jobUpdated = await trx
            .updateTable('jobs')
            .set({ status: 'running', updated_at: t })
            .where('id', '=', task.job_id)
            .where('status', '=', 'queued')
            .executeTakeFirst();
          if (jobUpdated.numUpdatedRows > 0n) {
            job.status = 'running';
            await events.append(trx, task.job_id, 'job.running', {});
          }
        }
        await events.append(trx, task.job_id, 'task.assigned', {
          taskId: task.id,
          provider,
          attempt: task.attempts + 1,
          role,
        });
        return true;
      });
    } finally {
      // The in-memory machine already took the assignment: if the store did not, rebuild it.
      if (!leased && tv) verifications.delete(task.id);
    }
    if (!leased) {
      scheduler.release(provider);
      return { leased: false, more: false };
    }
    if (tv && fresh) verifications.set(task.id, tv);
    events.notify(task.job_id);
    send(provider, {
      type: 'assign',
      assignmentId,
      taskId: task.id as Hex,
      jobId: task.job_id as Hex,
      kind: 'onnx.infer',
      model: job.spec.model,
      input: task.input_cid,
      gpu: job.spec.resources.gpu,
      timeoutMs: job.spec.taskTimeoutSec * 1000,
    });
    metrics.dispatchSeconds.observe((performance.now() - started) / 1000);
    metrics.assignments.inc();
    return { leased: true, more };
  }

  /**
   * With probability `canaryRate` (a seeded draw per provider and slot, unpredictable without the
   * coordinator's secret), the slot just reserved on `provider` goes to a known-answer task it has
   * not seen instead, under a fresh task id and with the job id of the job it came from: nothing on
   * the wire tells it apart. True when a canary took the slot.
   */
  async function injectCanary(provider: string, slot: string): Promise<boolean> {
    if (canaryRate <= 0 || hashUnit(econ.seed, 'canary', provider.toLowerCase(), slot) >= canaryRate) {
      return false;
    }
    try {
      const canary = await db
        .selectFrom('canary_tasks as c')
        .selectAll('c')
        .where('c.retired', '=', 0)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('canary_assignments as ca')
                .select('ca.id')
                .whereRef('ca.canary_id', '=', 'c.id')
                .where('ca.provider', '=', provider),
            ),
          ),
        )
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('task_executions as te')
                .select('te.assignment_id')
                .whereRef('te.task_id', '=', 'c.source_task_id')
                .where('te.provider', '=', provider),
            ),
          ),
        )
        .orderBy(sql`random()`)
        .limit(1)
        .executeTakeFirst();
      if (!canary) return false;
      if (canary.gpu === 1 && !proofs.gpuTrusted(provider)) return false;
      const id = `0x${randomBytes(32).toString('hex')}` as Hex;
      const taskId = `0x${randomBytes(32).toString('hex')}` as Hex;
      const t = now();
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('canary_assignments')
          .values({
            id,
            task_id: taskId,
            canary_id: canary.id,
            provider,
            status: 'leased',
            lease_expires_at: t + canary.timeout_ms,
            output_cid: null,
            created_at: t,
            finished_at: null,
          })
          .execute();
        await trx
          .updateTable('canary_tasks')
          .set((eb) => ({
            issued: eb('issued', '+', 1),
            retired: canary.issued + 1 >= canaryMaxIssues ? 1 : 0,
          }))
          .where('id', '=', canary.id)
          .execute();
      });
      metrics.assignments.inc();
      send(provider, {
        type: 'assign',
        assignmentId: id,
        taskId,
        jobId: canary.source_job_id as Hex,
        kind: 'onnx.infer',
        model: canary.model,
        input: canary.input_cid,
        gpu: canary.gpu === 1,
        timeoutMs: canary.timeout_ms,
      });
      return true;
    } catch (err) {
      log.error({ err, provider }, 'canary injection failed');
      return false;
    }
  }

  /**
   * Picks a provider and reserves a slot. Rounds that ask for trusted providers (auditors,
   * tie-breakers) get one when any trusted provider is eligible; when none is connected the
   * coordinator falls back to the best-scored eligible providers (docs/verification.md: genesis
   * operators avoid that fallback).
   */
  function pickFor(
    req: TaskRequirements,
    opts: { preferredExclude: Set<string>; requiredExclude: Set<string>; trustedOnly: boolean },
  ): string | undefined {
    const tryPick = (exclude: Set<string>): string | undefined => {
      if (!opts.trustedOnly) return scheduler.pick({ ...req, exclude });
      const eligible = [...links.keys()].filter((a) => !exclude.has(a));
      const trusted = eligible.filter((a) => isTrusted(reputationOf(a)));
      if (trusted.length > 0) {
        const untrusted = eligible.filter((a) => !trusted.includes(a));
        return scheduler.pick({ ...req, exclude: new Set([...exclude, ...untrusted]) });
      }
      // No trusted provider: the best-scored few, in order.
      const ranked = eligible
        .sort((a, b) => reputationScore(reputationOf(b)) - reputationScore(reputationOf(a)))
        .slice(0, 8);
      for (const candidate of ranked) {
        const others = eligible.filter((a) => a !== candidate);
        const p = scheduler.pick({ ...req, exclude: new Set([...exclude, ...others]) });
        if (p) return p;
      }
      return undefined;
    };
    const sameSets =
      opts.preferredExclude.size === opts.requiredExclude.size &&
      [...opts.preferredExclude].every((a) => opts.requiredExclude.has(a));
    return tryPick(opts.preferredExclude) ?? (sameSets ? undefined : tryPick(opts.requiredExclude));
  }

  /**
   * An audited primary whose audit cannot run because no other provider is online (a one-provider
   * network, or the only candidate left): the audit is dropped and the primary's result accepted
   * unverified, as if the draw had not picked it. The auditor's lost attempts still count as
   * timeouts. Without this a lone provider's jobs would wait for their deadline.
   */
  async function waiveAudit(taskId: string, jobId: string, tv: TaskVerification): Promise<void> {
    const log = tv.log();
    const primary = log.find((e) => e.type === 'assign' && e.role === 'primary')?.provider;
    if (!primary) return;
    const primaryEvents = log.filter((e) => e.provider === primary);
    const abandonedAuditors = log.filter((e) => e.type === 'abandon' && e.provider !== primary);
    const outputs = outputsOf.get(taskId) ?? new Map<string, TensorSet>();
    const policy = JSON.parse(
      (
        await db
          .selectFrom('task_verifications')
          .select('policy')
          .where('task_id', '=', taskId)
          .executeTakeFirstOrThrow()
      ).policy,
    ) as VerificationPolicy;
    const unaudited = TaskVerification.restore(initFor(taskId, policy, false), primaryEvents, (d) =>
      outputs.get(d),
    );
    const verdict = unaudited.verdict();
    if (!verdict) return;
    let result: { jobDone: boolean; cancelled: { id: string; provider: string }[] } = {
      jobDone: false,
      cancelled: [],
    };
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('task_verifications').set({ audit: 0 }).where('task_id', '=', taskId).execute();
      for (const a of abandonedAuditors) await recordOutcome(trx, a.provider, 'timeout');
      await events.append(trx, jobId, 'task.audit-waived', { taskId, reason: 'no other provider online' });
      result = await settleVerdict(trx, jobId, verdict, log);
    });
    afterSettle(jobId, result);
  }

  /** Process-side bookkeeping after a verdict's transaction committed. */
  function afterSettle(
    jobId: string,
    r: { jobDone: boolean; cancelled: { id: string; provider: string }[] },
  ) {
    if (r.jobDone) {
      const info = jobCache.get(jobId);
      if (info) info.status = 'completed';
      jobCache.delete(jobId);
      metrics.jobsFinished.inc({ status: 'completed' });
    }
    revoke(r.cancelled, 'job failed');
    events.notify(jobId);
  }

  async function dispatch(): Promise<void> {
    if (dispatching) {
      again = true;
      return dispatching;
    }
    dispatching = (async () => {
      try {
        do {
          again = false;
          await runDispatch();
        } while (again);
      } catch (err) {
        log.error({ err }, 'dispatch failed');
      } finally {
        dispatching = undefined;
      }
    })();
    return dispatching;
  }

  /**
   * What an assignment id a provider sends names: a task assignment (its task and job) or, failing
   * that, a canary lease. Canary leases have ids of their own (random, like every assignment id):
   * only an id that is no task assignment can be one, so the common case costs one query.
   */
  async function leaseById(assignmentId: string) {
    const task = await stmt.first(db, q.assignmentTask, { id: assignmentId });
    if (task) return { task, canary: undefined };
    const canary = await db
      .selectFrom('canary_assignments')
      .selectAll()
      .where('id', '=', assignmentId)
      .executeTakeFirst();
    return { task: undefined, canary };
  }

  /** Loads a leased assignment for `address` or throws PLX_STALE_ASSIGNMENT. */
  async function leasedAssignment(
    trx: Transaction<Database>,
    address: string,
    assignmentId: string,
    taskId: string,
  ) {
    const a = await stmt.first(trx, q.assignment, { id: assignmentId });
    assertLeasedTo(a, address, assignmentId, taskId);
    return a;
  }

  /**
   * Ends one attempt that did not produce a result: the task goes back to the queue (keeping its
   * place) or, with no attempts left, the job fails and its other tasks are cancelled.
   */
  async function failAttempt(
    trx: Transaction<Database>,
    a: { id: string; task_id: string; job_id: string; provider: string },
    status: 'failed' | 'expired',
    code: string,
    message: string,
  ): Promise<{ jobFailed: boolean; jobDone?: boolean; cancelled: { id: string; provider: string }[] }> {
    const t = now();
    await trx
      .updateTable('assignments')
      .set({ status, finished_at: t, error_code: code, error_message: message.slice(0, 2000) })
      .where('id', '=', a.id)
      .execute();
    await trx
      .updateTable('providers')
      .set((eb) => ({ tasks_failed: eb('tasks_failed', '+', 1) }))
      .where('address', '=', a.provider)
      .execute();
    const task = await trx
      .selectFrom('tasks')
      .select(['attempts', 'idx'])
      .where('id', '=', a.task_id)
      .executeTakeFirstOrThrow();
    const job = await jobInfo(a.job_id, trx);
    const maxAttempts = job?.spec.maxAttempts ?? 1;
    const lastError = `${code}: ${message}`.slice(0, 2000);
    // Attempts that produced no result (this one included): with verification a task has several
    // executions, so the lease count alone no longer measures failures.
    const failures = Number(
      (
        await trx
          .selectFrom('assignments')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('task_id', '=', a.task_id)
          .where('status', 'in', ['failed', 'expired'])
          .executeTakeFirstOrThrow()
      ).n,
    );
    const tv = await loadVerification(a.task_id, trx);
    if (tv) {
      // Not a fault: a `timeout` outcome, and the slot is asked for again elsewhere.
      try {
        tv.abandon(a.provider as Hex);
      } catch (err) {
        log.warn({ err, taskId: a.task_id, provider: a.provider }, 'abandon of an unknown execution');
      }
      const verdict = tv.verdict();
      if (verdict) {
        const r = await settleVerdict(trx, a.job_id, verdict, tv.log());
        return { jobFailed: verdict.status !== 'accepted', jobDone: r.jobDone, cancelled: r.cancelled };
      }
      await saveVerification(trx, tv, a.job_id, policyOfSpec(job!.spec), false);
      // The dropped execution may have been the last one the round waited for.
      for (const r of await releasableReveals(trx, a.task_id, tv)) {
        send(r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
      }
    }
    if (failures < maxAttempts && job?.status === 'running') {
      await trx
        .updateTable('tasks')
        .set({
          status: tv && tv.pending().length === 0 ? 'assigned' : 'queued',
          last_error: lastError,
          updated_at: t,
        })
        .where('id', '=', a.task_id)
        .execute();
      await events.append(trx, a.job_id, 'task.retry', {
        taskId: a.task_id,
        provider: a.provider,
        code,
        message,
      });
      return { jobFailed: false, cancelled: [] };
    }
    verifications.delete(a.task_id);
    outputsOf.delete(a.task_id);
    await trx
      .updateTable('tasks')
      .set({ status: 'failed', last_error: lastError, updated_at: t })
      .where('id', '=', a.task_id)
      .execute();
    const cancelled = await failJob(
      trx,
      a.job_id,
      'PLX_TASK_FAILED',
      `task ${task.idx} failed ${task.attempts} time(s); last error ${lastError}`,
      {
        taskIndex: task.idx,
        lastError,
      },
    );
    return { jobFailed: true, cancelled };
  }

  /** Marks a job failed, cancels its unfinished tasks, and returns leases to revoke. */
  async function failJob(
    trx: Transaction<Database>,
    jobId: string,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown>,
  ): Promise<{ id: string; provider: string }[]> {
    const t = now();
    const updated = await trx
      .updateTable('jobs')
      .set({ status: 'failed', error_code: code, error_message: message.slice(0, 2000), updated_at: t })
      .where('id', '=', jobId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return [];
    const info = jobCache.get(jobId);
    if (info) info.status = 'failed';
    // Open verifications of the job's tasks will never decide: free them.
    const open = await trx
      .selectFrom('task_verifications')
      .select('task_id')
      .where('job_id', '=', jobId)
      .where('status', '=', 'open')
      .execute();
    for (const v of open) {
      verifications.delete(v.task_id);
      outputsOf.delete(v.task_id);
    }
    await trx
      .updateTable('tasks')
      .set({ status: 'cancelled', updated_at: t })
      .where('job_id', '=', jobId)
      .where('status', 'in', ['queued', 'assigned'])
      .execute();
    const leases = await trx
      .selectFrom('assignments')
      .select(['id', 'provider'])
      .where('job_id', '=', jobId)
      .where('status', '=', 'leased')
      .execute();
    await trx
      .updateTable('assignments')
      .set({ status: 'failed', finished_at: t, error_code: 'PLX_JOB_CANCELLED', error_message: 'job failed' })
      .where('job_id', '=', jobId)
      .where('status', '=', 'leased')
      .execute();
    await events.append(trx, jobId, 'job.failed', { code, message, ...details });
    metrics.jobsFinished.inc({ status: 'failed' });
    return leases;
  }

  function revoke(leases: { id: string; provider: string }[], reason: string): void {
    for (const l of leases) {
      scheduler.release(l.provider);
      send(l.provider, { type: 'cancel', assignmentId: l.id as Hex, reason });
    }
  }

  return {
    async providerConnected(link, hello) {
      const address = link.address;
      const old = links.get(address);
      links.set(address, link);
      draining.delete(address);
      const t = now();
      // Leases this provider still holds in the store: those it no longer knows about were lost
      // (for example the assign message died with a coordinator restart) and go back to the queue.
      const leased = await db
        .selectFrom('assignments')
        .select(['id', 'task_id', 'job_id', 'provider'])
        .where('provider', '=', address)
        .where('status', '=', 'leased')
        .execute();
      const known = new Set(hello.inFlight);
      const lost = leased.filter((a) => !known.has(a.id));
      const kept = leased.length - lost.length;
      const revoked: { id: string; provider: string }[] = [];
      const completed: string[] = [];
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('providers')
          .values({
            address,
            hardware: JSON.stringify(hello.hardware),
            slots: hello.slots,
            region: hello.region,
            agent_version: hello.agentVersion,
            connected: 1,
            first_seen: t,
            last_seen: t,
            tasks_completed: 0,
            tasks_failed: 0,
            reputation: null,
          })
          .onConflict((oc) =>
            oc.column('address').doUpdateSet({
              hardware: JSON.stringify(hello.hardware),
              slots: hello.slots,
              region: hello.region,
              agent_version: hello.agentVersion,
              connected: 1,
              last_seen: t,
            }),
          )
          .execute();
        const stored = await trx
          .selectFrom('providers')
          .select('reputation')
          .where('address', '=', address)
          .executeTakeFirst();
        if (stored?.reputation)
          reputations.set(address.toLowerCase(), parseReputation(JSON.parse(stored.reputation)));
        for (const a of lost) {
          const r = await failAttempt(
            trx,
            a,
            'expired',
            'PLX_LEASE_LOST',
            'the provider reconnected without this task',
          );
          revoked.push(...r.cancelled);
          if (r.jobDone) completed.push(a.job_id);
        }
        await deps.market?.onConnected(trx, hello, t);
        await events.append(trx, null, 'provider.connected', {
          address,
          slots: hello.slots,
          region: hello.region,
        });
      });
      await expireCanaries({ provider: address, keep: known });
      const canaryKept = await db
        .selectFrom('canary_assignments')
        .select('id')
        .where('provider', '=', address)
        .where('status', '=', 'leased')
        .execute();
      const memoryMiB = Math.floor(hello.hardware.memoryBytes / 1024 / 1024);
      scheduler.upsertProvider({
        address,
        slots: hello.slots,
        memoryMiB,
        gpu: hello.hardware.executionProviders.includes('cuda') && hello.hardware.gpus.length > 0,
        cached: hello.cached,
        active: kept + canaryKept.length,
      });
      revoke(revoked, 'job failed');
      for (const jobId of completed) afterSettle(jobId, { jobDone: true, cancelled: [] });
      events.notify(null);
      metrics.providersConnected.set(links.size);
      if (old && old !== link) log.info({ address }, 'provider replaced an older session');
      log.info({ address, slots: hello.slots, kept, lost: lost.length }, 'provider connected');
      void dispatch();
    },

    async providerDisconnected(link) {
      const address = link.address;
      if (links.get(address) !== link) return; // an older session of a provider that reconnected
      links.delete(address);
      draining.delete(address);
      scheduler.removeProvider(address);
      proofs.stop(address);
      const t = now();
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('providers')
          .set({ connected: 0, last_seen: t })
          .where('address', '=', address)
          .execute();
        // Give it a short grace to come back with its results before the work moves elsewhere.
        await trx
          .updateTable('assignments')
          .set({ lease_expires_at: t + DISCONNECT_GRACE_SEC * 1000 })
          .where('provider', '=', address)
          .where('status', '=', 'leased')
          .where('lease_expires_at', '>', t + DISCONNECT_GRACE_SEC * 1000)
          .execute();
        await trx
          .updateTable('canary_assignments')
          .set({ lease_expires_at: t + DISCONNECT_GRACE_SEC * 1000 })
          .where('provider', '=', address)
          .where('status', '=', 'leased')
          .where('lease_expires_at', '>', t + DISCONNECT_GRACE_SEC * 1000)
          .execute();
        await deps.market?.onDisconnected(trx, address, t);
        await events.append(trx, null, 'provider.disconnected', { address });
      });
      events.notify(null);
      metrics.providersConnected.set(links.size);
      log.info({ address }, 'provider disconnected');
    },

    providerDraining(address) {
      draining.add(address);
      log.info({ address }, 'provider draining');
    },

    providerCacheChanged(address, added, removed) {
      for (const cid of added) scheduler.setCached(address, cid, true);
      for (const cid of removed) scheduler.setCached(address, cid, false);
    },

    async handleResult(address, msg) {
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType: 'TaskResult',
        message: {
          provider: address,
          assignmentId: msg.assignmentId as Hex,
          taskId: msg.taskId as Hex,
          outputCid: cidToBytes32(msg.outputCid),
          wallMs: BigInt(msg.usage.wallMs),
          cpuMs: BigInt(msg.usage.cpuMs),
          peakRssBytes: BigInt(msg.usage.peakRssBytes),
          issuedAt: BigInt(msg.issuedAt),
        },
        signature: msg.signature,
        expectedSigner: address,
      });
      const size = await deps.blobs.size(msg.outputCid);
      if (size === undefined) {
        throw new PlexusError('PLX_UNKNOWN_BLOB', `output ${msg.outputCid} was not uploaded`, {
          details: { cid: msg.outputCid },
        });
      }
      if (size > MAX_OUTPUT_BYTES) throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', 'output is too large');
      // The output must be a well-formed tensor file; garbage never reaches the client.
      const tensors = decodeSafetensors(await deps.blobs.read(msg.outputCid));
      const outputDigest = tensorSetDigest(tensors);
      const revealed = msg.outputDigest !== undefined && msg.salt !== undefined ? msg : undefined;
      if (revealed && revealed.outputDigest !== outputDigest) {
        throw new PlexusError(
          'PLX_REVEAL_MISMATCH',
          'the uploaded output does not hash to the revealed digest',
          {
            details: { revealed: revealed.outputDigest, uploaded: outputDigest },
          },
        );
      }
      const { task: before, canary } = await leaseById(msg.assignmentId);
      if (canary) {
        await handleCanaryResult(address, msg, canary, tensors, outputDigest);
        return;
      }
      // v1 agents: the coordinator commits to the output on the agent's behalf (nobody sees an
      // output before the verdict). v2 agents signed their own commitment before this reveal.
      const salt = (revealed?.salt as Hex | undefined) ?? (`0x${randomBytes(32).toString('hex')}` as Hex);
      const job = before ? await jobInfo(before.job_id) : undefined;
      const existing = before ? await loadVerification(before.task_id) : undefined;
      const t = now();
      let settled: { jobDone: boolean; cancelled: { id: string; provider: string }[] } | undefined;
      let jobId = '';
      let taskId = '';
      let release: { assignment_id: string; provider: string }[] = [];
      try {
        await db.transaction().execute(async (trx) => {
          const a = await leasedAssignment(trx, address, msg.assignmentId, msg.taskId);
          jobId = a.job_id;
          taskId = a.task_id;
          if (!job || !before || before.task_id !== a.task_id) {
            throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} has no job`);
          }
          const signed = await stmt.first(trx, q.commitmentOf, { assignmentId: a.id });
          if (signed && !revealed) {
            throw new PlexusError(
              'PLX_REVEAL_MISMATCH',
              'this execution committed: reveal its digest and salt',
            );
          }
          if (revealed) {
            if (!signed) {
              throw new PlexusError(
                'PLX_VERIFICATION_COMMIT_CLOSED',
                'no signed commitment for this execution',
              );
            }
            const opens = verifyReveal({
              taskId: a.task_id,
              provider: address,
              commitment: signed.commitment as Hex,
              reveal: { outputDigest, salt },
            });
            if (!opens) {
              throw new PlexusError('PLX_REVEAL_MISMATCH', 'the reveal does not open the signed commitment', {
                details: { taskId: a.task_id },
              });
            }
            if (!existing || !mayReveal(existing, address)) {
              throw new PlexusError(
                'PLX_VERIFICATION_REVEAL_TOO_EARLY',
                'other providers of this round have not committed yet',
              );
            }
          }
          await stmt.run(trx, q.completeAssignment, { id: a.id, at: t });
          const result = JSON.stringify({
            assignmentId: msg.assignmentId,
            usage: msg.usage,
            issuedAt: msg.issuedAt,
            signature: msg.signature,
          });
          await stmt.run(trx, q.insertExecution, {
            assignmentId: a.id,
            taskId: a.task_id,
            provider: address.toLowerCase(),
            outputCid: msg.outputCid,
            outputDigest,
            salt,
            result,
            at: t,
          });
          const policy = policyOfSpec(job.spec);
          const opened = existing ? { tv: existing, audit: false } : openVerification(a, address, policy);
          const tv = opened.tv;
          let outputs = outputsOf.get(a.task_id);
          if (!outputs) {
            outputs = new Map();
            outputsOf.set(a.task_id, outputs);
          }
          outputs.set(outputDigest, tensors);
          if (!signed) {
            tv.commit(
              address,
              computeCommitment({ taskId: a.task_id, provider: address, outputDigest, salt }),
            );
          }
          // Open every commitment whose round is complete (this one, or ones waiting for it).
          const revealedBy = new Set(tv.log().flatMap((e) => (e.type === 'reveal' ? [e.provider] : [])));
          const execs = await stmt.all(trx, q.executionsOf, { taskId: a.task_id });
          for (const e of execs) {
            if (tv.verdict() || revealedBy.has(e.provider as Hex) || !tv.canReveal(e.provider as Hex))
              continue;
            const set = outputs.get(e.output_digest);
            tv.reveal(e.provider as Hex, {
              outputDigest: e.output_digest as Hex,
              salt: e.salt as Hex,
              ...(set ? { tensors: set } : {}),
            });
          }
          const verdict = tv.verdict();
          if (verdict) {
            // The verdict's write stores the log too (and the row, for a first result without one).
            settled = await settleVerdict(trx, a.job_id, verdict, tv.log(), {
              row: { policy, audit: opened.audit },
              executions: execs,
              job,
            });
          } else {
            await saveVerification(trx, tv, a.job_id, policy, opened.audit);
            release = await releasableReveals(trx, a.task_id, tv);
            if (tv.pending().length > 0) {
              // More executions are needed (an audit, a tie-breaker): back into the queue, in place.
              await trx
                .updateTable('tasks')
                .set({ status: 'queued', updated_at: t })
                .where('id', '=', a.task_id)
                .where('status', '=', 'assigned')
                .execute();
            }
          }
          // No digest or cid here: nothing about an output is public before the verdict.
          await events.append(trx, a.job_id, 'task.result', {
            taskId: a.task_id,
            provider: address.toLowerCase(),
          });
        });
      } catch (err) {
        // The in-memory machine may be ahead of the store: rebuild it from the store next time.
        if (taskId) {
          verifications.delete(taskId);
          outputsOf.delete(taskId);
        }
        throw err;
      }
      for (const r of release) send(r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
      scheduler.release(address);
      // Learned schedulers learn each provider's speed per model from what it measured.
      const info = jobCache.get(jobId);
      if (info) scheduler.observe?.(address, info.spec.model, msg.usage.wallMs / 1000);
      if (settled) afterSettle(jobId, settled);
      metrics.tasksFinished.inc({ status: 'completed' });
      events.notify(jobId);
      void dispatch();
    },

    async handleCommit(address, msg) {
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType: 'TaskCommitment',
        message: {
          provider: address,
          assignmentId: msg.assignmentId as Hex,
          taskId: msg.taskId as Hex,
          commitment: msg.commitment as Hex,
          issuedAt: BigInt(msg.issuedAt),
        },
        signature: msg.signature,
        expectedSigner: address,
      });
      const t = now();
      const store = (trx: Transaction<Database>, taskId: string) =>
        stmt.run(trx, q.insertCommitment, {
          assignmentId: msg.assignmentId,
          taskId,
          provider: address.toLowerCase(),
          commitment: msg.commitment,
          issuedAt: msg.issuedAt,
          signature: msg.signature,
          at: t,
        });
      const { task: before, canary } = await leaseById(msg.assignmentId);
      if (canary) {
        assertLeasedTo(canary, address, msg.assignmentId, msg.taskId);
        await db.transaction().execute(async (trx) => {
          if (!(await priorCommitment(trx, msg))) await store(trx, canary.task_id);
        });
        // A lone execution: its round is complete as soon as it committed.
        send(address, { type: 'reveal', assignmentId: msg.assignmentId as Hex });
        return;
      }
      const job = before ? await jobInfo(before.job_id) : undefined;
      const existing = before ? await loadVerification(before.task_id) : undefined;
      let release: { assignment_id: string; provider: string }[] = [];
      let taskId = '';
      try {
        await db.transaction().execute(async (trx) => {
          const a = await leasedAssignment(trx, address, msg.assignmentId, msg.taskId);
          taskId = a.task_id;
          if (!job || !before || before.task_id !== a.task_id) {
            throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${msg.assignmentId} has no job`);
          }
          const policy = policyOfSpec(job.spec);
          const opened = existing ? { tv: existing, audit: false } : openVerification(a, address, policy);
          if (!(await priorCommitment(trx, msg))) {
            await store(trx, a.task_id);
            opened.tv.commit(address, msg.commitment as Hex);
            await saveVerification(trx, opened.tv, a.job_id, policy, opened.audit);
          }
          release = await releasableReveals(trx, a.task_id, opened.tv);
        });
      } catch (err) {
        if (taskId) {
          verifications.delete(taskId);
          outputsOf.delete(taskId);
        }
        throw err;
      }
      for (const r of release) send(r.provider, { type: 'reveal', assignmentId: r.assignment_id as Hex });
    },

    async providerWelcomed(address, hardware) {
      await proofs.start(address, hardware);
    },

    handleCapabilityDigest(address, msg) {
      proofs.digest(address, msg);
    },

    async handleCapabilityAnswer(address, msg) {
      await proofs.answer(address, msg);
    },

    async handleFailure(address, msg) {
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType: 'TaskFailure',
        message: {
          provider: address,
          assignmentId: msg.assignmentId as Hex,
          taskId: msg.taskId as Hex,
          reasonHash: keccak256(toBytes(`${msg.code}:${msg.message}`)),
          issuedAt: BigInt(msg.issuedAt),
        },
        signature: msg.signature,
        expectedSigner: address,
      });
      let jobId = '';
      let jobDone = false;
      let cancelled: { id: string; provider: string }[] = [];
      await db.transaction().execute(async (trx) => {
        const a = await leasedAssignment(trx, address, msg.assignmentId, msg.taskId);
        jobId = a.job_id;
        const r = await failAttempt(trx, a, 'failed', msg.code, msg.message);
        cancelled = r.cancelled;
        jobDone = r.jobDone === true;
      });
      if (jobDone) afterSettle(jobId, { jobDone, cancelled: [] });
      scheduler.release(address);
      revoke(cancelled, 'job failed');
      metrics.tasksFinished.inc({ status: 'failed' });
      events.notify(jobId);
      void dispatch();
    },

    dispatch,

    async sweep() {
      const t = now();
      await expireCanaries({ before: t });
      const expired = await stmt.all(db, q.expiredLeases, { before: t });
      for (const a of expired) {
        let cancelled: { id: string; provider: string }[] = [];
        let jobDone = false;
        const still = await db.transaction().execute(async (trx) => {
          const cur = await trx
            .selectFrom('assignments')
            .select('status')
            .where('id', '=', a.id)
            .executeTakeFirst();
          if (cur?.status !== 'leased') return false;
          const r = await failAttempt(
            trx,
            a,
            'expired',
            'PLX_LEASE_EXPIRED',
            'no result before the lease expired',
          );
          cancelled = r.cancelled;
          jobDone = r.jobDone === true;
          return true;
        });
        if (!still) continue;
        // The provider may still be connected and busy with it: tell it to stop.
        if (links.has(a.provider)) {
          scheduler.release(a.provider);
          send(a.provider, { type: 'cancel', assignmentId: a.id as Hex, reason: 'lease expired' });
        }
        revoke(cancelled, 'job failed');
        if (jobDone) afterSettle(a.job_id, { jobDone, cancelled: [] });
        metrics.tasksFinished.inc({ status: 'expired' });
        events.notify(a.job_id);
      }
      const late = await stmt.all(db, q.lateJobs, { before: t });
      for (const j of late) {
        const leases = await db
          .transaction()
          .execute((trx) =>
            failJob(trx, j.id, 'PLX_DEADLINE_EXCEEDED', 'the job did not finish before its deadline', {}),
          );
        revoke(leases, 'deadline exceeded');
        events.notify(j.id);
      }
      if (expired.length > 0 || late.length > 0) void dispatch();
    },

    connectedProviders() {
      return links.size;
    },
    activeOf(address) {
      return scheduler.active(address);
    },
    verificationView(address, stored, storedCapability) {
      const rep =
        reputations.get(address.toLowerCase()) ??
        (stored ? parseReputation(JSON.parse(stored)) : newReputation(now()));
      const bound = economicAuditBound({ cost: econ.honestCost, reward: econ.reward, slashable });
      return {
        reputation: { ...rep, score: reputationScore(rep), trusted: isTrusted(rep) },
        auditRate: auditRate({ reputation: rep, bound }),
        capability: proofs.view(address, storedCapability ?? null),
      };
    },

    close() {
      proofs.close();
    },
  };
}
