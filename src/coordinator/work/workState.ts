/**
 * The work loop's state and services, in one place. `WorkState` is everything the loop keeps in
 * memory between messages (links, reputations, open verifications, cached jobs, the dispatch
 * flags) plus the fixed economics it prices audits and slashes with; `WorkDeps` is what it acts
 * through (the store, its query templates, the scheduler, events, metrics). Every behaviour module
 * of the loop (sessions, dispatch, leases, results, verdicts, canaries) is a set of functions over
 * `(state, deps)`: nothing else is shared between them, and the store stays the source of truth.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Address } from 'viem';
import type { Logger } from '../../logger.ts';
import type { CoordinatorMessage, HardwareClaim, JobSpec, TrainDilocoSpec } from '../../protocol/schemas.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Market } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import type { Scheduler } from '../scheduler/types.ts';
import type { GroupCommit } from '../store/groupCommit.ts';
import type { templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import type { TrainingRounds } from '../training/trainRounds.ts';
import type { AdaptiveAuditPolicy } from '../verification/auditPolicy.ts';
import { isSuspended, newReputation, type ReputationState } from '../verification/reputation.ts';
import type { TaskVerification } from '../verification/taskVerification.ts';
import type { CapabilityProofs } from './capabilityProofs.ts';
import type { FunderLookup } from './funders.ts';
import type { Identity } from './kinship.ts';
import type { workQueries } from './workQueries.ts';

/**
 * What the work loop needs to reach one connected provider.
 *
 * @example
 * const link: ProviderLink = { address, send: (msg) => socket.send(JSON.stringify(msg)) === undefined };
 */
export type ProviderLink = {
  address: Address;
  send(msg: CoordinatorMessage): boolean;
};

/**
 * A provider's hello, as the session passes it on once the provider is authenticated.
 *
 * @example
 * await loop.providerConnected(link, { address, hardware, slots: 2, region: 'eu', agentVersion: '0.1.0', cached: [], inFlight: [] });
 */
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
  /** The session's remote IP as the coordinator saw it (not sent by the agent; kinship.ts). */
  remoteAddress?: string | undefined;
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
  /**
   * Stake each provider is assumed to have bonded when the chain says nothing (no chain): a
   * fault slashes up to min(stake, 20·R), and leases lock k × their pay from it (stakeLocks.ts).
   */
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
    // 10^7 × R, the devnet's ratio of minStake (1000 PLX) to R (10^-4 PLX): leases' locks never
    // bind an honest provider (a fault still slashes min(stake, 20·R) = 20·R).
    stake: 10_000_000_000_000n,
  };
}

/**
 * A job's spec and status as the loop caches them (status is updated in place as the job moves).
 *
 * @example
 * const info: JobInfo = { spec, status: 'queued', maxPrice: undefined, client: '0xabc…', tasksTotal: 4 };
 */
export type JobInfo = {
  spec: JobSpec;
  status: string;
  maxPrice: bigint | undefined;
  client: string;
  /** How many tasks the job has (fixed at submission). */
  tasksTotal: number;
};

/**
 * Leases to cancel on their providers (a failed job's open assignments).
 *
 * @example
 * const none: Lease[] = [];
 */
export type Lease = { id: string; provider: string };

/**
 * What a verdict's transaction leaves for the process to do once it committed.
 *
 * @example
 * const r: Settled = { jobDone: false, cancelled: [] };
 */
export type Settled = {
  jobDone: boolean;
  cancelled: Lease[];
  /** A `train.diloco` task completed: its round manager runs next (src/coordinator/training). */
  training?: TrainDilocoSpec;
};

/**
 * Everything the work loop keeps in memory. The maps are caches of the store (rebuilt from it on
 * demand after a restart) or of live sessions; the economics are fixed for the process.
 *
 * @example
 * const state = createWorkState({ verification: defaultVerificationEconomics() });
 * state.links.set(link.address, link);
 */
export type WorkState = {
  /** Reputation of providers seen by this process (loaded on connect, updated by verdicts). */
  readonly reputations: Map<string, ReputationState>;
  /** Open verifications (tasks without a verdict), rebuilt from the store on demand. */
  readonly verifications: Map<string, TaskVerification>;
  /** Decoded outputs of open verifications, per task, by output digest. */
  readonly outputsOf: Map<string, Map<string, TensorSet>>;
  /** The live session of each connected provider. */
  readonly links: Map<string, ProviderLink>;
  /** Connected providers that take no new work (shutting down). */
  readonly draining: Set<string>;
  /**
   * Where each provider's session comes from, when it was first seen, and who funded its stake
   * (`funder`: undefined while not known yet, null when nobody can be told) (kinship.ts).
   */
  readonly identities: Map<string, Identity>;
  /** Who funded a provider's stake (from the chain, kinship.ts); absent without a chain. */
  readonly funderOf: FunderLookup | undefined;
  /** Jobs' specs and statuses, so a task's lease or result does not re-read its job. */
  readonly jobCache: Map<string, JobInfo>;
  /** The dispatch run in progress, if any: concurrent calls join it. */
  dispatching: Promise<void> | undefined;
  /** Set when a dispatch was asked for during a run: the run goes round once more. */
  again: boolean;
  readonly econ: VerificationEconomics;
  /** What one proven fault is slashed: min(stake, 20·R). */
  readonly slashable: bigint;
  readonly canaryRate: number;
  readonly canaryMaxIssues: number;
  readonly canaryPoolSize: number;
  /**
   * How long a task may wait for a trusted provider to break a disagreement (a ground-truth round
   * nobody took) before it is disputed with nobody slashed (verdicts.ts `disputeStalledGroundTruth`).
   */
  readonly groundTruthWaitMs: number;
};

/** Default {@link WorkState.groundTruthWaitMs}: 10 minutes. */
export const GROUND_TRUTH_WAIT_MS = 10 * 60_000;

/**
 * A fresh, empty state with the given economics and canary options.
 *
 * @example
 * const state = createWorkState({ verification: econ, canaries: { rate: 0 }, slashable: 20_000_000n });
 */
export function createWorkState(opts: {
  verification: VerificationEconomics;
  slashable: bigint;
  canaries?: CanaryOptions | undefined;
  funderOf?: FunderLookup | undefined;
}): WorkState {
  return {
    reputations: new Map(),
    verifications: new Map(),
    outputsOf: new Map(),
    links: new Map(),
    draining: new Set(),
    identities: new Map(),
    funderOf: opts.funderOf,
    jobCache: new Map(),
    dispatching: undefined,
    again: false,
    econ: opts.verification,
    slashable: opts.slashable,
    canaryRate: opts.canaries?.rate ?? 0.02,
    canaryMaxIssues: opts.canaries?.maxIssues ?? 50,
    canaryPoolSize: opts.canaries?.poolSize ?? 1000,
    groundTruthWaitMs: GROUND_TRUTH_WAIT_MS,
  };
}

/**
 * The services the loop's modules act through. `scheduler` is the reputation-limited one, and
 * `dispatch` starts a (coalesced) dispatch run: modules that free a slot call it without importing
 * the dispatcher.
 *
 * @example
 * await deps.stmt.run(trx, deps.q.completeAssignment, { id, at: deps.now() });
 */
export type WorkDeps = {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  log: Logger;
  metrics: Metrics;
  chainId: number;
  now: () => number;
  scheduler: Scheduler & { refresh(address: string): void };
  /** Billing, floors and sessions (src/market); absent in unit tests that exercise the loop alone. */
  market?: Market | undefined;
  q: ReturnType<typeof workQueries>;
  stmt: ReturnType<typeof templateRunner>;
  /** Transactions of results and commitments (store/groupCommit.ts: shared commits on SQLite). */
  commits: GroupCommit;
  audits: AdaptiveAuditPolicy;
  proofs: CapabilityProofs;
  dispatch: () => Promise<void>;
  /** Closes `train.diloco` rounds as their tasks are accepted (src/coordinator/training). */
  training?: TrainingRounds | undefined;
  /**
   * Other coordinator replicas share the store (PostgreSQL): state another replica may change
   * (a task's open verification) is read from the store each time, never from this process's cache.
   */
  shared?: boolean | undefined;
  /**
   * This coordinator replica (store/replicaRegistry.ts): the provider sessions it opens are its
   * own, and a replica not heard from within `leaseMs` is dead. Absent in unit tests of the loop.
   */
  replica?: { id: string; leaseMs: number } | undefined;
};

/**
 * Sends a message to a connected provider; false when it has no session (or the send failed).
 *
 * @example
 * send(state, provider, { type: 'cancel', assignmentId, reason: 'job failed' });
 */
export function send(s: WorkState, address: string, msg: CoordinatorMessage): boolean {
  return s.links.get(address)?.send(msg) ?? false;
}

/**
 * A provider's reputation as this process knows it, or a fresh one.
 *
 * @example
 * const limit = concurrencyLimit(reputationOf(state, Date.now, address));
 */
export function reputationOf(s: WorkState, now: () => number, address: string): ReputationState {
  return s.reputations.get(address.toLowerCase()) ?? newReputation(now());
}

/**
 * Some connected provider other than `except` could take another execution of a task.
 *
 * @example
 * if (!anotherProviderOnline(state, [primary])) await waiveAudit(state, deps, taskId, jobId, tv);
 */
export function anotherProviderOnline(s: WorkState, except: readonly string[]): boolean {
  const skip = new Set(except.map((a) => a.toLowerCase()));
  for (const a of s.links.keys()) {
    if (skip.has(a.toLowerCase()) || s.draining.has(a)) continue;
    // A suspended provider takes no work (isSuspended): it cannot audit either.
    const rep = s.reputations.get(a);
    if (rep && isSuspended(rep)) continue;
    return true;
  }
  return false;
}

/**
 * Forgets a task's in-memory verification and outputs: the next use rebuilds them from the store.
 *
 * @example
 * forgetVerification(state, taskId); // the transaction that advanced it rolled back
 */
export function forgetVerification(s: WorkState, taskId: string): void {
  s.verifications.delete(taskId);
  s.outputsOf.delete(taskId);
}
