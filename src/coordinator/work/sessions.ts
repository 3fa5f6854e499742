/**
 * Provider sessions as the work loop sees them: a provider connecting (its row, its reputation,
 * leases it lost while away, its scheduler entry), disconnecting (a grace before its leases move
 * elsewhere), draining before shutdown, and its model cache changing.
 */

import { type Kysely, sql } from 'kysely';
import type { Address } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { DISCONNECT_GRACE_SEC, MAX_ADVERTISED_CACHE } from '../../protocol/constants.ts';
import type { Database } from '../store/schema.ts';
import {
  closeSession,
  deadSessions,
  liveSessionElsewhere,
  ownOpenSession,
  providersOnLiveReplicas,
  reopenSession,
} from '../store/sessionOwnership.ts';
import { parseReputation, type ReputationState } from '../verification/reputation.ts';
import { expireCanaries } from './canaries.ts';
import { afterSettle, jobInfo, revoke } from './jobs.ts';
import { networkPrefix, recordIdentity } from './kinship.ts';
import { restoreLease } from './leaseQueries.ts';
import { failAttempt } from './leases.ts';
import {
  canaryLeasesOf,
  firstSeenOf,
  leasesOf,
  markDisconnected,
  restoreCanaryLeases,
  shortenCanaryLeases,
  shortenLeases,
  storedReputation,
  upsertConnected,
} from './providerQueries.ts';
import { forgetRenderer, recordRenderer } from './renderEligibility.ts';
import type { Lease, ProviderHello, ProviderLink, WorkDeps, WorkState } from './workState.ts';

/**
 * A provider's session is authenticated: it becomes the provider's link, its row and reputation
 * are loaded, leases the store holds for it that it no longer knows about are failed (they go back
 * to the queue), and its slots join the scheduler. A newer session replaces an older one.
 *
 * @example
 * await providerConnected(state, deps, link, hello);
 */
export async function providerConnected(
  s: WorkState,
  d: WorkDeps,
  link: ProviderLink,
  hello: ProviderHello,
): Promise<void> {
  const { db, events, log, metrics, scheduler } = d;
  const address = link.address;
  const old = s.links.get(address);
  // Before it can be dispatched to: GPU trust proven for another claim does not carry over (the
  // welcome's proof, capabilityProofs.ts `start`, comes after this session is dispatchable).
  d.proofs.claim(address, hello.hardware);
  s.links.set(address, link);
  recordRenderer(s, address, hello.hardware);
  s.draining.delete(address);
  const t = d.now();
  // Leases this provider still holds in the store: those it no longer knows about were lost
  // (for example the assign message died with a coordinator restart) and go back to the queue.
  const leased = await leasesOf(db, address);
  const known = new Set(hello.inFlight);
  const lost = leased.filter((a) => !known.has(a.id));
  const kept = leased.length - lost.length;
  const revoked: Lease[] = [];
  const completed: string[] = [];
  await db.transaction().execute(async (trx) => {
    await upsertConnected(trx, address, hello, t);
    // Kept in the store so that every replica can tell this provider's kin (canary-review checks).
    await trx
      .updateTable('providers')
      .set({ network_prefix: networkPrefix(hello.remoteAddress) ?? '' })
      .where('address', '=', address)
      .execute();
    recordIdentity(s, address, {
      remoteAddress: hello.remoteAddress,
      firstSeen: (await firstSeenOf(trx, address)) ?? t,
    });
    const stored = await storedReputation(trx, address);
    if (stored?.reputation)
      s.reputations.set(address.toLowerCase(), parseReputation(JSON.parse(stored.reputation)));
    // Leases it came back with get their deadline back: its disconnect (here, or its replica's
    // death) had shortened them to the reconnect grace.
    for (const a of leased) {
      if (!known.has(a.id)) continue;
      const timeoutSec = (await jobInfo(s, d, a.job_id, trx))?.spec.taskTimeoutSec;
      if (timeoutSec !== undefined) await restoreLease(trx, a.id, a.created_at + timeoutSec * 1000);
    }
    // Canary leases it came back with too (a canary looks like any task to the provider).
    await restoreCanaryLeases(trx, address, [...known]);
    for (const a of lost) {
      const r = await failAttempt(
        s,
        d,
        trx,
        a,
        'expired',
        'PLX_LEASE_LOST',
        'the provider reconnected without this task',
      );
      revoked.push(...r.cancelled);
      if (r.jobDone) completed.push(a.job_id);
    }
    await d.market?.onConnected(trx, hello, t);
    // The session row the market just opened belongs to this replica (it holds the socket).
    if (d.replica) await ownOpenSession(trx, address, d.replica.id);
    await events.append(trx, null, 'provider.connected', {
      address,
      slots: hello.slots,
      region: hello.region,
    });
  });
  await expireCanaries(s, d, { provider: address, keep: known });
  const canaryKept = await canaryLeasesOf(db, address);
  const memoryMiB = Math.floor(hello.hardware.memoryBytes / 1024 / 1024);
  scheduler.upsertProvider({
    address,
    slots: hello.slots,
    memoryMiB,
    gpu: hello.hardware.executionProviders.includes('cuda') && hello.hardware.gpus.length > 0,
    cached: hello.cached,
    active: kept + canaryKept.length,
  });
  revoke(s, d, revoked, 'job failed');
  for (const jobId of completed) afterSettle(s, d, jobId, { jobDone: true, cancelled: [] });
  events.notify(null);
  metrics.providersConnected.set(s.links.size);
  if (old && old !== link) log.info({ address }, 'provider replaced an older session');
  log.info({ address, slots: hello.slots, kept, lost: lost.length }, 'provider connected');
  void d.dispatch();
}

/**
 * A provider's session ended. An older session of a provider that already reconnected is
 * ignored; otherwise the provider leaves the scheduler and its leases get a short grace
 * (DISCONNECT_GRACE_SEC) to come back with results before the sweep moves them elsewhere.
 *
 * @example
 * await providerDisconnected(state, deps, link);
 */
export async function providerDisconnected(s: WorkState, d: WorkDeps, link: ProviderLink): Promise<void> {
  const { db, events } = d;
  const address = link.address;
  if (s.links.get(address) !== link) return; // an older session of a provider that reconnected
  s.links.delete(address);
  forgetRenderer(s, address);
  s.draining.delete(address);
  d.scheduler.removeProvider(address);
  d.proofs.stop(address);
  const t = d.now();
  const moved = await db.transaction().execute(async (trx) => {
    // Already connected to another live replica (which closed this replica's session row when it
    // opened its own): this socket was an old one, and the provider's state is the other's.
    if (d.replica && (await liveSessionElsewhere(trx, address, d.replica.id, t - d.replica.leaseMs)))
      return true;
    await markDisconnected(trx, address, t);
    // Give it a short grace to come back with its results before the work moves elsewhere.
    await shortenLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
    await shortenCanaryLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
    await d.market?.onDisconnected(trx, address, t);
    await events.append(trx, null, 'provider.disconnected', { address });
    return false;
  });
  d.metrics.providersConnected.set(s.links.size);
  if (moved) {
    d.log.info({ address }, 'provider disconnected here, connected to another replica');
    return;
  }
  events.notify(null);
  d.log.info({ address }, 'provider disconnected');
}

/**
 * The provider will take no new work (it is draining before shutdown); its leases run on. Its open
 * session is marked draining now: uptime (emission) and capacity (utilization) stop counting there
 * (security review p9: a provider that drained at once stayed connected and kept its emission
 * share; settlement/epochComputation.ts `sessionEnd`). Reconnecting opens a new session.
 *
 * @example
 * await providerDraining(state, deps, address);
 */
export async function providerDraining(s: WorkState, d: WorkDeps, address: Address): Promise<void> {
  s.draining.add(address);
  await markDraining(d.db, address, d.now());
  d.log.info({ address }, 'provider draining');
}

/** Marks a provider's open session as draining from `t` (once: the first drain counts). */
async function markDraining(ex: Kysely<Database>, address: string, t: number): Promise<void> {
  await ex
    .updateTable('provider_sessions')
    .set({ draining_at: t })
    .where('provider', '=', address.toLowerCase())
    .where('disconnected_at', 'is', null)
    .where('draining_at', 'is', null)
    .execute();
}

/**
 * The provider's model cache changed: the scheduler prefers providers that hold a task's model.
 * A change that would take the advertised set over MAX_ADVERTISED_CACHE is refused whole
 * (PLX_CACHE_LIMIT_EXCEEDED, a strike in the session) before anything is applied; a change costs
 * O((|added| + |removed|) · log n) (review s12 F1).
 *
 * @example
 * providerCacheChanged(deps, address, [modelCid], []);
 */
export function providerCacheChanged(
  d: WorkDeps,
  address: Address,
  added: string[],
  removed: string[],
): void {
  const held = d.scheduler.cachedOf?.(address);
  if (!held) return; // not (or no longer) in the scheduler: nothing to prefer it for
  // The size the set would have: (held ∪ added) \ removed, as the updates below apply them.
  const adding = new Set<string>();
  for (const cid of added) if (!held.has(cid)) adding.add(cid);
  let size = held.size + adding.size;
  const removing = new Set<string>();
  for (const cid of removed) if (!removing.has(cid) && (held.has(cid) || adding.has(cid))) removing.add(cid);
  size -= removing.size;
  if (size > MAX_ADVERTISED_CACHE) {
    throw new PlexusError(
      'PLX_CACHE_LIMIT_EXCEEDED',
      `this change would advertise ${size} cached blobs; at most ${MAX_ADVERTISED_CACHE} are tracked per provider`,
      { details: { advertised: held.size, limit: MAX_ADVERTISED_CACHE } },
    );
  }
  for (const cid of adding) d.scheduler.setCached(address, cid, true);
  for (const cid of removing) d.scheduler.setCached(address, cid, false);
}

/**
 * This replica's part in session ownership, after each heartbeat (store/replicaRegistry.ts):
 * sessions of dead replicas are closed at their owner's last heartbeat, and their providers, when
 * no live replica holds them, are marked disconnected with the usual grace on their leases (as if
 * their socket had closed here). With `revived` (this replica's own heartbeat had lapsed, so the
 * others may have closed its sessions) the sessions of providers it still holds are reopened.
 * `startup` on a store of its own (SQLite): every open session is a crashed predecessor's and is
 * only closed (at the provider's last sighting), as a single coordinator always did.
 *
 * @example
 * await replicaBeat(state, deps, { t: Date.now(), revived: false });
 */
export async function replicaBeat(
  s: WorkState,
  d: WorkDeps,
  opts: { t: number; revived?: boolean; startup?: boolean },
): Promise<void> {
  const { db, events, log } = d;
  const r = d.replica;
  if (!r) return;
  const { t } = opts;
  const aliveSince = t - r.leaseMs;
  if (opts.revived && s.links.size > 0) {
    let reopened = 0;
    await db.transaction().execute(async (trx) => {
      for (const address of s.links.keys()) {
        if (await reopenSession(trx, address, r.id, t)) {
          reopened++;
          if (s.draining.has(address)) await markDraining(trx, address, t);
        }
        await trx
          .updateTable('providers')
          .set({ connected: 1, last_seen: t })
          .where('address', '=', address)
          .execute();
      }
    });
    log.warn({ reopened }, 'this replica missed its heartbeat lease: its sessions are reopened');
  }
  // Other replicas update the reputations of this replica's providers too (a verdict is settled
  // wherever its last result arrives): the copies its scheduler and audit rates read are refreshed
  // from the store once a beat (updates themselves always read the stored row: faults.ts).
  if (d.shared && s.links.size > 0) await refreshReputations(s, d, [...s.links.keys()]);
  const alone = opts.startup === true && !d.shared;
  const dead = await deadSessions(db, r.id, alone ? undefined : aliveSince);
  if (dead.length === 0) return;
  let disconnected = 0;
  const closed = await db.transaction().execute(async (trx) => {
    let n = 0;
    for (const x of dead) if (await closeSession(trx, x.id, x.endedAt)) n++;
    if (alone) return n;
    const providers = [...new Set(dead.map((x) => x.provider))];
    const live = await providersOnLiveReplicas(trx, providers, aliveSince);
    const gone = providers.filter((p) => !live.has(p));
    if (gone.length === 0) return n;
    const rows = await trx
      .selectFrom('providers')
      .select('address')
      .where(sql<string>`lower(address)`, 'in', gone)
      .where('connected', '=', 1)
      .execute();
    for (const { address } of rows) {
      if (s.links.has(address as Address)) continue;
      await markDisconnected(trx, address, t);
      await shortenLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
      await shortenCanaryLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
      await events.append(trx, null, 'provider.disconnected', { address, replicaDied: true });
      disconnected++;
    }
    return n;
  });
  if (disconnected > 0) events.notify(null);
  if (closed > 0)
    log.info(
      { closed, disconnected, replicas: [...new Set(dead.map((x) => x.replica))] },
      'closed the sessions of dead coordinator replicas',
    );
}

const REPUTATION_FIELDS = [
  'alpha',
  'beta',
  'consecutiveValid',
  'verifiedValid',
  'faults',
  'timeouts',
  'updatedAt',
] as const satisfies readonly (keyof ReputationState)[];

/**
 * Reloads the cached reputations of `addresses` from the store (those with a stored one), and
 * tells the scheduler of each that changed.
 *
 * @example
 * await refreshReputations(state, deps, [...state.links.keys()]);
 */
export async function refreshReputations(s: WorkState, d: WorkDeps, addresses: string[]): Promise<void> {
  const lower = addresses.map((a) => a.toLowerCase());
  for (let i = 0; i < lower.length; i += 500) {
    const rows = await d.db
      .selectFrom('providers')
      .select(['address', 'reputation'])
      .where(sql<string>`lower(address)`, 'in', lower.slice(i, i + 500))
      .where('reputation', 'is not', null)
      .execute();
    for (const r of rows) {
      const address = r.address.toLowerCase();
      const cached = s.reputations.get(address);
      const stored = parseReputation(JSON.parse(r.reputation!));
      // Unchanged: no scheduler refresh (a refresh rebuilds the dispatcher's ranked view).
      if (cached && REPUTATION_FIELDS.every((k) => cached[k] === stored[k])) continue;
      s.reputations.set(address, stored);
      d.scheduler.refresh(address);
    }
  }
}
