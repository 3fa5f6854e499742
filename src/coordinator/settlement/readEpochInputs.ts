/**
 * The reads of closing an epoch: everything `computeEpoch` (epochComputation.ts) needs, gathered
 * from the store and the chain into plain data. Chain reads happen before the closing
 * transaction (`readChainInputs`), so a slow or failing RPC never holds the store's lock; the
 * store's view of sessions, faults, prices and balances is read inside it (`readStoreInputs`),
 * consistent with what the transaction then writes.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Address } from 'viem';
import { getEscrowBalance } from '../../chain/actions/client/getEscrowBalance.ts';
import { getProvider } from '../../chain/actions/provider/getProvider.ts';
import type { PlexusReader } from '../../chain/types.ts';
import type { HardwareClaim, OnnxInferSpec } from '../../protocol/schemas.ts';
import { scoreSensors } from '../../sensors/scoring/scoreSensors.ts';
import { readBalances } from '../ledger/readBalances.ts';
import { UNVERIFIED_REGION } from '../market/constants.ts';
import type { Market } from '../market/createMarket.ts';
import type { Database } from '../store/schema.ts';
import type { EpochInputs } from './epochComputation.ts';
import { notWithdrawn } from './slashCursor.ts';

/**
 * The epoch being closed and its window (ms).
 *
 * @example
 * const w: EpochWindow = { epoch, startsAt: market.clock.startsAt(epoch), endsAt: market.clock.endsAt(epoch) };
 */
export type EpochWindow = { epoch: number; startsAt: number; endsAt: number };

/**
 * The inputs read before the closing transaction.
 *
 * @example
 * const pre: ChainInputs = await readChainInputs(db, reader, w);
 */
export type ChainInputs = Pick<
  EpochInputs,
  'unsettled' | 'slashRequests' | 'stakeHeld' | 'activeOnChain' | 'sensorScores'
>;

/**
 * The inputs read inside the closing transaction.
 *
 * @example
 * const inStore: StoreInputs = await readStoreInputs(trx, market, w);
 */
export type StoreInputs = Pick<
  EpochInputs,
  | 'sessions'
  | 'faulted'
  | 'providers'
  | 'providerBalances'
  | 'epochBalances'
  | 'tasksSettled'
  | 'leases'
  | 'prices'
>;

/**
 * Reads, before the closing transaction: the clients' unsettled charges and their on-chain escrow,
 * the pending slash requests and each slashed provider's on-chain stake, which providers online
 * in the epoch are active on chain, and the sensor devices' scores (CPU work, kept out of the
 * transaction too).
 *
 * @example
 * const pre = await readChainInputs(db, reader, { epoch: 4, startsAt, endsAt });
 */
export async function readChainInputs(
  db: Kysely<Database>,
  chain: PlexusReader,
  w: EpochWindow,
): Promise<ChainInputs> {
  const unsettled: ChainInputs['unsettled'] = [];
  for (const [account, amount] of await readBalances(db, {
    prefix: 'client:',
    maxEpoch: w.epoch,
    beforeCloseOf: w.epoch,
  })) {
    const m = /^client:(0x[0-9a-f]{40}):unsettled$/.exec(account);
    if (m && amount > 0n) unsettled.push({ client: m[1] as Address, amount, escrow: 0n });
  }
  for (const u of unsettled) u.escrow = (await getEscrowBalance(chain, u.client)).balance;
  const slashRequests = await pendingSlashRequests(db, w.endsAt);
  const stakeHeld: ChainInputs['stakeHeld'] = [];
  for (const p of new Set(slashRequests.map((r) => r.provider.toLowerCase()))) {
    const rec = await getProvider(chain, p as Address);
    stakeHeld.push({ provider: p, held: rec.stake + rec.unbonding });
  }
  const online = await db
    .selectFrom('provider_sessions')
    .select('provider')
    .distinct()
    .where('connected_at', '<', w.endsAt)
    .where((eb) => eb.or([eb('disconnected_at', 'is', null), eb('disconnected_at', '>', w.startsAt)]))
    .execute();
  const activeOnChain: string[] = [];
  for (const { provider } of online) {
    if ((await getProvider(chain, provider as Address)).active) activeOnChain.push(provider.toLowerCase());
  }
  const sensorScores = await scoreSensors(db, { fromMs: w.startsAt, toMs: w.endsAt });
  return { unsettled, slashRequests, stakeHeld, activeOnChain, sensorScores };
}

/**
 * Reads, inside the closing transaction: provider sessions, faults and records, the ledger
 * balances the rewards tree and the epoch's figures start from, the epoch's leases, and each
 * resource class's base price.
 *
 * @example
 * const inStore = await readStoreInputs(trx, market, { epoch: 4, startsAt, endsAt });
 */
export async function readStoreInputs(
  trx: Transaction<Database>,
  market: Market,
  w: EpochWindow,
): Promise<StoreInputs> {
  const { epoch, startsAt, endsAt } = w;
  const sessions = (
    await trx
      .selectFrom('provider_sessions')
      .select(['provider', 'slots', 'connected_at', 'disconnected_at', 'draining_at'])
      .where('connected_at', '<', endsAt)
      .where((eb) => eb.or([eb('disconnected_at', 'is', null), eb('disconnected_at', '>', startsAt)]))
      .execute()
  ).map((s) => ({
    provider: s.provider,
    slots: s.slots,
    connectedAt: s.connected_at,
    disconnectedAt: s.disconnected_at,
    // Only a session that drained says so: a bundle without drains reads as before 0048.
    ...(s.draining_at !== null ? { drainingAt: Number(s.draining_at) } : {}),
  }));
  const faulted = [
    ...new Set(
      (
        await trx
          .selectFrom('verification_faults')
          .select('provider')
          .where('created_at', '>=', startsAt)
          .where('created_at', '<', endsAt)
          .execute()
      ).map((f) => f.provider.toLowerCase()),
    ),
  ];
  const proofs = await capabilityAsOf(trx, endsAt);
  const providers = (await trx.selectFrom('providers').select(['address', 'hardware']).execute()).map(
    (p) => ({
      address: p.address.toLowerCase(),
      // The region emission's bonus sees: one the coordinator corroborated. The hello's region is a
      // free string nothing checks (a provider claiming "zz-nowhere" took +40%: review p9), so none
      // is corroborated yet and every provider is UNVERIFIED_REGION: no region bonus until regions
      // are verified (docs/market.md "Emission"). `p.region` stays the provider's claim in the API.
      region: UNVERIFIED_REGION,
      hardware: JSON.parse(p.hardware) as HardwareClaim,
      capability: proofs.get(p.address.toLowerCase()) ?? null,
    }),
  );
  const balances = (m: Map<string, bigint>) => [...m].map(([account, balance]) => ({ account, balance }));
  const providerBalances = balances(
    await readBalances(trx, { prefix: 'provider:', maxEpoch: epoch, beforeCloseOf: epoch }),
  );
  const epochBalances = balances(await readBalances(trx, { epoch, beforeCloseOf: epoch }));
  const tasksSettled = Number(
    (
      await trx
        .selectFrom('ledger_entries')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('epoch', '=', epoch)
        .where('kind', '=', 'charge')
        .executeTakeFirstOrThrow()
    ).n,
  );
  const leases = (
    await trx
      .selectFrom('assignments')
      .innerJoin('jobs', 'jobs.id', 'assignments.job_id')
      .select(['assignments.provider', 'assignments.created_at', 'assignments.finished_at', 'jobs.spec'])
      .where('assignments.created_at', '<', endsAt)
      .where((eb) =>
        eb.or([eb('assignments.finished_at', 'is', null), eb('assignments.finished_at', '>', startsAt)]),
      )
      .execute()
  ).map((l) => ({
    provider: l.provider,
    createdAt: l.created_at,
    finishedAt: l.finished_at,
    gpu: Boolean((JSON.parse(l.spec) as OnnxInferSpec).resources.gpu),
  }));
  const prices: StoreInputs['prices'] = [];
  for (const cls of await market.classes(trx)) {
    prices.push({ class: cls, basePrice: await market.basePrice(trx, cls, epoch) });
  }
  return { sessions, faulted, providers, providerBalances, epochBalances, tasksSettled, leases, prices };
}

/**
 * Each provider's capability as of `endsAt`: its latest capability proof recorded before the epoch
 * ended (proven only when that proof passed), in the shape `provenCapacity` reads. Not the live
 * `providers.capability`: a proof answered after the epoch (a provider re-challenged when it
 * reconnects to a restarted coordinator, say) must not change the epoch's emission, or a re-close
 * of a reopened epoch would share it differently from its first close — or not at all, while the
 * first close's emission entries stay in the books (the InsufficientBacking revert this fixed).
 *
 * @example
 * const caps = await capabilityAsOf(trx, w.endsAt); // Map { '0xab…' => '{"proven":true,"gflops":3.1,…}' }
 */
async function capabilityAsOf(trx: Transaction<Database>, endsAt: number): Promise<Map<string, string>> {
  const rows = await trx
    .selectFrom('capability_proofs as c')
    .innerJoin(
      (eb) =>
        eb
          .selectFrom('capability_proofs')
          .select(['provider', (e) => e.fn.max('created_at').as('last')])
          .where('created_at', '<', endsAt)
          .groupBy('provider')
          .as('l'),
      (join) => join.onRef('l.provider', '=', 'c.provider').onRef('l.last', '=', 'c.created_at'),
    )
    .select([
      'c.provider',
      'c.hardware_class',
      'c.outcome',
      'c.gflops',
      'c.created_at',
      'c.challenge_id',
      'c.signature',
    ])
    .orderBy('c.challenge_id')
    .execute();
  const out = new Map<string, string>();
  for (const r of rows) {
    const view = {
      class: r.hardware_class,
      // A passing proof counts only signed (0079): the evidence carries its signed answer, which a
      // validator checks (capabilityEvidence.ts). An unsigned one (an older agent, or recorded
      // before 0079) earns no emission until the provider's next proof.
      proven: r.outcome === 'passed' && r.signature != null,
      gflops: r.gflops,
      checkedAt: r.created_at,
    };
    // Two proofs recorded in the same millisecond: the first by challenge id, the same every read.
    if (!out.has(r.provider.toLowerCase())) out.set(r.provider.toLowerCase(), JSON.stringify(view));
  }
  return out;
}

/**
 * Every slash no close applied yet, stamped before `endsAt`, not withdrawn on review, whatever its
 * id: one committed late (PostgreSQL) or stamped before an epoch's end but written after a later
 * one is applied by the next close (slashCursor.ts).
 *
 * @example const requests = await pendingSlashRequests(db, w.endsAt);
 */
export async function pendingSlashRequests(
  db: Kysely<Database>,
  endsAt: number,
): Promise<ChainInputs['slashRequests']> {
  return (
    await db
      .selectFrom('slashes')
      .select(['id', 'provider', 'amount'])
      .where('applied_epoch', 'is', null)
      .where('created_at', '<', endsAt)
      // A slash withdrawn on review is never applied.
      .where(notWithdrawn)
      .orderBy('id')
      .execute()
  ).map((r) => ({ id: r.id, provider: r.provider, amount: BigInt(r.amount) }));
}
