/**
 * Closing an epoch, the first step of settlement (docs/market.md, "Settlement state machine"):
 * read (readEpochInputs.ts), compute (epochComputation.ts, pure), write (writeEpoch.ts).
 */
import type { Kysely, Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import type { PlexusReader } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Market } from '../market/createMarket.ts';
import { lockEpochClose } from '../market/epochCloseLock.ts';
import { setLockTimeout, sqlState, withPgRetry } from '../store/pgRetry.ts';
import type { Database } from '../store/schema.ts';
import { withProvenFaults } from './bundleFaults.ts';
import { readCapabilityProofs } from './capabilityProofRead.ts';
import { computeEpoch, type EpochInputs } from './epochComputation.ts';
import type { EpochFacts } from './epochFacts.ts';
import { EVIDENCE_VERSION, encodeEvidence, GENESIS_EVIDENCE_HASH } from './evidence.ts';
import { readLeaseSalts } from './leaseSalts.ts';
import { readEpochFacts } from './readEpochFacts.ts';
import { readChainInputs, readStoreInputs } from './readEpochInputs.ts';
import { lockSlashCursor, stillPending } from './slashCursor.ts';
import { writeEpoch } from './writeEpoch.ts';

/**
 * A test-only dishonest coordinator: mutates the inputs and facts of an epoch in place before the
 * epoch is computed from them, published and written.
 *
 * @example
 * const tamper: EpochTamper = (inputs) => { inputs.epochBalances[0]!.balance -= 1n; };
 */
export type EpochTamper = (inputs: EpochInputs, facts: EpochFacts) => void;

/**
 * Where a close is (told to `onStage` as it moves, so settlement can say which step waits when a
 * close is slow): its chain reads, then in its transaction the epoch-close lock, the slash
 * cursor, the store's reads, the writes, and the commit.
 *
 * @example const s: CloseStage = 'epoch-close lock';
 */
export type CloseStage =
  | 'chain reads'
  | 'epoch-close lock'
  | 'slash cursor'
  | 'store reads'
  | 'writes'
  | 'commit';

/** How long (ms) one of a close's lock waits may last on PostgreSQL before its try is abandoned. */
export const CLOSE_LOCK_TIMEOUT_MS = 10_000;
/** Tries of the close's transaction (PostgreSQL deadlock, serialization failure, lock timeout). */
export const CLOSE_ATTEMPTS = 3;

/**
 * Closes an epoch: in ONE store transaction it collects the clients' unsettled charges (capped at
 * their on-chain escrow; a shortfall becomes bad debt), applies pending slashes (capped at the
 * provider's on-chain stake), shares the epoch's emission, builds the cumulative rewards tree,
 * sets the next epoch's base prices, and stores the payload with status `closing`. Chain reads
 * happen before the transaction; a crash anywhere leaves either nothing or everything written.
 *
 * @example
 * await closeEpoch({ db, market, chain: writer, epoch: 4, emissionPerEpoch: 100n * PLX, now: Date.now() });
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
  /**
   * The clock the close time (`inputs.closedAt`) is read from once the close holds the epoch-close
   * lock in its transaction (market/epochCloseLock.ts): a charge priced at this epoch then came
   * before it (docs/validators.md "Unit price"). None: `now` (tests with a fixed time).
   */
  clock?: () => number;
  /** Chain id of the settlement contract, part of the evidence bundle (default: the reader's chain). */
  chainId?: number;
  /**
   * The network id job submissions are signed for (the escrow contract, or the development network
   * id; null: chain id only), part of the facts so validators can check the clients' signatures.
   */
  verifyingContract?: Address | null;
  /**
   * Test-only: alters what the coordinator read before it computes, publishes and writes the epoch
   * (a dishonest coordinator whose books agree with themselves, to prove validators refuse it —
   * test/settlement.test.ts). Never set in production.
   */
  tamper?: EpochTamper;
  /** Told each stage as the close reaches it (settlement logs the one a slow close waits in). */
  onStage?: (stage: CloseStage) => void;
  /** PostgreSQL: the longest one lock wait of a try (default {@link CLOSE_LOCK_TIMEOUT_MS}). */
  lockTimeoutMs?: number;
  /** PostgreSQL: tries of the whole transaction (default {@link CLOSE_ATTEMPTS}). */
  attempts?: number;
  /** Told each abandoned try (deadlock, serialization failure or lock timeout) before the next. */
  onRetry?: (info: {
    epoch: number;
    stage: CloseStage;
    sqlState: string | undefined;
    tryNumber: number;
  }) => void;
}): Promise<void> {
  const { db, market, epoch } = deps;
  let stage: CloseStage = 'chain reads';
  const at = (s: CloseStage) => {
    stage = s;
    deps.onStage?.(s);
  };
  at('chain reads');
  const w = { epoch, startsAt: market.clock.startsAt(epoch), endsAt: market.clock.endsAt(epoch) };
  const pre = await readChainInputs(db, deps.chain, w);
  // The transaction only reads the store and writes the epoch, all or nothing, and re-checks that
  // the epoch is still open: a try PostgreSQL aborted (a deadlock it broke, a lock wait past the
  // timeout) left nothing, so it runs again whole (store/pgRetry.ts). Without the timeout a close
  // behind a transaction that never ends would hold settlement, and every pricing transaction
  // queued behind its lock, for good.
  const body = async (trx: Transaction<Database>) => {
    await setLockTimeout(trx, deps.lockTimeoutMs ?? CLOSE_LOCK_TIMEOUT_MS);
    const row = await trx.selectFrom('epochs').select('status').where('epoch', '=', epoch).executeTakeFirst();
    if (row && row.status !== 'open') return; // closed already (a replay)
    // Pricing waits for this lock (shared) before reading which epoch is open: the close time is
    // stamped under it, after every charge priced at this epoch committed (epochCloseLock.ts).
    at('epoch-close lock');
    await lockEpochClose(trx);
    const now = Math.max(deps.now, deps.clock?.() ?? deps.now);
    // Reversals and closes take turns on the slash cursor (slashCursor.ts): a slash a review
    // withdrew since `pre` was read is not applied.
    at('slash cursor');
    await lockSlashCursor(trx);
    const slashRequests = await stillPending(trx, pre.slashRequests);
    at('store reads');
    const inputs: EpochInputs = {
      ...w,
      closedAt: now,
      emissionPerEpoch: deps.emissionPerEpoch,
      sensorEmissionPerEpoch: deps.sensorEmissionPerEpoch ?? 0n,
      ...pre,
      slashRequests,
      ...(await readStoreInputs(trx, market, w)),
    };
    // The evidence bundle: exactly these inputs, chained to the previous epoch's bundle. Its hash
    // goes into the payload, so validators sign the facts along with the amounts.
    const prev = await trx
      .selectFrom('epoch_evidence')
      .select('hash')
      .where('epoch', '=', epoch - 1)
      .executeTakeFirst();
    const chainId = deps.chainId ?? deps.chain.publicClient.chain?.id ?? 0;
    const facts = await readEpochFacts(trx, {
      epoch,
      slashIds: inputs.slashRequests.map((r) => r.id),
      jobDomain: { chainId, verifyingContract: deps.verifyingContract ?? null },
    });
    // Version 11: the salts of the leases the bundle cites (secret until now, leaseSalts.ts).
    facts.leaseSalts = await readLeaseSalts(trx, facts);
    // Version 10: every provider the bundle slashes or journals a fault of is faulted (no emission).
    inputs.faulted = withProvenFaults(inputs, facts);
    // Version 12: the proofs of the capacities emission weighs (capabilityEvidence.ts).
    facts.capabilityProofs = await readCapabilityProofs(trx, inputs);
    deps.tamper?.(inputs, facts);
    const evidence = encodeEvidence({
      version: EVIDENCE_VERSION,
      epoch,
      chainId,
      settlement: deps.chain.addresses.settlement,
      prevHash: (prev?.hash as Hex | undefined) ?? GENESIS_EVIDENCE_HASH,
      inputs,
      facts,
    });
    const outcome = computeEpoch(inputs, evidence.hash);
    at('writes');
    await trx
      .insertInto('epoch_evidence')
      .values({
        epoch,
        hash: evidence.hash,
        prev_hash: (prev?.hash as Hex | undefined) ?? GENESIS_EVIDENCE_HASH,
        body: evidence.text,
        created_at: now,
      })
      .onConflict((oc) => oc.column('epoch').doNothing())
      .execute();
    await writeEpoch(trx, w, outcome, pre.sensorScores, now);
    at('commit');
  };
  try {
    await withPgRetry(() => db.transaction().execute(body), {
      attempts: deps.attempts ?? CLOSE_ATTEMPTS,
      onRetry: (err, tryNumber) => deps.onRetry?.({ epoch, stage, sqlState: sqlState(err), tryNumber }),
    });
  } catch (err) {
    if (sqlState(err) !== '55P03') throw err;
    throw new PlexusError(
      'PLX_EPOCH_CLOSE_BUSY',
      `closing epoch ${epoch}: a lock wait at "${stage}" outlasted its timeout on every try`,
      { details: { epoch, stage, sqlState: '55P03' }, cause: err },
    );
  }
}
