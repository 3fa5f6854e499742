/**
 * Epoch settlement (docs/market.md, "Settlement state machine"): every epoch goes
 * open → closing → signed → submitted → settled, each step persisted before the next, so a
 * coordinator killed at any moment resumes where it was and finalizes each epoch exactly once.
 */
import type { Kysely } from 'kysely';
import { type Hex, type LocalAccount, parseEventLogs } from 'viem';
import { plexusAbis } from '../../chain/abis.ts';
import { toChainError } from '../../chain/ChainRevertError.ts';
import { toEpochStruct } from '../../chain/epoch/epochTypedData.ts';
import { signEpoch } from '../../chain/epoch/signEpoch.ts';
import type { EpochPayload, EpochSignature, PlexusWriter } from '../../chain/types.ts';
import type { Logger } from '../../logger.ts';
import type { Market } from '../market/createMarket.ts';
import type { Metrics } from '../metrics.ts';
import type { Database } from '../store/schema.ts';
import { closeEpoch, payloadFromJson } from './closeEpoch.ts';

/**
 * Test-only fault injection: `PLEXUS_TEST_CRASH_AT=<step>` makes the process kill itself with
 * SIGKILL right after that step (closing | signed | sent | submitted) of the first epoch that
 * charges a client, so tests can prove crash recovery. Never set it outside tests.
 */
const CRASH_AT = process.env.PLEXUS_TEST_CRASH_AT;
function crashPoint(step: 'closing' | 'signed' | 'sent' | 'submitted', payload: EpochPayload): void {
  if (CRASH_AT === step && payload.charges.length > 0) process.kill(process.pid, 'SIGKILL');
}

export type Settlement = {
  /** Runs one step of the state machine for the oldest unsettled epoch; safe to call often. */
  tick(): Promise<void>;
  start(intervalMs?: number): void;
  stop(): Promise<void>;
};

/**
 * Builds the settlement loop. `validators` are the coordinator's validator keys (decrypted from
 * keystores); it signs with all of them, and submits from the first.
 *
 * @example
 * const s = createSettlement({ db, market, writer, validators, chainId, emissionPerEpoch, log });
 * s.start();
 */
export function createSettlement(deps: {
  db: Kysely<Database>;
  market: Market;
  writer: PlexusWriter;
  validators: readonly LocalAccount[];
  chainId: number;
  emissionPerEpoch: bigint;
  /** Sensor emission per epoch, shared by device owners by quality (docs/sensors.md); default none. */
  sensorEmissionPerEpoch?: bigint;
  log: Logger;
  now?: () => number;
  metrics?: Metrics;
}): Settlement {
  const { db, market, writer, log } = deps;
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let chainDown = false;
  /** Epoch rows exist up to this one (0: not checked yet). */
  let rowsUpTo = 0;
  /** The chain's last finalized epoch as last read (undefined: not read yet). */
  let knownFinalized: number | undefined;

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

  async function step(): Promise<void> {
    // Rows first: epochs that end while the chain is down show as queued (open past their end).
    await ensureRows(market.clock.epochAt(now()));
    // The contract finalizes epochs in order and none before it ends: until the one after the last
    // finalized epoch ends, the chain has nothing new, and the store changes only here. So the
    // chain is read at the first step and then only once that epoch is over (every tick read it
    // before, a steady cost per second of an idle coordinator).
    if (knownFinalized !== undefined && now() < market.clock.endsAt(knownFinalized + 1)) return;
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
    if (now() < market.clock.endsAt(e)) return;
    const row = await db.selectFrom('epochs').selectAll().where('epoch', '=', e).executeTakeFirst();
    if (!row) return;
    if (row.status === 'open') {
      await closeEpoch({
        db,
        market,
        chain: writer,
        epoch: e,
        emissionPerEpoch: deps.emissionPerEpoch,
        sensorEmissionPerEpoch: deps.sensorEmissionPerEpoch ?? 0n,
        now: now(),
      });
      log.info({ epoch: e }, 'epoch closed');
      const closed = await db
        .selectFrom('epochs')
        .select('payload')
        .where('epoch', '=', e)
        .executeTakeFirst();
      if (closed?.payload) crashPoint('closing', payloadFromJson(closed.payload));
      return step();
    }
    const payload = payloadFromJson(row.payload!);
    if (row.status === 'closing') {
      const target = { chainId: deps.chainId, settlement: writer.addresses.settlement };
      const sigs: EpochSignature[] = [];
      for (const v of deps.validators) sigs.push(await signEpoch(v, target, payload));
      await setStatus(e, { status: 'signed', signatures: JSON.stringify(sigs) });
      crashPoint('signed', payload);
      return step();
    }
    if (row.status === 'submitted' && row.tx_hash) {
      // Sent before a restart and not (yet) finalized: wait for it; if it failed, send again.
      const receipt = await writer.publicClient
        .waitForTransactionReceipt({ hash: row.tx_hash as Hex, timeout: 30_000 })
        .catch(() => undefined);
      if (receipt?.status === 'success') {
        await setStatus(e, { status: 'settled', settled_at: now() });
        log.info({ epoch: e, tx: row.tx_hash }, 'epoch settled');
        return;
      }
      log.warn({ epoch: e, tx: row.tx_hash }, 'finalize transaction did not land; sending again');
      await setStatus(e, { status: 'signed', tx_hash: null });
      return;
    }
    // signed → submitted → settled
    const sigs = JSON.parse(row.signatures!) as EpochSignature[];
    const sorted = [...sigs].sort((a, b) => (BigInt(a.signer) < BigInt(b.signer) ? -1 : 1));
    let hash: Hex;
    try {
      const { request } = await writer.publicClient.simulateContract({
        address: writer.addresses.settlement,
        abi: plexusAbis.settlement,
        functionName: 'finalizeEpoch',
        args: [toEpochStruct(payload), sorted.map((s) => s.signature)],
        account: writer.walletClient.account,
        chain: writer.walletClient.chain,
      } as never);
      hash = await writer.walletClient.writeContract(request as never);
    } catch (err) {
      throw toChainError(err, 'finalizeEpoch');
    }
    crashPoint('sent', payload);
    await setStatus(e, { status: 'submitted', tx_hash: hash });
    crashPoint('submitted', payload);
    const receipt = await writer.publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') {
      await setStatus(e, { status: 'signed', tx_hash: null });
      throw new Error(`finalizeEpoch ${e} reverted when mined (${hash})`);
    }
    const fin = parseEventLogs({
      abi: plexusAbis.settlement,
      logs: receipt.logs,
      eventName: 'EpochFinalized',
    });
    await setStatus(e, { status: 'settled', settled_at: now() });
    log.info(
      { epoch: e, tx: hash, gasUsed: receipt.gasUsed.toString(), events: fin.length },
      'epoch settled',
    );
  }

  async function tick(): Promise<void> {
    if (running) return running;
    running = (async () => {
      try {
        await step();
      } catch (err) {
        deps.metrics?.settlementFailures.inc();
        const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
        // The chain's clock may trail by a block: not worth a warning.
        if (/EpochNotEnded/.test(String(msg))) log.debug({ err: msg }, 'epoch not ended on chain yet');
        else if (!chainDown) log.warn({ err: msg }, 'settlement step failed; retrying');
        if (/fetch failed|ECONNREFUSED|HTTP request failed|timed out|socket/i.test(String(err)))
          chainDown = true;
      } finally {
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
