/**
 * The work loop's facade: builds the loop's one state object (workState.ts) and its services,
 * and wires each message and timer of the `WorkLoop` API to the module that owns it: sessions.ts
 * (connect, disconnect, draining, cache), dispatch.ts (leasing queued tasks), results.ts (results
 * and commit–reveal), leases.ts (failure reports, expiry and deadlines), verdicts.ts, canaries.ts,
 * faults.ts and capabilityProofs.ts. It holds no behaviour of its own.
 */
import type { Kysely } from 'kysely';
import type { Address } from 'viem';
import type { Logger } from '../../logger.ts';
import type {
  HardwareClaim,
  ProviderCommit,
  ProviderFailure,
  ProviderResult,
} from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Market } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import { createReputationLimitedScheduler } from '../scheduler/reputationLimitedScheduler.ts';
import type { Scheduler } from '../scheduler/types.ts';
import { createGroupCommit, directCommit } from '../store/groupCommit.ts';
import { type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { createTrainingRounds } from '../training/trainRounds.ts';
import { AdaptiveAuditPolicy, auditRate, economicAuditBound } from '../verification/auditPolicy.ts';
import { ALWAYS_AUDIT_UNITS } from '../verification/constants.ts';
import {
  concurrencyLimit,
  isTrusted,
  newReputation,
  parseReputation,
  type ReputationState,
  reputationScore,
} from '../verification/reputation.ts';
import { slashAmount } from '../verification/slashing.ts';
import {
  type CapabilityProofOptions,
  type CapabilityView,
  createCapabilityProofs,
} from './capabilityProofs.ts';
import { dispatch } from './dispatch.ts';
import { recordFault } from './faults.ts';
import { afterSettle } from './jobs.ts';
import { handleFailure, sweep } from './leases.ts';
import { publicEpochAt } from './publicReputation.ts';
import { handleCommit, handleResult } from './results.ts';
import {
  providerCacheChanged,
  providerConnected,
  providerDisconnected,
  providerDraining,
  replicaBeat,
} from './sessions.ts';
import { runningTrainJobs, workQueries } from './workQueries.ts';
import {
  type CanaryOptions,
  createWorkState,
  defaultVerificationEconomics,
  type ProviderHello,
  type ProviderLink,
  reputationOf,
  send,
  type VerificationEconomics,
  type WorkDeps,
  type WorkState,
} from './workState.ts';

/**
 * The work loop's API, as the coordinator's provider sessions and timers use it.
 *
 * @example
 * const loop: WorkLoop = createWorkLoop(deps);
 * await loop.providerConnected(link, hello);
 */
export type WorkLoop = {
  providerConnected(link: ProviderLink, hello: ProviderHello): Promise<void>;
  providerDisconnected(link: ProviderLink): Promise<void>;
  /** After each replica heartbeat: dead replicas' sessions closed, own ones reopened (sessions.ts). */
  replicaBeat(opts: { t: number; revived?: boolean; startup?: boolean }): Promise<void>;
  /** The provider will take no new work (it is draining before shutdown). */
  providerDraining(address: Address): Promise<void>;
  providerCacheChanged(address: Address, added: string[], removed: string[]): void;
  handleResult(address: Address, msg: ProviderResult): Promise<void>;
  /** Protocol v2: a provider's signed commitment to an output, before it reveals it. */
  handleCommit(address: Address, msg: ProviderCommit): Promise<void>;
  /** The session is authenticated and welcomed: the capability proof starts. */
  providerWelcomed(address: Address, hardware: HardwareClaim): Promise<void>;
  /** Capability proof: the answer's digest (stops the clock), then the uploaded answer. */
  handleCapabilityDigest(address: Address, msg: { challengeId: string; digest: string }): void;
  handleCapabilityAnswer(
    address: Address,
    msg: {
      challengeId: string;
      productCid: string;
      issuedAt?: number | undefined;
      signature?: string | undefined;
    },
  ): Promise<void>;
  handleFailure(address: Address, msg: ProviderFailure): Promise<void>;
  /** Assigns queued tasks to free providers. Safe to call often: runs are coalesced. */
  dispatch(): Promise<void>;
  /** Expires leases and fails jobs past their deadline. */
  sweep(): Promise<void>;
  /**
   * Closes training rounds whose last verdict committed before a restart but whose round was not
   * closed (the close runs after the verdict's transaction); idempotent. Run once at start.
   */
  resumeTraining(): Promise<void>;
  connectedProviders(): number;
  activeOf(address: string): number;
  /** The epoch whose start the public reputations show (publicReputation.ts). */
  publicEpoch(): number;
  /**
   * A provider's reputation (from the JSON passed: for GET /v1/providers, the one the current epoch
   * began with; or fresh) and the audit rate a result would be audited at with it.
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
 * What {@link createWorkLoop} is built from: the store and services it acts through, its
 * economics and options.
 *
 * @example
 * const options: WorkLoopOptions = { db, blobs, events, scheduler, chainId: 31337, log, metrics };
 */
export type WorkLoopOptions = {
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
  /** Other replicas share the store (PostgreSQL): see WorkDeps.shared. */
  shared?: boolean;
  /** This replica's id and heartbeat lease: see WorkDeps.replica. */
  replica?: { id: string; leaseMs: number };
  /** Test-only hook of the training round manager (trainRounds.ts). */
  beforeTrainRoundClose?: (jobId: string, round: number) => void;
  /** Who funded a provider's stake (chainFunderOf, funders.ts): replicas never share a funder. */
  funderOf?: (provider: string) => Promise<string | null>;
};

/**
 * Builds the loop's state and the services its modules act through (the reputation-limited
 * scheduler, the audit policy, capability proofs, query templates, the coalesced dispatcher).
 * Unit tests of the modules start here too, so they run the same wiring as the coordinator.
 *
 * @example
 * const { state, work } = createWorkContext({ db, blobs, events, scheduler, chainId: 31337, log, metrics });
 * await dispatch(state, work);
 */
export function createWorkContext(deps: WorkLoopOptions): { state: WorkState; work: WorkDeps } {
  const { db, log } = deps;
  const now = deps.now ?? Date.now;
  const econ = deps.verification ?? defaultVerificationEconomics();
  const state = createWorkState({
    verification: econ,
    slashable: slashAmount({ reward: econ.reward, stake: econ.stake }),
    canaries: deps.canaries,
    funderOf: deps.funderOf,
  });
  const repOf = (address: string): ReputationState => reputationOf(state, now, address);
  // Large tasks are audited more: from ALWAYS_AUDIT_UNITS reference units of pay, always.
  const audits = new AdaptiveAuditPolicy({
    seed: econ.seed,
    reputationOf: repOf,
    alwaysAuditAbove: econ.reward * ALWAYS_AUDIT_UNITS,
  });
  // New and doubtful providers get fewer concurrent leases (docs/verification.md, "Reputation").
  const scheduler = createReputationLimitedScheduler(deps.scheduler, (a) => concurrencyLimit(repOf(a)));
  const proofs = createCapabilityProofs({
    db,
    blobs: deps.blobs,
    log,
    now,
    chainId: deps.chainId,
    send: (address, msg) => send(state, address, msg),
    onFault: (trx, f) =>
      recordFault(state, work, trx, {
        provider: f.provider,
        taskId: f.taskId,
        jobId: null,
        kind: 'capability',
        evidence: f.evidence,
      }),
    ...(deps.capability ? { options: deps.capability } : {}),
  });
  const work: WorkDeps = {
    db,
    blobs: deps.blobs,
    events: deps.events,
    log,
    metrics: deps.metrics,
    chainId: deps.chainId,
    now,
    scheduler,
    market: deps.market,
    q: workQueries(db),
    stmt: templateRunner(deps.raw),
    // SQLite runs every statement on one connection: results waiting for it share a commit.
    commits: deps.raw ? createGroupCommit(db) : directCommit(db),
    shared: deps.shared,
    replica: deps.replica,
    audits,
    proofs,
    dispatch: () => dispatch(state, work),
    training: createTrainingRounds({
      db,
      blobs: deps.blobs,
      events: deps.events,
      log,
      now,
      ...(deps.beforeTrainRoundClose ? { beforeClose: deps.beforeTrainRoundClose } : {}),
    }),
  };
  return { state, work };
}

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
export function createWorkLoop(deps: WorkLoopOptions): WorkLoop {
  const { state, work } = createWorkContext(deps);
  const { proofs, scheduler, now } = work;
  const econ = state.econ;
  return {
    providerConnected: (link, hello) => providerConnected(state, work, link, hello),
    providerDisconnected: (link) => providerDisconnected(state, work, link),
    providerDraining: (address) => providerDraining(state, work, address),
    replicaBeat: (opts) => replicaBeat(state, work, opts),
    providerCacheChanged: (address, added, removed) => providerCacheChanged(work, address, added, removed),
    handleResult: (address, msg) => handleResult(state, work, address, msg),
    handleCommit: (address, msg) => handleCommit(state, work, address, msg),
    async providerWelcomed(address, hardware) {
      await proofs.start(address, hardware);
    },
    handleCapabilityDigest(address, msg) {
      proofs.digest(address, msg);
    },
    async handleCapabilityAnswer(address, msg) {
      await proofs.answer(address, msg);
    },
    handleFailure: (address, msg) => handleFailure(state, work, address, msg),
    dispatch: work.dispatch,
    sweep: () => sweep(state, work),
    async resumeTraining() {
      for (const j of await runningTrainJobs(work.db)) {
        afterSettle(state, work, j.id, { jobDone: false, cancelled: [], training: j.spec });
      }
    },
    connectedProviders() {
      return state.links.size;
    },
    publicEpoch() {
      return publicEpochAt(deps.market, now());
    },
    activeOf(address) {
      return scheduler.active(address);
    },
    verificationView(address, stored, storedCapability) {
      // Only what the caller passes (the public view passes the epoch's snapshot, publicReputation.ts),
      // never the loop's live copy.
      const rep = stored ? parseReputation(JSON.parse(stored)) : newReputation(now());
      const bound = economicAuditBound({
        cost: econ.honestCost,
        reward: econ.reward,
        slashable: state.slashable,
      });
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
