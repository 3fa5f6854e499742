/**
 * Stake locked per lease (docs/verification.md "Stake locked per lease"). When a task is leased,
 * k × its pay (`STAKE_LOCK_MULTIPLE` × R_task) is locked from the provider's stake; the task's
 * verdict releases the lock, or slashes it when it faults the provider (the slash entry is then the
 * lock: F_task = k · R_task, so the slash grows with the task as the saving of skipping it does). A
 * provider is leased a task only while its free stake covers the lock:
 *
 *   free = bonded − Σ open locks − Σ slashes not yet applied on chain (less any withdrawn on review)
 *
 * so a cheater can never hold more work than its stake answers for, and a provider whose stake a
 * fault ate takes no more work until it tops up. `bonded` is the stake last read from the chain
 * (market), else the coordinator's assumed stake (`VerificationEconomics.stake`).
 *
 * Free stake is cached per provider for a short while and dropped whenever this process locks,
 * releases or slashes for it; a cache fill that raced such a change is discarded.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { SLASH_REWARD_MULTIPLE } from '../verification/constants.ts';
import type { WorkDeps, WorkState } from './workState.ts';

/** k: a lease locks k × the task's pay, and a fault on it slashes that lock. */
export const STAKE_LOCK_MULTIPLE = SLASH_REWARD_MULTIPLE;

/** How long a provider's cached free stake is used before it is read again (coordinator clock). */
const TALLY_TTL_MS = 60_000;

type Tally = { at: number; committed: bigint };
/** pending: stake of leases queued but not yet committed (a pipelined dispatch run), per provider. */
type Cache = { tallies: Map<string, Tally>; versions: Map<string, number>; pending: Map<string, bigint> };
const caches = new WeakMap<WorkState, Cache>();

function cacheOf(s: WorkState): Cache {
  let c = caches.get(s);
  if (!c) {
    c = { tallies: new Map(), versions: new Map(), pending: new Map() };
    caches.set(s, c);
  }
  return c;
}

/** Forgets a provider's cached free stake (its locks or slashes changed). */
export function invalidateStake(s: WorkState, provider: string): void {
  const c = cacheOf(s);
  const who = provider.toLowerCase();
  c.tallies.delete(who);
  c.versions.set(who, (c.versions.get(who) ?? 0) + 1);
}

/**
 * Counts `amount` as locked on the provider until the returned function is called: a lease whose
 * transaction is queued (dispatch.ts, pipelined) is not in the store yet, and the provider's next
 * lease in the same run must not find that stake free. Call it once the lease committed (its lock
 * is then in the store) or failed.
 *
 * @example
 * const done = reserveStake(state, provider, amount); committed.finally(done);
 */
export function reserveStake(s: WorkState, provider: string, amount: bigint): () => void {
  const { pending } = cacheOf(s);
  const who = provider.toLowerCase();
  pending.set(who, (pending.get(who) ?? 0n) + amount);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (pending.get(who) ?? 0n) - amount;
    if (left > 0n) pending.set(who, left);
    else pending.delete(who);
  };
}

/**
 * The stake a lease of a task paying `reward` locks: k × reward.
 *
 * @example
 * lockAmount(1_000_000n); // 20_000_000n
 */
export function lockAmount(reward: bigint): bigint {
  return reward * STAKE_LOCK_MULTIPLE;
}

/**
 * A provider's bonded stake: the chain's figure when the market read one, else the assumed stake.
 *
 * @example
 * const bonded = bondedStake(state, deps, provider);
 */
export function bondedStake(s: WorkState, d: WorkDeps, provider: string): bigint {
  return d.market?.stakeOf?.(provider) ?? s.econ.stake;
}

/**
 * Σ open locks + Σ slashes not yet applied on chain and not withdrawn, from the store: one
 * statement (a template, workQueries.ts), summed exactly here (amounts are base units as text).
 */
async function committedStake(d: WorkDeps, provider: string): Promise<bigint> {
  const rows = await d.stmt.all(d.db, d.q.committedStake, { who: provider.toLowerCase() });
  let n = 0n;
  for (const r of rows) n += BigInt(r.amount);
  return n;
}

/**
 * A provider's free stake: bonded − open locks − pending slashes (never below zero).
 *
 * @example
 * if ((await freeStake(state, deps, provider)) >= lock) lease();
 */
export async function freeStake(s: WorkState, d: WorkDeps, provider: string): Promise<bigint> {
  const cached = cachedFreeStake(s, d, provider);
  if (cached !== undefined) return cached;
  const c = cacheOf(s);
  const who = provider.toLowerCase();
  let tally = c.tallies.get(who);
  const now = d.now();
  if (!tally || now - tally.at >= TALLY_TTL_MS || now < tally.at) {
    const version = c.versions.get(who) ?? 0;
    const committed = await committedStake(d, who);
    tally = { at: now, committed };
    // A lock or slash written while this read ran may be missing from it: do not keep it then.
    if ((c.versions.get(who) ?? 0) === version) c.tallies.set(who, tally);
  }
  const free = bondedStake(s, d, who) - tally.committed;
  return free > 0n ? free : 0n;
}

/** The free stake from the cache, undefined when it must be read (no await on the hot path). */
function cachedFreeStake(s: WorkState, d: WorkDeps, provider: string): bigint | undefined {
  const tally = cacheOf(s).tallies.get(provider.toLowerCase());
  const now = d.now();
  if (!tally || now - tally.at >= TALLY_TTL_MS || now < tally.at) return undefined;
  const free = bondedStake(s, d, provider) - tally.committed;
  return free > 0n ? free : 0n;
}

/**
 * What a lease of a task whose lock is `amount` locks on this provider: the amount, but never more
 * than its whole bonded stake (a task estimated at more than the stake can still run, on a provider
 * with nothing else locked, and a fault on it slashes everything).
 *
 * @example
 * const locked = lockFor(state, deps, provider, lockAmount(reward));
 */
export function lockFor(s: WorkState, d: WorkDeps, provider: string, amount: bigint): bigint {
  const bonded = bondedStake(s, d, provider);
  return amount < bonded ? amount : bonded > 0n ? bonded : 0n;
}

/**
 * Connected providers whose free stake does not cover their lock of `amount` (lockFor): they may
 * not take the task. A provider with no stake at all never can.
 *
 * @example
 * for (const a of await stakeShort(state, deps, lockAmount(reward))) exclude.add(a);
 */
export async function stakeShort(s: WorkState, d: WorkDeps, amount: bigint): Promise<Set<string>> {
  const out = new Set<string>();
  const { pending } = cacheOf(s);
  for (const a of [...s.links.keys()]) {
    const need = lockFor(s, d, a, amount);
    const stored = cachedFreeStake(s, d, a) ?? (await freeStake(s, d, a));
    // Less what leases queued but not yet committed will lock (reserveStake).
    const free = pending.size === 0 ? stored : stored - (pending.get(a.toLowerCase()) ?? 0n);
    if (need <= 0n || free < need) out.add(a);
  }
  return out;
}

/**
 * Locks `amount` of the provider's stake for one lease (caller's transaction; if that does not
 * commit, the caller calls invalidateStake for the provider).
 *
 * @example
 * await lockStake(state, deps, trx, { assignmentId, provider, taskId, jobId, amount: lockAmount(reward), at: now });
 */
export async function lockStake(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  l: { assignmentId: string; provider: string; taskId: string; jobId: string; amount: bigint; at: number },
): Promise<void> {
  await d.stmt.run(trx, d.q.lockStake, {
    assignmentId: l.assignmentId,
    provider: l.provider.toLowerCase(),
    taskId: l.taskId,
    jobId: l.jobId,
    amount: l.amount.toString(),
    at: l.at,
  });
  // Counted into the cached tally rather than dropping it (which cost a read of the store per
  // lease): more locked only ever means less free. The caller drops the tally if its
  // transaction does not commit (dispatch.ts), so a lock rolled back is not counted for long.
  const c = cacheOf(s);
  const who = l.provider.toLowerCase();
  c.versions.set(who, (c.versions.get(who) ?? 0) + 1);
  const tally = c.tallies.get(who);
  if (tally) c.tallies.set(who, { at: tally.at, committed: tally.committed + l.amount });
}

/**
 * A task's verdict: every open lock of the task is released, except those of the `faulted`
 * providers, which are slashed. Returns each faulted provider's slashed lock (the amount its slash
 * entry carries); a faulted provider without a lock (a lease from before 0019) is absent.
 *
 * @example
 * const slashed = await settleTaskLocks(state, deps, trx, taskId, new Set([cheater]), now);
 */
export async function settleTaskLocks(
  s: WorkState,
  d: WorkDeps,
  trx: Transaction<Database>,
  taskId: string,
  faulted: ReadonlySet<string>,
  at: number,
  /** At most this is slashed per faulted provider (k × the task's verified pay; slashCapOf). */
  cap?: bigint,
): Promise<Map<string, bigint>> {
  const open = await d.stmt.all(trx, d.q.openTaskLocks, { taskId });
  const slashed = new Map<string, bigint>();
  for (const l of open) {
    const fault = faulted.has(l.provider);
    await d.stmt.run(trx, d.q.settleLock, {
      id: l.assignment_id,
      status: fault ? 'slashed' : 'released',
      at,
    });
    if (fault) slashed.set(l.provider, (slashed.get(l.provider) ?? 0n) + BigInt(l.amount));
    const total = slashed.get(l.provider);
    if (cap !== undefined && total !== undefined && total > cap) slashed.set(l.provider, cap);
    invalidateStake(s, l.provider);
  }
  return slashed;
}

/**
 * Releases the lock of one lease that ended without a fault (no result in time, a failure report
 * before any commitment).
 *
 * @example
 * await releaseLease(state, trx, assignmentId, provider, now);
 */
export async function releaseLease(
  s: WorkState,
  trx: Transaction<Database>,
  assignmentId: string,
  provider: string,
  at: number,
): Promise<void> {
  await trx
    .updateTable('stake_locks')
    .set({ status: 'released', settled_at: at })
    .where('assignment_id', '=', assignmentId)
    .where('status', '=', 'locked')
    .execute();
  invalidateStake(s, provider);
}

/**
 * Releases every open lock of a job that failed or was cancelled (no verdict will come).
 *
 * @example
 * await releaseJobLocks(state, trx, jobId, now);
 */
export async function releaseJobLocks(
  s: WorkState,
  trx: Transaction<Database>,
  jobId: string,
  at: number,
): Promise<void> {
  const open = await trx
    .selectFrom('stake_locks')
    .select('provider')
    .where('job_id', '=', jobId)
    .where('status', '=', 'locked')
    .execute();
  if (open.length === 0) return;
  await trx
    .updateTable('stake_locks')
    .set({ status: 'released', settled_at: at })
    .where('job_id', '=', jobId)
    .where('status', '=', 'locked')
    .execute();
  for (const l of open) invalidateStake(s, l.provider);
}
