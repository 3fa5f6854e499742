/**
 * The market component: admission against escrow, billing of verified executions into the
 * ledger, provider floor prices, sessions (uptime) and per-class base prices. docs/market.md.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Address } from 'viem';
import { getEscrowBalance } from '../../chain/actions/client/getEscrowBalance.ts';
import { getProvider } from '../../chain/actions/provider/getProvider.ts';
import type { PlexusReader } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type { HardwareClaim, JobSpec, Usage } from '../../protocol/schemas.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import { groupRead } from '../store/groupReads.ts';
import { queryTemplate, type RawConnection, templateRunner } from '../store/queryTemplate.ts';
import type { Database } from '../store/schema.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { type ChainStanding, readMinStake } from './chainStanding.ts';
import { CPU_CLASS, defaultBasePrice, defaultFloorPrice } from './constants.ts';
import { defersBilling } from './deferredBilling.ts';
import type { EpochClock } from './epochClock.ts';
import { holdEpochOpen } from './epochCloseLock.ts';
import { lockClientEscrow } from './escrowLock.ts';
import { billHeldClient } from './heldBilling.ts';
import type { LeaseTermsRow, Market } from './marketTypes.ts';
import {
  billedUnitsMilli,
  chargedUnits,
  paidExecutionsPerTask,
  priceExecution,
  type RegionShare,
  worstCaseCost,
} from './priceExecution.ts';
import { regionSharesOf } from './regionShares.ts';
import { gpuClassOf, taskClass } from './resourceClass.ts';

type Executor = Kysely<Database> | Transaction<Database>;

export type { Market } from './marketTypes.ts';

export type { ChainStanding };

export { defaultBasePrice, defaultFloorPrice };

/**
 * Builds the market. With `chain` undefined it runs in development mode: every job is admitted
 * (escrow is not checked; logged once at start) and billing still goes into the ledger.
 *
 * @example
 * const market = createMarket({ db, clock, chain: reader, log });
 */
export function createMarket(deps: {
  db: Kysely<Database>;
  clock: EpochClock;
  chain?: PlexusReader | undefined;
  log: Logger;
  now?: () => number;
  /** Called when a provider becomes eligible for work (so the work loop dispatches again). */
  onEligible?: () => void;
  /** The store's raw connection: billing's queries run as templates on it (store/queryTemplate.ts). */
  raw?: RawConnection;
}): Market {
  const { db, clock, log } = deps;
  const stmt = templateRunner(deps.raw);
  // Every billed task asks for the current epoch and its base price: built once.
  const lastClosedEpoch = queryTemplate(() =>
    db
      .selectFrom('epochs')
      .select((eb) => eb.fn.max('epoch').as('e'))
      .where('status', '!=', 'open'),
  );
  const priceInForce = queryTemplate((p: (n: 'cls' | 'epoch') => never) =>
    db
      .selectFrom('prices')
      .select('base_price')
      .where('class', '=', p('cls'))
      .where('epoch', '<=', p('epoch'))
      .orderBy('epoch', 'desc')
      .limit(1),
  );
  const leaseOf = queryTemplate((p: (n: 'id') => never) =>
    db
      .selectFrom('assignments')
      .select(['created_at', 'finished_at', 'lease_class', 'size_cap_milli'])
      .where('id', '=', p('id')),
  );
  const now = deps.now ?? Date.now;
  /** Floors and class of connected providers (for placement). */
  const floors = new Map<string, { gpuClass: string | undefined; floors: Record<string, string> }>();
  let admission: Promise<unknown> = Promise.resolve();
  /** Connected providers known to be active on chain (registered, staked, not unbonding). */
  const activeOnChain = new Set<string>();
  /** Last bonded stake read from the chain, per provider (kept after a disconnect). */
  const stakes = new Map<string, bigint>();
  /** Last on-chain record per provider, for the eligibility view (kept after a disconnect). */
  const standings = new Map<string, ChainStanding>();
  /** The registry's minimum stake (a constructor argument: read once). */
  let minStake: bigint | undefined;
  /** Clients whose escrow no longer covers their open jobs (refreshEscrowHolds). */
  const held = new Set<string>();

  async function refreshOne(address: string): Promise<void> {
    if (!deps.chain) return;
    try {
      const rec = await getProvider(deps.chain, address as Address);
      stakes.set(address, rec.stake);
      // Its own try: a chain that cannot say it still updates the stake above.
      minStake ??= await readMinStake(deps.chain).catch(() => undefined);
      standings.set(address, { ...rec, minStake });
      const was = activeOnChain.has(address);
      if (rec.active && floors.has(address)) activeOnChain.add(address);
      else activeOnChain.delete(address);
      if (!was && activeOnChain.has(address)) deps.onEligible?.();
      if (!rec.active)
        log.debug({ address, registered: rec.registered }, 'provider not active on chain: no work');
    } catch (err) {
      // The chain is down: keep what was known; an unknown provider waits for the next refresh.
      log.debug({ err, address }, 'could not read the provider from the chain');
    }
  }

  async function currentEpoch(ex: Executor, t = now()): Promise<number> {
    return (await epochAndPriceEpoch(ex, t)).epoch;
  }

  /**
   * The epoch an entry posted now accrues to, and the epoch whose base price is in force for it:
   * the next epoch's price is set when the epoch before it closes, so until then (the previous
   * epoch ended but is not closed: finalization of the one before is pending, or the chain is down)
   * the price in force is the one set for the first epoch not yet closed. A validator re-derives
   * the unit price from that epoch's bundle (`ChargeFact.priceEpoch`, docs/validators.md "Facts").
   */
  async function epochAndPriceEpoch(ex: Executor, t = now()): Promise<{ epoch: number; priceEpoch: number }> {
    // Once per group commit (store/groupReads.ts): only settlement writes `epochs`.
    const closed = await groupRead(ex, 'epochs:lastClosed', () => stmt.first(ex, lastClosedEpoch, {}));
    const open = Number(closed?.e ?? 0) + 1;
    const epoch = Math.max(clock.epochAt(t), open);
    return { epoch, priceEpoch: Math.min(epoch, open) };
  }

  async function basePrice(ex: Executor, cls: string, epoch: number): Promise<bigint> {
    // Once per group commit (store/groupReads.ts): only settlement writes `prices`.
    const row = await groupRead(ex, `prices:${cls}:${epoch}`, () =>
      stmt.first(ex, priceInForce, { cls, epoch }),
    );
    return row ? BigInt(row.base_price) : defaultBasePrice(cls);
  }

  /**
   * What billing reads of an execution's lease: how long it ran by the coordinator's clock, the
   * class and the size cap fixed when it was made (each undefined where unknown or from before).
   */
  async function leaseTerms(
    ex: Executor,
    assignmentId: string,
    known?: ReadonlyMap<string, LeaseTermsRow>,
  ): Promise<{ leaseMs?: number; cls?: string; sizeCapMilli?: bigint }> {
    const a = known?.get(assignmentId) ?? (await stmt.first(ex, leaseOf, { id: assignmentId }));
    if (!a) return {};
    return {
      ...(a.finished_at !== null ? { leaseMs: Number(a.finished_at) - Number(a.created_at) } : {}),
      ...(a.lease_class ? { cls: a.lease_class } : {}),
      ...(a.size_cap_milli ? { sizeCapMilli: BigInt(a.size_cap_milli) } : {}),
    };
  }

  async function reserved(ex: Executor, client: string): Promise<{ unsettled: bigint; reserved: bigint }> {
    const c = client.toLowerCase();
    const unsettled =
      (await readBalances(ex, { account: accounts.clientUnsettled(c) })).get(accounts.clientUnsettled(c)) ??
      0n;
    const open = await ex
      .selectFrom('jobs')
      .select(['id', 'worst_case'])
      .where('client', '=', c)
      .where('status', 'in', ['queued', 'running'])
      .execute();
    // Escrow held for stored terms (storage/storageLedger.ts) is spoken for like an open job.
    const storage = accounts.clientStorageEscrow(c);
    let r = (await readBalances(ex, { account: storage })).get(storage) ?? 0n;
    for (const j of open) {
      if (!j.worst_case) continue;
      const charged =
        (await readBalances(ex, { jobId: j.id, kind: 'charge', account: accounts.clientUnsettled(c) })).get(
          accounts.clientUnsettled(c),
        ) ?? 0n;
      const left = BigInt(j.worst_case) - charged;
      if (left > 0n) r += left;
    }
    return { unsettled, reserved: r };
  }

  /** The client's on-chain escrow less its pending withdrawal (0 without a chain). */
  async function chainEscrow(client: Address): Promise<bigint> {
    if (!deps.chain) return 0n;
    try {
      const e = await getEscrowBalance(deps.chain, client);
      return e.balance - (e.pendingWithdrawal?.amount ?? 0n);
    } catch (cause) {
      throw new PlexusError('PLX_CHAIN_UNAVAILABLE', 'could not read the escrow balance from the chain', {
        cause,
      });
    }
  }

  async function availableEscrow(client: Address, ex: Executor = db, chainBalance?: bigint) {
    const { unsettled, reserved: res } = await reserved(ex, client);
    const balance = chainBalance ?? (await chainEscrow(client));
    return { balance, unsettled, reserved: res, available: balance - unsettled - res };
  }

  /**
   * Runs `store` once the client's available escrow covers `required` (PLX_INSUFFICIENT_ESCROW
   * otherwise), in one transaction with the read of what is reserved, under the client's admission
   * lock (escrowLock.ts: replicas on one PostgreSQL wait for each other, security review s13 F5).
   * The chain is read before the transaction, so no lock or connection is held across the RPC. The
   * promise chain keeps one admission at a time per process (one connection held for it at most).
   */
  function admitUnderLock(
    client: Address,
    required: bigint,
    what: string,
    store: (trx: Transaction<Database>) => Promise<void>,
  ): Promise<void> {
    const run = admission.then(async () => {
      const balance = deps.chain ? await chainEscrow(client) : undefined;
      await db.transaction().execute(async (trx) => {
        if (deps.chain) {
          await lockClientEscrow(trx, client);
          const a = await availableEscrow(client, trx, balance);
          if (a.available < required)
            throw new PlexusError(
              'PLX_INSUFFICIENT_ESCROW',
              `available escrow ${a.available} is below ${what} ${required}`,
              {
                details: {
                  available: a.available.toString(),
                  required: required.toString(),
                  balance: a.balance.toString(),
                  unsettled: a.unsettled.toString(),
                  reserved: a.reserved.toString(),
                },
              },
            );
        }
        await store(trx);
      });
    });
    admission = run.catch(() => {});
    return run;
  }

  if (!deps.chain)
    log.warn('no chain configured: development mode, escrow is not checked and epochs are not settled');

  const market: Market = {
    clock,
    escrowChecked: deps.chain !== undefined,
    availableEscrow: (client) => availableEscrow(client),
    admitCharge(client, amount, store) {
      return admitUnderLock(client, amount, 'the charge', store);
    },
    async canAdmit(args) {
      if (!deps.chain) return;
      const worst = worstCaseCost(args);
      const a = await availableEscrow(args.client);
      if (a.available < worst) {
        throw new PlexusError(
          'PLX_INSUFFICIENT_ESCROW',
          `available escrow ${a.available} is below the job's worst case ${worst}`,
          { details: { available: a.available.toString(), required: worst.toString() } },
        );
      }
    },
    admit(args, store) {
      const worst = worstCaseCost(args);
      return admitUnderLock(args.client, worst, "the job's worst case", (trx) => store(worst, trx));
    },
    async onVerdict(trx, jobId, verdict, known = {}) {
      if (verdict.status !== 'accepted') return;
      let job = known.job;
      if (!job) {
        const row = await trx
          .selectFrom('jobs')
          .select(['client', 'spec', 'max_price'])
          .where('id', '=', jobId)
          .executeTakeFirst();
        if (!row) return;
        job = {
          client: row.client,
          spec: JSON.parse(row.spec) as JobSpec,
          maxPrice: row.max_price ? BigInt(row.max_price) : undefined,
        };
      }
      if (job.maxPrice === undefined) return; // a job from before the market: never billed
      const { spec, maxPrice } = job;
      // A render frame nobody checked is billed when its job ends, unless it was re-rendered.
      if (!known.jobEnded && defersBilling(spec, verdict)) return;
      const paid = new Set(
        verdict.outcomes
          .filter((o) => o.outcome === 'valid' || o.outcome === 'unverified')
          .map((o) => o.provider.toLowerCase()),
      );
      const execs =
        known.executions ??
        (await trx
          .selectFrom('task_executions')
          .select(['assignment_id', 'provider', 'result'])
          .where('task_id', '=', verdict.taskId)
          .orderBy('created_at')
          .execute());
      const limit = paidExecutionsPerTask(policyOfSpec(spec));
      // Under the close's lock (shared): the epoch read open here is not closed before this
      // transaction ends, so its close is stamped after this result came (epochCloseLock.ts).
      await holdEpochOpen(trx);
      const { epoch, priceEpoch } = await epochAndPriceEpoch(trx);
      // Paid executions in order, at most `limit`, each with its class: a connected provider's
      // from its session, otherwise its row's.
      const billable: {
        e: (typeof execs)[number];
        cls: string;
        /** The lease time the coordinator measured, which caps the billed usage. */
        leaseMs: number | undefined;
        /** The cap fixed at lease time from the job's verified task size (taskEconomics.ts). */
        sizeCapMilli: bigint | undefined;
        units: bigint;
        region?: RegionShare | undefined;
      }[] = [];
      for (const e of execs) {
        if (!paid.has(e.provider.toLowerCase()) || billable.length >= limit) continue;
        const lease = await leaseTerms(trx, e.assignment_id, known.leases);
        // The class fixed at lease time; a lease from before 0052 as then: a connected provider's
        // from its session (which a reconnect mid-lease could change), otherwise its row's.
        const session = floors.get(e.provider);
        let cls: string;
        if (lease.cls) cls = lease.cls;
        else if (session) cls = (spec.resources.gpu && session.gpuClass) || CPU_CLASS;
        else {
          const p = await trx
            .selectFrom('providers')
            .select(['hardware'])
            .where('address', '=', e.provider)
            .executeTakeFirst();
          const hw = p ? (JSON.parse(p.hardware) as HardwareClaim) : { gpus: [], executionProviders: [] };
          cls = taskClass(spec.resources.gpu, hw);
        }
        const usage = (JSON.parse(e.result) as { usage: Usage }).usage;
        const { leaseMs, sizeCapMilli } = lease;
        billable.push({
          e,
          cls,
          leaseMs,
          sizeCapMilli,
          units: billedUnitsMilli(cls, usage, spec.taskTimeoutSec, leaseMs, sizeCapMilli),
        });
      }
      // The base price per class, read once for this verdict (every execution is priced twice).
      const basePrices = new Map<string, Promise<bigint>>();
      const basePriceOf = (cls: string) => {
        const known = basePrices.get(cls);
        if (known) return known;
        const read = basePrice(trx, cls, priceEpoch);
        basePrices.set(cls, read);
        return read;
      };
      // The price is the class's base price in force, within the client's cap: a provider's floor
      // (self-declared in its hello, changeable by reconnecting mid-lease) only decides which jobs it
      // may take (`ineligible`), never what a client pays (review p9; docs/market.md "Prices").
      const priceOf = async (x: (typeof billable)[number], unitsMilli: bigint) =>
        priceExecution({
          cls: x.cls,
          usage: (JSON.parse(x.e.result) as { usage: Usage }).usage,
          timeoutSec: spec.taskTimeoutSec,
          basePrice: await basePriceOf(x.cls),
          floor: 0n,
          maxPrice,
          unitsMilli,
        });
      // Median billing: every paid execution is billed the median of the agreeing executions'
      // measured units, not its own report (docs/market.md "Median billing"); a render region
      // auditor's units sized to the whole task first, and it is billed its region's share
      // (priceExecution.ts `medianBilling`, docs/render.md "Billing").
      // Only a render job has region audits (dispatch records one for a render auditor only):
      // every other verdict skips the query.
      const shares =
        spec.kind === 'blender.render'
          ? await regionSharesOf(
              trx,
              billable.map((x) => x.e.assignment_id),
              spec.render,
            )
          : new Map<string, RegionShare>();
      for (const x of billable) x.region = shares.get(x.e.assignment_id);
      const unitsOf = await chargedUnits(billable, spec.taskTimeoutSec, (x, units) =>
        priceOf(x, units).then((p) => p.charge),
      );
      for (const x of billable) {
        const { e, cls } = x;
        const units = unitsOf.get(x);
        if (units === undefined) continue; // its charge rounds to nothing
        const price = await priceOf(x, units);
        await postEntry(
          trx,
          {
            ref: `exec:${e.assignment_id}`,
            kind: 'charge',
            epoch,
            jobId,
            memo: {
              taskId: verdict.taskId,
              provider: e.provider.toLowerCase(),
              class: cls,
              unitsMilli: price.unitsMilli.toString(),
              unitPrice: price.unitPrice.toString(),
              ...(x.leaseMs !== undefined ? { leaseMs: x.leaseMs } : {}),
              ...(x.sizeCapMilli !== undefined ? { sizeCapMilli: x.sizeCapMilli.toString() } : {}),
              ...(priceEpoch !== epoch ? { priceEpoch } : {}),
              ...(x.region ? { regionPixels: x.region.pixels, taskPixels: x.region.taskPixels } : {}),
            },
            postings: [
              { account: accounts.clientUnsettled(job.client), amount: price.charge },
              { account: accounts.providerEarnings(e.provider), amount: -price.providerAmount },
              ...(price.fee > 0n ? [{ account: accounts.protocolFees, amount: -price.fee }] : []),
            ],
          },
          now(),
          deps.raw,
        );
      }
    },
    async onConnected(trx, hello, t) {
      const address = hello.address.toLowerCase();
      floors.set(address, { gpuClass: gpuClassOf(hello.hardware), floors: hello.floorPrices ?? {} });
      void refreshOne(address);
      await trx
        .updateTable('providers')
        .set({ floor_prices: JSON.stringify(hello.floorPrices ?? {}) })
        .where('address', '=', hello.address)
        .execute();
      await trx
        .updateTable('provider_sessions')
        .set({ disconnected_at: t })
        .where('provider', '=', address)
        .where('disconnected_at', 'is', null)
        .execute();
      await trx
        .insertInto('provider_sessions')
        .values({ provider: address, slots: hello.slots, connected_at: t, disconnected_at: null })
        .execute();
    },
    async onDisconnected(trx, address, t) {
      floors.delete(address.toLowerCase());
      activeOnChain.delete(address.toLowerCase());
      await trx
        .updateTable('provider_sessions')
        .set({ disconnected_at: t })
        .where('provider', '=', address.toLowerCase())
        .where('disconnected_at', 'is', null)
        .execute();
    },
    leaseClass(address, needsGpu) {
      if (!needsGpu) return CPU_CLASS;
      const session = floors.get(address.toLowerCase());
      return session ? session.gpuClass || CPU_CLASS : undefined;
    },
    ineligible(maxPrice, needsGpu) {
      const out = new Set<string>();
      for (const [address, f] of floors) {
        if (deps.chain && !activeOnChain.has(address)) {
          out.add(address);
          continue;
        }
        if (maxPrice === undefined) continue;
        const cls = (needsGpu && f.gpuClass) || CPU_CLASS;
        const floor = f.floors[cls] !== undefined ? BigInt(f.floors[cls]) : defaultFloorPrice(cls);
        if (floor > maxPrice) out.add(address);
      }
      return out;
    },
    stakeOf(address) {
      return stakes.get(address.toLowerCase());
    },
    standingOf(address) {
      return standings.get(address.toLowerCase());
    },
    async refreshStakes() {
      await Promise.all([...floors.keys()].map((a) => refreshOne(a)));
    },
    async refreshEscrowHolds() {
      if (!deps.chain) return;
      const open = await db
        .selectFrom('jobs')
        .select('client')
        .distinct()
        .where('status', 'in', ['queued', 'running'])
        .where('worst_case', 'is not', null)
        .execute();
      const clients = new Set(open.map((r) => r.client.toLowerCase()));
      for (const c of held) if (!clients.has(c)) held.delete(c);
      let released = false;
      for (const c of clients) {
        let a: Awaited<ReturnType<typeof availableEscrow>>;
        try {
          a = await availableEscrow(c as Address);
        } catch (err) {
          // The chain is down: keep the last decision; settlement queues meanwhile.
          log.debug({ err, client: c }, 'could not re-read the escrow');
          continue;
        }
        if (a.available < 0n) {
          if (!held.has(c))
            log.warn(
              { client: c, shortfall: (-a.available).toString() },
              "escrow no longer covers the client's open jobs (withdrawal requested?): its unstarted tasks wait",
            );
          held.add(c);
          // Its delivered outputs whose bill waited for their job's end are billed now: the
          // withdrawal could otherwise take the escrow before the job ends (heldBilling.ts).
          await billHeldClient(db, c, market.onVerdict).catch((err) =>
            log.warn({ err, client: c }, 'held bill'),
          );
        } else if (held.delete(c)) {
          log.info({ client: c }, "escrow covers the client's open jobs again: its tasks run");
          released = true;
        }
      }
      if (released) deps.onEligible?.();
    },
    clientHeld(client) {
      return held.has(client.toLowerCase());
    },
    basePrice,
    currentEpoch,
    async classes(ex) {
      const set = new Set<string>([CPU_CLASS]);
      for (const r of await ex.selectFrom('providers').select('hardware').execute()) {
        const g = gpuClassOf(JSON.parse(r.hardware) as HardwareClaim);
        if (g) set.add(g);
      }
      for (const r of await ex.selectFrom('prices').select('class').distinct().execute()) set.add(r.class);
      return [...set].sort();
    },
  };
  return market;
}
