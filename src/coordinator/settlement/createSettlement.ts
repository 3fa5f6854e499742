/**
 * Epoch settlement (docs/market.md, "Settlement state machine"): every epoch goes
 * open → closing → signed → submitted → settled, each step persisted before the next, so a
 * coordinator killed at any moment resumes where it was and finalizes each epoch exactly once.
 */
import type { Kysely } from 'kysely';
import type { Address, Hex, LocalAccount } from 'viem';
import { plexusAbis } from '../../chain/abis.ts';
import { sendFinalizeEpoch, waitForFinalizeEpoch } from '../../chain/actions/coordinator/finalizeEpoch.ts';
import { ChainRevertError } from '../../chain/ChainRevertError.ts';
import type { EpochPayload, EpochSignature, PlexusWriter } from '../../chain/types.ts';
import type { Logger } from '../../logger.ts';
import { payloadFromJson } from '../ledger/epochPayload.ts';
import type { Market } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import type { Database } from '../store/schema.ts';
import { closeEpoch, type EpochTamper } from './closeEpoch.ts';
import { type EpochSigner, localSigner } from './collectSignatures.ts';

/**
 * A point in an epoch's settlement, reached right after: `closing` its close was stored,
 * `signed` its signatures were stored, `sent` its finalize transaction was sent (the hash not yet
 * stored), `submitted` the hash was stored (not yet mined).
 *
 * @example
 * const step: SettlementStep = 'submitted';
 */
export type SettlementStep = 'closing' | 'signed' | 'sent' | 'submitted';

/**
 * Called at each settlement step with the epoch's payload; settlement awaits it before going on.
 * Tests inject one that kills the process at a chosen step, to prove crash recovery.
 *
 * @example
 * const onStep: SettlementStepHook = (step, { epoch }) => log.debug({ step, epoch }, 'settlement step');
 * createSettlement({ ...deps, onStep });
 */
export type SettlementStepHook = (
  step: SettlementStep,
  epoch: { epoch: number; payload: EpochPayload },
) => void | Promise<void>;

/** A settlement step running longer than this (ms) is logged with the step it waits in. */
export const SLOW_STEP_MS = 15_000;

/**
 * The settlement loop.
 *
 * @example
 * const s: Settlement = createSettlement(deps);
 * await s.tick();
 */
export type Settlement = {
  /** Runs one step of the state machine for the oldest unsettled epoch; safe to call often. */
  tick(): Promise<void>;
  start(intervalMs?: number): void;
  stop(): Promise<void>;
};

/**
 * Builds the settlement loop. `signer` gathers the validators' signatures (collectSignatures.ts:
 * pulled from independent validators, which recompute the epoch from its evidence first); an
 * epoch waits in `closing` until `signer.threshold` of them sign. `writer` sends the transactions.
 *
 * @example
 * const s = createSettlement({ db, market, writer, signer, chainId, emissionPerEpoch, log });
 * s.start();
 */
export function createSettlement(deps: {
  db: Kysely<Database>;
  market: Market;
  writer: PlexusWriter;
  /** Where signatures come from: independent validators (remoteSigner) in production. */
  signer?: EpochSigner;
  /** Legacy: validator keys held in this process (tests only); used when `signer` is absent. */
  validators?: readonly LocalAccount[];
  chainId: number;
  emissionPerEpoch: bigint;
  /** Sensor emission per epoch, shared by device owners by quality (docs/sensors.md); default none. */
  sensorEmissionPerEpoch?: bigint;
  log: Logger;
  now?: () => number;
  metrics?: Metrics;
  /** Runs after each step of each epoch (tests: crash injection); none in production. */
  onStep?: SettlementStepHook;
  /** The network id job submissions are signed for (see closeEpoch). */
  verifyingContract?: Address | null;
  /** Test-only: a dishonest coordinator's alteration of each closed epoch (see closeEpoch). */
  tamper?: EpochTamper;
  /**
   * Posts what accrues at an epoch's end into it just before it closes (the storage network pays
   * holders their proven GiB-epochs: storage/storageLedger.ts). Idempotent: a crash re-runs it.
   */
  beforeClose?: (epoch: number) => Promise<unknown>;
  /** A step running longer than this (ms, default {@link SLOW_STEP_MS}) is logged with where it waits. */
  slowStepMs?: number;
  /**
   * What the store's sessions wait for now (PostgreSQL: store/lockWaits.ts), added to the slow-step
   * warning so it names the transactions blocking a close. None: the warning says the step only.
   */
  lockWaits?: () => Promise<unknown>;
}): Settlement {
  const { db, market, writer, log } = deps;
  const signer =
    deps.signer ??
    localSigner(
      deps.validators ?? [],
      { chainId: deps.chainId, settlement: writer.addresses.settlement },
      Math.max(1, deps.validators?.length ?? 0),
    );
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let chainDown = false;
  /** Epoch rows exist up to this one (0: not checked yet). */
  let rowsUpTo = 0;
  /** The chain's last finalized epoch as last read (undefined: not read yet). */
  let knownFinalized: number | undefined;
  /** The epoch last logged as waiting for signatures (logged once, not every tick). */
  let waitingFor: number | undefined;
  /** Since when (wall clock) and until when that epoch's wait was last warned of. */
  let waitingSince = 0;
  let warnedWaitAt = 0;
  /** Where the running step is, for the slow-step warning (wall clock: `now` may be a test's). */
  let stage: { epoch: number; step: string; since: number } | undefined;
  const at = (epoch: number, step: string) => {
    stage = { epoch, step, since: Date.now() };
  };
  const slowStepMs = deps.slowStepMs ?? SLOW_STEP_MS;

  async function setStatus(epoch: number, set: Partial<Database['epochs']>): Promise<void> {
    await db
      .updateTable('epochs')
      .set({ ...set, updated_at: now() })
      .where('epoch', '=', epoch)
      .execute();
    if (set.status === 'settled') {
      deps.metrics?.epochsSettled.inc();
      deps.metrics?.lastSettledEpoch.set(epoch);
    }
  }

  /** Creates `open` rows up to the current epoch, so the API lists them. */
  async function ensureRows(upTo: number): Promise<void> {
    // Rows are never deleted: once they exist up to an epoch, nothing is left to do until the next.
    if (upTo <= rowsUpTo) return;
    const last = await db
      .selectFrom('epochs')
      .select((eb) => eb.fn.max('epoch').as('e'))
      .executeTakeFirst();
    for (let e = Number(last?.e ?? 0) + 1; e <= upTo; e++) {
      await db
        .insertInto('epochs')
        .values({
          epoch: e,
          status: 'open',
          starts_at: market.clock.startsAt(e),
          ends_at: market.clock.endsAt(e),
          payload: null,
          tree: null,
          summary: null,
          signatures: null,
          tx_hash: null,
          settled_at: null,
          updated_at: now(),
        })
        .onConflict((oc) => oc.column('epoch').doNothing())
        .execute();
    }
    rowsUpTo = upTo;
  }

  /** The last epoch the settlement contract finalized. */
  async function lastFinalizedOnChain(): Promise<number> {
    const last = await writer.publicClient.readContract({
      address: writer.addresses.settlement,
      abi: plexusAbis.settlement,
      functionName: 'lastFinalizedEpoch',
    });
    return Number(last);
  }

  /** The hash of the transaction that finalized `epoch`, from its EpochFinalized event. */
  async function finalizedTx(epoch: number): Promise<Hex | null> {
    const logs = await writer.publicClient.getContractEvents({
      address: writer.addresses.settlement,
      abi: plexusAbis.settlement,
      eventName: 'EpochFinalized',
      args: { epoch: BigInt(epoch) },
      fromBlock: 0n,
    });
    return (logs[0]?.transactionHash as Hex | undefined) ?? null;
  }

  /** One step of the settlement state machine; true when it settled an epoch. */
  async function step(): Promise<boolean> {
    // Rows first: epochs that end while the chain is down show as queued (open past their end).
    at(market.clock.epochAt(now()), 'epoch rows');
    await ensureRows(market.clock.epochAt(now()));
    // The contract finalizes epochs in order and none before it ends: until the one after the last
    // finalized epoch ends, the chain has nothing new, and the store changes only here. So the
    // chain is read at the first step and then only once that epoch is over (every tick read it
    // before, a steady cost per second of an idle coordinator).
    if (knownFinalized !== undefined && now() < market.clock.endsAt(knownFinalized + 1)) return false;
    at((knownFinalized ?? 0) + 1, 'chain: last finalized epoch');
    const chainLast = await lastFinalizedOnChain();
    knownFinalized = chainLast;
    if (chainDown) {
      chainDown = false;
      log.info('chain reachable again: settling queued epochs in order');
    }
    // Epochs the chain finalized but the store has not marked (a crash after sending): settle them.
    const behind = await db
      .selectFrom('epochs')
      .selectAll()
      .where('epoch', '<=', chainLast)
      .where('status', '!=', 'settled')
      .orderBy('epoch')
      .execute();
    for (const r of behind) {
      if (r.status === 'open') {
        // Finalized on chain without this store (another coordinator, or a store wiped): nothing to replay.
        log.error({ epoch: r.epoch }, 'epoch finalized on chain but never closed here');
        continue;
      }
      const tx = r.tx_hash ?? (await finalizedTx(r.epoch));
      await setStatus(r.epoch, { status: 'settled', tx_hash: tx, settled_at: now() });
      log.info({ epoch: r.epoch, tx }, 'epoch settled (confirmed on chain after a restart)');
    }
    const e = chainLast + 1;
    if (now() < market.clock.endsAt(e)) return false;
    const row = await db.selectFrom('epochs').selectAll().where('epoch', '=', e).executeTakeFirst();
    if (!row) return false;
    if (row.status === 'open') {
      at(e, 'before close');
      await deps.beforeClose?.(e);
      await closeEpoch({
        onStage: (s) => at(e, `close: ${s}`),
        onRetry: (r) =>
          log.warn(r, 'epoch close aborted by PostgreSQL (deadlock or lock timeout); trying again'),
        db,
        market,
        chain: writer,
        epoch: e,
        emissionPerEpoch: deps.emissionPerEpoch,
        sensorEmissionPerEpoch: deps.sensorEmissionPerEpoch ?? 0n,
        now: now(),
        clock: now,
        chainId: deps.chainId,
        verifyingContract: deps.verifyingContract ?? null,
        ...(deps.tamper ? { tamper: deps.tamper } : {}),
      });
      log.info({ epoch: e }, 'epoch closed');
      if (deps.onStep) {
        const closed = await db
          .selectFrom('epochs')
          .select('payload')
          .where('epoch', '=', e)
          .executeTakeFirst();
        if (closed?.payload)
          await deps.onStep('closing', { epoch: e, payload: payloadFromJson(closed.payload) });
      }
      return step();
    }
    const payload = payloadFromJson(row.payload!);
    if (row.status === 'closing') {
      at(e, 'validator signatures');
      const sigs = await signer.collect(payload);
      if (sigs.length < signer.threshold) {
        // Validators are still checking the evidence, are down, or refuse it: the epoch waits.
        if (waitingFor !== e) {
          log.info(
            { epoch: e, signatures: sigs.length, threshold: signer.threshold },
            'waiting for validator signatures',
          );
          waitingSince = warnedWaitAt = Date.now();
        } else if (Date.now() - warnedWaitAt >= 4 * slowStepMs) {
          // Long enough to be a stall (validators down, or disputing): what each one answered.
          warnedWaitAt = Date.now();
          log.warn(
            {
              epoch: e,
              waitingMs: Date.now() - waitingSince,
              signatures: sigs.length,
              threshold: signer.threshold,
              votes: signer.votes?.(e) ?? [],
            },
            'still waiting for validator signatures',
          );
        }
        waitingFor = e;
        return false;
      }
      await setStatus(e, { status: 'signed', signatures: JSON.stringify(sigs) });
      await deps.onStep?.('signed', { epoch: e, payload });
      return step();
    }
    if (row.status === 'submitted' && row.tx_hash) {
      at(e, 'finalize receipt (after a restart)');
      // Sent before a restart and not (yet) finalized: wait for it; if it failed, send again.
      const landed = await waitForFinalizeEpoch(writer, row.tx_hash as Hex, { timeoutMs: 30_000 }).then(
        () => true,
        () => false,
      );
      if (landed) {
        await setStatus(e, { status: 'settled', settled_at: now() });
        log.info({ epoch: e, tx: row.tx_hash }, 'epoch settled');
        return true;
      }
      log.warn({ epoch: e, tx: row.tx_hash }, 'finalize transaction did not land; sending again');
      await setStatus(e, { status: 'signed', tx_hash: null });
      return false;
    }
    // signed → submitted → settled: the hash is stored between sending and waiting, so a restart
    // waits for this transaction (above) rather than sending another.
    const sigs = JSON.parse(row.signatures!) as EpochSignature[];
    at(e, 'finalize send');
    const hash = await sendFinalizeEpoch(writer, payload, sigs);
    await deps.onStep?.('sent', { epoch: e, payload });
    await setStatus(e, { status: 'submitted', tx_hash: hash });
    await deps.onStep?.('submitted', { epoch: e, payload });
    let mined: Awaited<ReturnType<typeof waitForFinalizeEpoch>>;
    at(e, 'finalize receipt');
    try {
      mined = await waitForFinalizeEpoch(writer, hash);
    } catch (err) {
      if (!(err instanceof ChainRevertError)) throw err; // not mined yet: the next step waits again
      await setStatus(e, { status: 'signed', tx_hash: null });
      throw new Error(`finalizeEpoch ${e} reverted when mined (${hash})`);
    }
    await setStatus(e, { status: 'settled', settled_at: now() });
    log.info(
      { epoch: e, tx: hash, gasUsed: mined.gasUsed.toString(), events: mined.epochsFinalized.length },
      'epoch settled',
    );
    return true;
  }

  async function reportSlow(): Promise<void> {
    const s = stage;
    if (!s || Date.now() - s.since < slowStepMs) return;
    const locks = await deps.lockWaits?.().catch((err: unknown) => `unreadable: ${String(err)}`);
    log.warn(
      {
        epoch: s.epoch,
        step: s.step,
        waitingMs: Date.now() - s.since,
        ...(locks !== undefined ? { locks } : {}),
      },
      'settlement step slow',
    );
  }

  async function tick(): Promise<void> {
    if (running) return running;
    // A step that runs long is logged with the step it is in (and, on PostgreSQL, the sessions
    // blocking it), every `slowStepMs` until it ends: a stalled settlement says where it stalls.
    const watchdog = setInterval(() => void reportSlow(), slowStepMs);
    watchdog.unref();
    running = (async () => {
      try {
        // A backlog (after an outage, or on a slow machine) settles back to back, not one epoch
        // per tick: with epochs shorter than a tick's round trip it would otherwise never shrink.
        // Bounded, so stop() never waits on a long run of steps.
        for (let i = 0; i < 16 && (await step()); i++);
      } catch (err) {
        deps.metrics?.settlementFailures.inc();
        const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
        // The chain's clock may trail by a block: not worth a warning.
        if (/EpochNotEnded/.test(String(msg))) log.debug({ err: msg }, 'epoch not ended on chain yet');
        // The first frames of the stack say where (a message alone like "reading '0'" does not).
        else if (!chainDown)
          log.warn(
            {
              err: msg,
              at: err instanceof Error ? err.stack?.split('\n').slice(1, 5).join(' | ') : undefined,
            },
            'settlement step failed; retrying',
          );
        if (/fetch failed|ECONNREFUSED|HTTP request failed|timed out|socket/i.test(String(err)))
          chainDown = true;
      } finally {
        clearInterval(watchdog);
        stage = undefined;
        running = undefined;
      }
    })();
    return running;
  }

  return {
    tick,
    start(intervalMs = 1000) {
      timer = setInterval(() => void tick(), intervalMs);
      void tick();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
