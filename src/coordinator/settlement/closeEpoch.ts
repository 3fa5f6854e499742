import type { Kysely } from 'kysely';
import { type Address, type Hex, zeroHash } from 'viem';
import { getEscrowBalance } from '../../chain/actions/client/getEscrowBalance.ts';
import { getProvider } from '../../chain/actions/provider/getProvider.ts';
import { MAX_EMISSION_PER_EPOCH } from '../../chain/constants.ts';
import { buildRewardsTree } from '../../chain/merkle/buildRewardsTree.ts';
import type { EpochPayload, PlexusReader } from '../../chain/types.ts';
import type { HardwareClaim, OnnxInferSpec } from '../../protocol/schemas.ts';
import { shareSensorEmission } from '../../sensors/rewards/shareSensorEmission.ts';
import { scoreSensors, storeScores } from '../../sensors/scoring/scoreSensors.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import { bigMin } from '../market/bigMath.ts';
import { CPU_CLASS } from '../market/constants.ts';
import type { Market } from '../market/createMarket.ts';
import { nextBasePrice } from '../market/nextBasePrice.ts';
import { provenCapacity } from '../market/provenCapacity.ts';
import { gpuClassOf } from '../market/resourceClass.ts';
import { shareEmission } from '../market/shareEmission.ts';
import type { Database } from '../store/schema.ts';

/** Figures of a closed epoch (decimal base units), as GET /v1/epochs shows them. */
export type EpochSummary = {
  tasksSettled: number;
  providerEarnings: string;
  clientCharges: string;
  protocolFees: string;
  slashed: string;
  emission: string;
};

/** An epoch payload as stored (bigints as decimal strings). */
export function payloadToJson(p: EpochPayload): string {
  return JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Parses a stored payload. */
export function payloadFromJson(s: string): EpochPayload {
  const j = JSON.parse(s) as {
    epoch: string;
    rewardsRoot: Hex;
    totalEarned: string;
    charges: { client: Address; amount: string }[];
    slashes: { provider: Address; amount: string }[];
    emission: string;
  };
  return {
    epoch: BigInt(j.epoch),
    rewardsRoot: j.rewardsRoot,
    totalEarned: BigInt(j.totalEarned),
    charges: j.charges.map((c) => ({ client: c.client, amount: BigInt(c.amount) })),
    slashes: j.slashes.map((s) => ({ provider: s.provider, amount: BigInt(s.amount) })),
    emission: BigInt(j.emission),
  };
}

/**
 * Cumulative lifetime earnings per provider over entries of epochs ≤ `epoch` (the rewards tree's
 * leaves), from the ledger alone.
 *
 * @example
 * const earned = await cumulativeEarnings(db, 4); // Map { '0xabc…' => 123n }
 */
export async function cumulativeEarnings(db: Kysely<Database>, epoch: number): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const [account, bal] of await readBalances(db, { prefix: 'provider:', maxEpoch: epoch })) {
    const m = /^provider:(0x[0-9a-f]{40}):earnings$/.exec(account);
    if (m && bal < 0n) out.set(m[1]!, -bal);
  }
  return out;
}

/**
 * The rewards root and total of a set of cumulative earnings (zero root when nobody earned).
 *
 * @example
 * const { root, totalEarned, dump } = rewardsOf(earned);
 */
export function rewardsOf(earned: Map<string, bigint>): {
  root: Hex;
  totalEarned: bigint;
  dump: string | null;
} {
  const entries = [...earned]
    .filter(([, v]) => v > 0n)
    .map(([account, cumulativeAmount]) => ({ account: account as Address, cumulativeAmount }));
  if (entries.length === 0) return { root: zeroHash, totalEarned: 0n, dump: null };
  const t = buildRewardsTree(entries);
  return {
    root: t.root,
    totalEarned: t.totalEarned,
    dump: JSON.stringify(t.tree.dump(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  };
}

/** Milliseconds two intervals overlap. */
function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * Closes an epoch: in ONE store transaction it collects the clients' unsettled charges (capped at
 * their on-chain escrow; a shortfall becomes bad debt), applies pending slashes (capped at the
 * provider's on-chain stake), shares the epoch's emission, builds the cumulative rewards tree,
 * sets the next epoch's base prices, and stores the payload with status `closing`. Chain reads
 * happen before the transaction; a crash anywhere leaves either nothing or everything written.
 */
export async function closeEpoch(deps: {
  db: Kysely<Database>;
  market: Market;
  chain: PlexusReader;
  epoch: number;
  emissionPerEpoch: bigint;
  /** Sensor emission of the epoch, shared by device owners by quality (docs/sensors.md). */
  sensorEmissionPerEpoch?: bigint;
  now: number;
}): Promise<void> {
  const { db, market, epoch } = deps;
  const { startsAt, endsAt } = { startsAt: market.clock.startsAt(epoch), endsAt: market.clock.endsAt(epoch) };
  // --- chain reads first ---
  const unsettled = [...(await readBalances(db, { prefix: 'client:', maxEpoch: epoch }))].flatMap(
    ([account, bal]) => {
      const m = /^client:(0x[0-9a-f]{40}):unsettled$/.exec(account);
      return m && bal > 0n ? [{ client: m[1] as Address, amount: bal }] : [];
    },
  );
  const escrow = new Map<string, bigint>();
  for (const u of unsettled) escrow.set(u.client, (await getEscrowBalance(deps.chain, u.client)).balance);
  const through = Number(
    (
      await db
        .selectFrom('market_meta')
        .select('value')
        .where('key', '=', 'slashes_applied_through')
        .executeTakeFirst()
    )?.value ?? '0',
  );
  const slashRows = await db
    .selectFrom('slashes')
    .select(['id', 'provider', 'amount'])
    .where('id', '>', through)
    .where('created_at', '<', endsAt)
    .orderBy('id')
    .execute();
  const requested = new Map<string, bigint>();
  for (const r of slashRows)
    requested.set(
      r.provider.toLowerCase(),
      (requested.get(r.provider.toLowerCase()) ?? 0n) + BigInt(r.amount),
    );
  const held = new Map<string, bigint>();
  for (const p of requested.keys()) {
    const rec = await getProvider(deps.chain, p as Address);
    held.set(p, rec.stake + rec.unbonding);
  }

  // Emission goes only to providers active on chain (registered, staked, not unbonding): an
  // unstaked identity cannot farm emission by connecting.
  const online = await db
    .selectFrom('provider_sessions')
    .select('provider')
    .distinct()
    .where('connected_at', '<', endsAt)
    .where((eb) => eb.or([eb('disconnected_at', 'is', null), eb('disconnected_at', '>', startsAt)]))
    .execute();
  const active = new Set<string>();
  for (const { provider } of online) {
    if ((await getProvider(deps.chain, provider as Address)).active) active.add(provider.toLowerCase());
  }

  // Sensor devices' quality over the epoch (CPU work, before the transaction).
  const sensorScores = await scoreSensors(db, { fromMs: startsAt, toMs: endsAt });

  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('epochs').select('status').where('epoch', '=', epoch).executeTakeFirst();
    if (row && row.status !== 'open') return; // closed already (a replay)
    const t = deps.now;
    // Charges.
    const charges: { client: Address; amount: bigint }[] = [];
    for (const u of unsettled) {
      const bal = escrow.get(u.client) ?? 0n;
      const collect = u.amount < bal ? u.amount : bal;
      if (collect > 0n) {
        charges.push({ client: u.client, amount: collect });
        await postEntry(
          trx,
          {
            ref: `epoch:${epoch}:charges:${u.client}`,
            kind: 'settle-charges',
            epoch,
            postings: [
              { account: accounts.settlement, amount: collect },
              { account: accounts.clientUnsettled(u.client), amount: -collect },
            ],
          },
          t,
        );
      }
      if (collect < u.amount) {
        await postEntry(
          trx,
          {
            ref: `epoch:${epoch}:bad-debt:${u.client}`,
            kind: 'bad-debt',
            epoch,
            memo: { escrow: bal.toString() },
            postings: [
              { account: accounts.clientBadDebt(u.client), amount: u.amount - collect },
              { account: accounts.clientUnsettled(u.client), amount: collect - u.amount },
            ],
          },
          t,
        );
      }
    }
    // Slashes.
    const slashes: { provider: Address; amount: bigint }[] = [];
    for (const [p, req] of requested) {
      const h = held.get(p) ?? 0n;
      const amount = req < h ? req : h;
      if (amount <= 0n) continue;
      slashes.push({ provider: p as Address, amount });
      await postEntry(
        trx,
        {
          ref: `epoch:${epoch}:slash:${p}`,
          kind: 'slash',
          epoch,
          memo: {
            requested: req.toString(),
            slashIds: slashRows.filter((r) => r.provider.toLowerCase() === p).map((r) => r.id),
          },
          postings: [
            { account: accounts.settlement, amount },
            { account: accounts.providerSlashed(p), amount: -amount },
          ],
        },
        t,
      );
    }
    if (slashRows.length > 0) {
      await trx
        .insertInto('market_meta')
        .values({ key: 'slashes_applied_through', value: String(slashRows.at(-1)!.id) })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(slashRows.at(-1)!.id) }))
        .execute();
    }
    // Emission: online providers without a proven fault this epoch, by capacity × uptime.
    const sessions = await trx
      .selectFrom('provider_sessions')
      .select(['provider', 'slots', 'connected_at', 'disconnected_at'])
      .where('connected_at', '<', endsAt)
      .where((eb) => eb.or([eb('disconnected_at', 'is', null), eb('disconnected_at', '>', startsAt)]))
      .execute();
    const faulted = new Set(
      (
        await trx
          .selectFrom('verification_faults')
          .select('provider')
          .where('created_at', '>=', startsAt)
          .where('created_at', '<', endsAt)
          .execute()
      ).map((f) => f.provider.toLowerCase()),
    );
    const providers = new Map(
      (
        await trx.selectFrom('providers').select(['address', 'region', 'hardware', 'capability']).execute()
      ).map((p) => [p.address.toLowerCase(), p]),
    );
    const cand = new Map<string, { uptimeMs: number; slots: number }>();
    for (const s of sessions) {
      const up = overlap(s.connected_at, s.disconnected_at ?? t, startsAt, endsAt);
      const c = cand.get(s.provider) ?? { uptimeMs: 0, slots: 0 };
      cand.set(s.provider, { uptimeMs: c.uptimeMs + up, slots: Math.max(c.slots, s.slots) });
    }
    const emissionTarget = bigMin(deps.emissionPerEpoch, MAX_EMISSION_PER_EPOCH);
    const shares = shareEmission(
      emissionTarget,
      endsAt - startsAt,
      [...cand].map(([address, c]) => ({
        address,
        // Proven capacity: the throughput of the latest passing capability proof (0 without one).
        capacity: provenCapacity(providers.get(address)?.capability),
        uptimeMs: c.uptimeMs,
        faulted: faulted.has(address) || !active.has(address),
        region: providers.get(address)?.region ?? 'unknown',
      })),
    );
    let emission = 0n;
    for (const v of shares.values()) emission += v;
    if (emission > 0n) {
      await postEntry(
        trx,
        {
          ref: `epoch:${epoch}:emission`,
          kind: 'emission',
          epoch,
          postings: [
            { account: accounts.settlement, amount: emission },
            { account: accounts.emission, amount: -emission },
          ],
        },
        t,
      );
      await postEntry(
        trx,
        {
          ref: `epoch:${epoch}:emission-shares`,
          kind: 'emission',
          epoch,
          postings: [
            { account: accounts.emission, amount: emission },
            ...[...shares].map(([p, v]) => ({ account: accounts.providerEarnings(p), amount: -v })),
          ],
        },
        t,
      );
    }
    // Sensor emission: device owners by quality score, within what the token lets one epoch mint.
    const sensorTarget = bigMin(deps.sensorEmissionPerEpoch ?? 0n, MAX_EMISSION_PER_EPOCH - emission);
    const sensorShares = shareSensorEmission(sensorTarget, sensorScores);
    let sensorEmission = 0n;
    for (const v of sensorShares.values()) sensorEmission += v;
    if (sensorEmission > 0n) {
      await postEntry(
        trx,
        {
          ref: `epoch:${epoch}:sensor-emission`,
          kind: 'emission',
          epoch,
          memo: { sensor: true },
          postings: [
            { account: accounts.settlement, amount: sensorEmission },
            { account: accounts.emission, amount: -sensorEmission },
          ],
        },
        t,
      );
      await postEntry(
        trx,
        {
          ref: `epoch:${epoch}:sensor-emission-shares`,
          kind: 'emission',
          epoch,
          memo: { sensor: true, devices: sensorScores.length },
          postings: [
            { account: accounts.emission, amount: sensorEmission },
            ...[...sensorShares].map(([o, v]) => ({ account: accounts.providerEarnings(o), amount: -v })),
          ],
        },
        t,
      );
      emission += sensorEmission;
    }
    await storeScores(trx as unknown as Kysely<Database>, 'epoch', startsAt, endsAt, sensorScores, t);
    // Rewards tree over cumulative earnings (entries of epochs ≤ this one, including the above).
    const earned = await cumulativeEarnings(trx as unknown as Kysely<Database>, epoch);
    const rewards = rewardsOf(earned);
    const payload: EpochPayload = {
      epoch: BigInt(epoch),
      rewardsRoot: rewards.root,
      totalEarned: rewards.totalEarned,
      charges,
      slashes,
      emission,
    };
    // Figures of this epoch alone.
    const own = await readBalances(trx, { epoch });
    let providerEarnings = 0n;
    for (const [a, v] of own) if (a.endsWith(':earnings')) providerEarnings -= v;
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
    const summary: EpochSummary = {
      tasksSettled,
      providerEarnings: providerEarnings.toString(),
      clientCharges: charges.reduce((a, c) => a + c.amount, 0n).toString(),
      protocolFees: (-(own.get(accounts.protocolFees) ?? 0n)).toString(),
      slashed: slashes.reduce((a, s) => a + s.amount, 0n).toString(),
      emission: emission.toString(),
    };
    // Next epoch's base prices, from this epoch's utilization per class.
    await updatePrices(
      trx as unknown as Kysely<Database>,
      market,
      epoch,
      startsAt,
      endsAt,
      t,
      sessions,
      providers,
    );
    await trx
      .insertInto('epochs')
      .values({
        epoch,
        status: 'closing',
        starts_at: startsAt,
        ends_at: endsAt,
        payload: payloadToJson(payload),
        tree: rewards.dump,
        summary: JSON.stringify(summary),
        signatures: null,
        tx_hash: null,
        settled_at: null,
        updated_at: t,
      })
      .onConflict((oc) =>
        oc.column('epoch').doUpdateSet({
          status: 'closing',
          payload: payloadToJson(payload),
          tree: rewards.dump,
          summary: JSON.stringify(summary),
          updated_at: t,
        }),
      )
      .execute();
  });
}

/**
 * Utilization of each class in an epoch (busy lease-time ÷ connected slot-time; CPU capacity is
 * every provider's, a GPU class's only its providers'), recorded for the epoch, and the next
 * epoch's base price from it.
 */
async function updatePrices(
  db: Kysely<Database>,
  market: Market,
  epoch: number,
  startsAt: number,
  endsAt: number,
  t: number,
  sessions: { provider: string; slots: number; connected_at: number; disconnected_at: number | null }[],
  providers: Map<string, { hardware: string }>,
): Promise<void> {
  const capacity = new Map<string, number>();
  for (const s of sessions) {
    const ms = overlap(s.connected_at, s.disconnected_at ?? t, startsAt, endsAt) * s.slots;
    capacity.set(CPU_CLASS, (capacity.get(CPU_CLASS) ?? 0) + ms);
    const hw = providers.get(s.provider)?.hardware;
    const g = hw ? gpuClassOf(JSON.parse(hw) as HardwareClaim) : undefined;
    if (g) capacity.set(g, (capacity.get(g) ?? 0) + ms);
  }
  const busy = new Map<string, number>();
  const leases = await db
    .selectFrom('assignments')
    .innerJoin('jobs', 'jobs.id', 'assignments.job_id')
    .select(['assignments.provider', 'assignments.created_at', 'assignments.finished_at', 'jobs.spec'])
    .where('assignments.created_at', '<', endsAt)
    .where((eb) =>
      eb.or([eb('assignments.finished_at', 'is', null), eb('assignments.finished_at', '>', startsAt)]),
    )
    .execute();
  for (const l of leases) {
    const gpu = (JSON.parse(l.spec) as OnnxInferSpec).resources.gpu;
    const hw = providers.get(l.provider.toLowerCase())?.hardware;
    const cls = (gpu && hw && gpuClassOf(JSON.parse(hw) as HardwareClaim)) || CPU_CLASS;
    busy.set(cls, (busy.get(cls) ?? 0) + overlap(l.created_at, l.finished_at ?? t, startsAt, endsAt));
  }
  for (const cls of await market.classes(db)) {
    const cap = capacity.get(cls) ?? 0;
    const u = cap > 0 ? Math.min(1, (busy.get(cls) ?? 0) / cap) : 0;
    const price = await market.basePrice(db, cls, epoch);
    await db
      .insertInto('prices')
      .values({ class: cls, epoch, base_price: price.toString(), utilization: u })
      .onConflict((oc) => oc.columns(['class', 'epoch']).doUpdateSet({ utilization: u }))
      .execute();
    const next = nextBasePrice(price, u);
    await db
      .insertInto('prices')
      .values({ class: cls, epoch: epoch + 1, base_price: next.toString(), utilization: null })
      .onConflict((oc) => oc.columns(['class', 'epoch']).doUpdateSet({ base_price: next.toString() }))
      .execute();
  }
}
