/**
 * Provider sessions as the work loop sees them: a provider connecting (its row, its reputation,
 * leases it lost while away, its scheduler entry), disconnecting (a grace before its leases move
 * elsewhere), draining before shutdown, and its model cache changing.
 */
import type { Address } from 'viem';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { parseReputation } from '../verification/reputation.ts';
import { expireCanaries } from './canaries.ts';
import { afterSettle, revoke } from './jobs.ts';
import { recordIdentity } from './kinship.ts';
import { failAttempt } from './leases.ts';
import {
  canaryLeasesOf,
  firstSeenOf,
  leasesOf,
  markDisconnected,
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
    recordIdentity(s, address, {
      remoteAddress: hello.remoteAddress,
      firstSeen: (await firstSeenOf(trx, address)) ?? t,
    });
    const stored = await storedReputation(trx, address);
    if (stored?.reputation)
      s.reputations.set(address.toLowerCase(), parseReputation(JSON.parse(stored.reputation)));
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
  await db.transaction().execute(async (trx) => {
    await markDisconnected(trx, address, t);
    // Give it a short grace to come back with its results before the work moves elsewhere.
    await shortenLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
    await shortenCanaryLeases(trx, address, t + DISCONNECT_GRACE_SEC * 1000);
    await d.market?.onDisconnected(trx, address, t);
    await events.append(trx, null, 'provider.disconnected', { address });
  });
  events.notify(null);
  d.metrics.providersConnected.set(s.links.size);
  d.log.info({ address }, 'provider disconnected');
}

/**
 * The provider will take no new work (it is draining before shutdown); its leases run on.
 *
 * @example
 * providerDraining(state, deps, address);
 */
export function providerDraining(s: WorkState, d: WorkDeps, address: Address): void {
  s.draining.add(address);
  d.log.info({ address }, 'provider draining');
}

/**
 * The provider's model cache changed: the scheduler prefers providers that hold a task's model.
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
  for (const cid of added) d.scheduler.setCached(address, cid, true);
  for (const cid of removed) d.scheduler.setCached(address, cid, false);
}
