/**
 * The epoch computation (docs/market.md, "Settlement"): from plain inputs — what the store and the
 * chain said when the epoch closed — the clients' charges, the slashes, the provider and sensor
 * emission, the cumulative rewards tree, the epoch's figures and the next base prices.
 *
 * Everything here is pure and deterministic: no store, no chain, no clock, money as bigint. The
 * coordinator gathers the inputs (readEpochInputs.ts), runs `computeEpoch` and writes its outcome
 * (writeEpoch.ts); an independent validator can run exactly the same function over an evidence
 * bundle of the same inputs and must arrive at the same payload. Its runtime imports are pure
 * too (pricing and emission splits, ledger account names, the rewards tree): no store, no RPC.
 */
import { type Address, type Hex, zeroHash } from 'viem';
import { MAX_EMISSION_PER_EPOCH } from '../../chain/constants.ts';
import type { EpochCharge, EpochPayload, EpochSlash } from '../../chain/types.ts';
import type { HardwareClaim } from '../../protocol/schemas.ts';
import { shareSensorEmission } from '../../sensors/rewards/shareSensorEmission.ts';
import type { DeviceScore } from '../../sensors/scoring/scoreSensors.ts';
import { accounts } from '../ledger/accounts.ts';
import type { EntryInput } from '../ledger/postEntry.ts';
import { earningsOfBalances, rewardsOf } from '../ledger/rewardsTree.ts';
import { bigMin } from '../market/bigMath.ts';
import { CPU_CLASS } from '../market/constants.ts';
import { nextBasePrice } from '../market/nextBasePrice.ts';
import { provenCapacity } from '../market/provenCapacity.ts';
import { gpuClassOf } from '../market/resourceClass.ts';
import { shareEmission } from '../market/shareEmission.ts';

/**
 * An account's balance (debit positive, credit negative), in base units.
 *
 * @example
 * const b: AccountBalance = { account: 'protocol:fees', balance: -15n };
 */
export type AccountBalance = { account: string; balance: bigint };

/**
 * A provider connection overlapping the epoch (ms timestamps; null: still connected).
 *
 * @example
 * const s: SessionInput = { provider: '0xab…', slots: 2, connectedAt: 9_000, disconnectedAt: null };
 */
export type SessionInput = {
  provider: string;
  slots: number;
  connectedAt: number;
  disconnectedAt: number | null;
  /**
   * When the provider said it drains (takes no new work; 0048): the session stops counting there,
   * for uptime and for capacity (security review p9). Absent: it never drained.
   */
  drainingAt?: number;
};

/**
 * Where a session stops counting: its disconnect (or the close, still open), or its drain if that
 * came first. Pure.
 *
 * @example
 * sessionEnd({ provider: '0xab…', slots: 1, connectedAt: 0, disconnectedAt: null, drainingAt: 5 }, 9); // 5
 */
export function sessionEnd(s: SessionInput, closedAt: number): number {
  const end = s.disconnectedAt ?? closedAt;
  return s.drainingAt === undefined ? end : Math.min(end, s.drainingAt);
}

/**
 * A lease overlapping the epoch (null finish: still running); `gpu` when its task asked for one.
 *
 * @example
 * const l: LeaseInput = { provider: '0xab…', createdAt: 10_200, finishedAt: 10_700, gpu: true };
 */
export type LeaseInput = { provider: string; createdAt: number; finishedAt: number | null; gpu: boolean };

/**
 * Everything the epoch computation needs, as plain data (serialisable with bigints as strings):
 * an evidence bundle. Arrays keep the order the store returned them in, which the outcome's
 * entry order and the stored tree dump follow.
 *
 * @example
 * const inputs: EpochInputs = { ...chainInputs, ...storeInputs, epoch, startsAt, endsAt, closedAt, emissionPerEpoch, sensorEmissionPerEpoch };
 * const bundle = JSON.stringify(inputs, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
 */
export type EpochInputs = {
  epoch: number;
  /** The epoch's window, ms. */
  startsAt: number;
  endsAt: number;
  /** When it was closed, ms: sessions and leases still open count up to here. */
  closedAt: number;
  /** Configured provider emission per epoch (capped at the token's per-epoch limit here). */
  emissionPerEpoch: bigint;
  /** Configured sensor emission per epoch (capped at what the provider emission leaves). */
  sensorEmissionPerEpoch: bigint;
  /** Clients with unsettled charges (entries of epochs ≤ this one) and their on-chain escrow. */
  unsettled: { client: Address; amount: bigint; escrow: bigint }[];
  /** Slash requests not applied yet and created before the epoch ended, in id order. */
  slashRequests: { id: number; provider: string; amount: bigint }[];
  /** On-chain stake + unbonding of each (lower-case) provider with a slash request. */
  stakeHeld: { provider: string; held: bigint }[];
  /** Provider sessions overlapping the epoch. */
  sessions: SessionInput[];
  /** Providers online in the epoch that the chain says are active (registered, staked, not unbonding). */
  activeOnChain: string[];
  /** Providers (lower-case) with a proven fault during the epoch. */
  faulted: string[];
  /**
   * Known providers (lower-case address), their corroborated region (`unverified` for all until
   * regions are checked: no bonus on a claim), hardware claim and stored capability JSON.
   */
  providers: { address: string; region: string; hardware: HardwareClaim; capability: string | null }[];
  /** Sensor devices' quality scores over the epoch. */
  sensorScores: DeviceScore[];
  /** Balances of `provider:` accounts over entries of epochs ≤ this one before closing, ledger order. */
  providerBalances: AccountBalance[];
  /** Balances over this epoch's own entries before closing. */
  epochBalances: AccountBalance[];
  /** Charge entries (settled task executions) of this epoch. */
  tasksSettled: number;
  /** Leases overlapping the epoch. */
  leases: LeaseInput[];
  /** Every resource class and its base price this epoch. */
  prices: { class: string; basePrice: bigint }[];
};

/**
 * Figures of a closed epoch (decimal base units), as GET /v1/epochs shows them.
 *
 * @example
 * const s: EpochSummary = JSON.parse(row.summary!); // { tasksSettled: 3, clientCharges: '64', … }
 */
export type EpochSummary = {
  tasksSettled: number;
  providerEarnings: string;
  clientCharges: string;
  protocolFees: string;
  slashed: string;
  emission: string;
};

/**
 * One class's utilization this epoch and its base price next epoch.
 *
 * @example
 * const p: PriceUpdate = { class: 'cpu', basePrice: 8_000_000n, utilization: 0.2, nextBasePrice: 7_400_000n };
 */
export type PriceUpdate = { class: string; basePrice: bigint; utilization: number; nextBasePrice: bigint };

/**
 * What closing an epoch writes.
 *
 * @example
 * const { entries, payload, tree, summary, prices }: EpochOutcome = computeEpoch(inputs);
 */
export type EpochOutcome = {
  /** Ledger entries to post, in order. */
  entries: EntryInput[];
  /** The ids of the slash requests this epoch applied (each marked with the epoch, writeEpoch.ts). */
  slashesApplied: number[];
  payload: EpochPayload;
  /** The rewards tree's dump (null when nobody earned yet). */
  tree: string | null;
  summary: EpochSummary;
  prices: PriceUpdate[];
};

/**
 * Milliseconds two intervals overlap.
 *
 * @example
 * overlap(0, 10, 5, 20); // 5
 */
export function overlap(a0: number, a1: number, b0: number, b1: number): number {
  return Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
}

/**
 * Collects each client's unsettled charges, capped at its escrow; the shortfall becomes bad debt.
 *
 * @example
 * computeCharges(3, [{ client: a, amount: 10n, escrow: 4n }]);
 * // charges [{ client: a, amount: 4n }], entries: settle-charges 4n, bad-debt 6n
 */
export function computeCharges(
  epoch: number,
  unsettled: EpochInputs['unsettled'],
): { charges: EpochCharge[]; entries: EntryInput[] } {
  const charges: EpochCharge[] = [];
  const entries: EntryInput[] = [];
  for (const u of unsettled) {
    const collect = bigMin(u.amount, u.escrow);
    if (collect > 0n) {
      charges.push({ client: u.client, amount: collect });
      entries.push({
        ref: `epoch:${epoch}:charges:${u.client}`,
        kind: 'settle-charges',
        epoch,
        postings: [
          { account: accounts.settlement, amount: collect },
          { account: accounts.clientUnsettled(u.client), amount: -collect },
        ],
      });
    }
    if (collect < u.amount) {
      entries.push({
        ref: `epoch:${epoch}:bad-debt:${u.client}`,
        kind: 'bad-debt',
        epoch,
        memo: { escrow: u.escrow.toString() },
        postings: [
          { account: accounts.clientBadDebt(u.client), amount: u.amount - collect },
          { account: accounts.clientUnsettled(u.client), amount: collect - u.amount },
        ],
      });
    }
  }
  return { charges, entries };
}

/**
 * Applies pending slash requests, summed per provider and capped at what it holds on chain.
 *
 * @example
 * computeSlashes(3, [{ id: 7, provider: p, amount: 5n }], [{ provider: p, held: 3n }]);
 * // slashes [{ provider: p, amount: 3n }], applied [7]
 */
export function computeSlashes(
  epoch: number,
  requests: EpochInputs['slashRequests'],
  stakeHeld: EpochInputs['stakeHeld'],
): { slashes: EpochSlash[]; entries: EntryInput[]; applied: number[] } {
  const requested = new Map<string, bigint>();
  for (const r of requests) {
    const p = r.provider.toLowerCase();
    requested.set(p, (requested.get(p) ?? 0n) + r.amount);
  }
  const held = new Map(stakeHeld.map((s) => [s.provider, s.held]));
  const slashes: EpochSlash[] = [];
  const entries: EntryInput[] = [];
  for (const [p, req] of requested) {
    const amount = bigMin(req, held.get(p) ?? 0n);
    if (amount <= 0n) continue;
    slashes.push({ provider: p as Address, amount });
    entries.push({
      ref: `epoch:${epoch}:slash:${p}`,
      kind: 'slash',
      epoch,
      memo: {
        requested: req.toString(),
        slashIds: requests.filter((r) => r.provider.toLowerCase() === p).map((r) => r.id),
      },
      postings: [
        { account: accounts.settlement, amount },
        { account: accounts.providerSlashed(p), amount: -amount },
      ],
    });
  }
  return { slashes, entries, applied: requests.map((r) => r.id) };
}

/**
 * The two entries that mint `total` to the settlement contract and credit it to `shares`' holders
 * (none when nothing is minted).
 */
function emissionEntries(
  epoch: number,
  name: 'emission' | 'sensor-emission',
  shares: ReadonlyMap<string, bigint>,
  total: bigint,
  memo?: { mint: Record<string, unknown>; shares: Record<string, unknown> },
): EntryInput[] {
  if (total <= 0n) return [];
  return [
    {
      ref: `epoch:${epoch}:${name}`,
      kind: 'emission',
      epoch,
      ...(memo ? { memo: memo.mint } : {}),
      postings: [
        { account: accounts.settlement, amount: total },
        { account: accounts.emission, amount: -total },
      ],
    },
    {
      ref: `epoch:${epoch}:${name}-shares`,
      kind: 'emission',
      epoch,
      ...(memo ? { memo: memo.shares } : {}),
      postings: [
        { account: accounts.emission, amount: total },
        ...[...shares].map(([p, v]) => ({ account: accounts.providerEarnings(p), amount: -v })),
      ],
    },
  ];
}

const sum = (values: Iterable<bigint>): bigint => {
  let s = 0n;
  for (const v of values) s += v;
  return s;
};

/**
 * Provider emission: online providers that were active on chain and without a proven fault this
 * epoch share `min(emissionPerEpoch, MAX_EMISSION_PER_EPOCH)` by proven capacity × uptime
 * (market/shareEmission.ts). An unstaked identity cannot farm emission by connecting.
 *
 * @example
 * const { shares, total, entries } = computeProviderEmission(inputs); // total ≤ 50,000 PLX
 */
export function computeProviderEmission(
  inputs: Pick<
    EpochInputs,
    | 'epoch'
    | 'startsAt'
    | 'endsAt'
    | 'closedAt'
    | 'emissionPerEpoch'
    | 'sessions'
    | 'activeOnChain'
    | 'faulted'
    | 'providers'
  >,
): { shares: Map<string, bigint>; total: bigint; entries: EntryInput[] } {
  const { startsAt, endsAt } = inputs;
  const active = new Set(inputs.activeOnChain);
  const faulted = new Set(inputs.faulted);
  const providers = new Map(inputs.providers.map((p) => [p.address, p]));
  // Uptime is the union of a provider's sessions within the epoch: two sessions open at once (two
  // connects racing, two replicas) count once, not twice.
  const spans = new Map<string, { from: number; to: number }[]>();
  const cand = new Map<string, { uptimeMs: number; slots: number }>();
  for (const s of inputs.sessions) {
    const from = Math.max(s.connectedAt, startsAt);
    const to = Math.min(sessionEnd(s, inputs.closedAt), endsAt);
    const list = spans.get(s.provider) ?? [];
    if (to > from) list.push({ from, to });
    spans.set(s.provider, list);
    const c = cand.get(s.provider) ?? { uptimeMs: 0, slots: 0 };
    cand.set(s.provider, { uptimeMs: 0, slots: Math.max(c.slots, s.slots) });
  }
  for (const [provider, list] of spans) {
    list.sort((a, b) => a.from - b.from);
    let up = 0;
    let end = Number.NEGATIVE_INFINITY;
    for (const { from, to } of list) {
      if (to <= end) continue;
      up += to - Math.max(from, end);
      end = to;
    }
    cand.get(provider)!.uptimeMs = up;
  }
  const shares = shareEmission(
    bigMin(inputs.emissionPerEpoch, MAX_EMISSION_PER_EPOCH),
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
  const total = sum(shares.values());
  return { shares, total, entries: emissionEntries(inputs.epoch, 'emission', shares, total) };
}

/**
 * Sensor emission: device owners share `sensorEmissionPerEpoch` by quality score, within what the
 * token still lets this epoch mint after the provider emission (`alreadyMinted`).
 *
 * @example
 * computeSensorEmission(3, 100n, 0n, scores); // { total: 100n, … } when some device scored > 0
 */
export function computeSensorEmission(
  epoch: number,
  sensorEmissionPerEpoch: bigint,
  alreadyMinted: bigint,
  scores: readonly DeviceScore[],
): { shares: Map<string, bigint>; total: bigint; entries: EntryInput[] } {
  const target = bigMin(sensorEmissionPerEpoch, MAX_EMISSION_PER_EPOCH - alreadyMinted);
  const shares = shareSensorEmission(target, scores);
  const total = sum(shares.values());
  const memo = { mint: { sensor: true }, shares: { sensor: true, devices: scores.length } };
  return { shares, total, entries: emissionEntries(epoch, 'sensor-emission', shares, total, memo) };
}

/**
 * Balances after posting `entries` on top of `before`: what the ledger would read back. Accounts
 * new to the balances come last, in posting order, as a scan of the postings table returns them.
 *
 * @example
 * applyEntries([{ account: 'a', balance: 1n }], [{ …, postings: [{ account: 'a', amount: 2n }, …] }]);
 * // Map { 'a' => 3n, … }
 */
export function applyEntries(
  before: readonly AccountBalance[],
  entries: readonly EntryInput[],
  accountFilter: (account: string) => boolean = () => true,
): Map<string, bigint> {
  const out = new Map<string, bigint>(before.map((b) => [b.account, b.balance]));
  for (const e of entries)
    for (const p of e.postings)
      if (p.amount !== 0n && accountFilter(p.account))
        out.set(p.account, (out.get(p.account) ?? 0n) + p.amount);
  return out;
}

/**
 * The epoch's base-price step per class: utilization (busy lease-time ÷ connected slot-time; CPU
 * capacity is every provider's, a GPU class's only its providers'; a GPU lease counts towards its
 * provider's GPU class) and the next epoch's base price from it (market/nextBasePrice.ts).
 *
 * @example
 * computePrices(inputs); // [{ class: 'cpu', basePrice: 1000n, utilization: 0.5, nextBasePrice: 1000n }]
 */
export function computePrices(
  inputs: Pick<
    EpochInputs,
    'startsAt' | 'endsAt' | 'closedAt' | 'sessions' | 'providers' | 'leases' | 'prices'
  >,
): PriceUpdate[] {
  const { startsAt, endsAt, closedAt } = inputs;
  const hardware = new Map(inputs.providers.map((p) => [p.address, p.hardware]));
  const capacity = new Map<string, number>();
  for (const s of inputs.sessions) {
    const ms = overlap(s.connectedAt, sessionEnd(s, closedAt), startsAt, endsAt) * s.slots;
    capacity.set(CPU_CLASS, (capacity.get(CPU_CLASS) ?? 0) + ms);
    const hw = hardware.get(s.provider);
    const g = hw ? gpuClassOf(hw) : undefined;
    if (g) capacity.set(g, (capacity.get(g) ?? 0) + ms);
  }
  const busy = new Map<string, number>();
  for (const l of inputs.leases) {
    const hw = hardware.get(l.provider.toLowerCase());
    const cls = (l.gpu && hw && gpuClassOf(hw)) || CPU_CLASS;
    busy.set(cls, (busy.get(cls) ?? 0) + overlap(l.createdAt, l.finishedAt ?? closedAt, startsAt, endsAt));
  }
  return inputs.prices.map(({ class: cls, basePrice }) => {
    const cap = capacity.get(cls) ?? 0;
    const utilization = cap > 0 ? Math.min(1, (busy.get(cls) ?? 0) / cap) : 0;
    return { class: cls, basePrice, utilization, nextBasePrice: nextBasePrice(basePrice, utilization) };
  });
}

/**
 * Closes an epoch on paper: charges, slashes, provider then sensor emission (together never above
 * MAX_EMISSION_PER_EPOCH), the rewards tree over every provider's cumulative earnings including
 * this epoch's, the epoch's figures and the next base prices. Pure and deterministic.
 * `evidenceHash` is the sha256 of the evidence bundle holding these inputs (settlement/evidence.ts);
 * it is carried into the payload unchanged, so validators sign the facts along with the amounts.
 *
 * @example
 * const outcome = computeEpoch(inputs, bundleHash);
 * outcome.payload.rewardsRoot; // what the validators sign
 */
export function computeEpoch(inputs: EpochInputs, evidenceHash: Hex = zeroHash): EpochOutcome {
  const { epoch } = inputs;
  const charged = computeCharges(epoch, inputs.unsettled);
  const slashed = computeSlashes(epoch, inputs.slashRequests, inputs.stakeHeld);
  const provider = computeProviderEmission(inputs);
  const sensor = computeSensorEmission(
    epoch,
    inputs.sensorEmissionPerEpoch,
    provider.total,
    inputs.sensorScores,
  );
  const entries = [...charged.entries, ...slashed.entries, ...provider.entries, ...sensor.entries];
  const emission = provider.total + sensor.total;
  // The rewards tree over cumulative earnings: entries of epochs ≤ this one, including the above.
  const rewards = rewardsOf(
    earningsOfBalances(applyEntries(inputs.providerBalances, entries, (a) => a.startsWith('provider:'))),
  );
  // Figures of this epoch alone.
  const own = applyEntries(inputs.epochBalances, entries);
  let providerEarnings = 0n;
  for (const [a, v] of own) if (a.endsWith(':earnings')) providerEarnings -= v;
  const summary: EpochSummary = {
    tasksSettled: inputs.tasksSettled,
    providerEarnings: providerEarnings.toString(),
    clientCharges: sum(charged.charges.map((c) => c.amount)).toString(),
    protocolFees: (-(own.get(accounts.protocolFees) ?? 0n)).toString(),
    slashed: sum(slashed.slashes.map((s) => s.amount)).toString(),
    emission: emission.toString(),
  };
  return {
    entries,
    slashesApplied: slashed.applied,
    payload: {
      epoch: BigInt(epoch),
      rewardsRoot: rewards.root,
      totalEarned: rewards.totalEarned,
      charges: charged.charges,
      slashes: slashed.slashes,
      emission,
      evidenceHash,
    },
    tree: rewards.dump,
    summary,
    prices: computePrices(inputs),
  };
}
