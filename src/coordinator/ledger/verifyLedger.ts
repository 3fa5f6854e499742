import type { Kysely } from 'kysely';
import { type Hex, parseEventLogs } from 'viem';
import { plexusAbis } from '../../chain/abis.ts';
import { getSettlementState } from '../../chain/actions/coordinator/getSettlementState.ts';
import type { PlexusReader } from '../../chain/types.ts';
import type { Database } from '../store/schema.ts';
import { cumulativeEarnings } from './cumulativeEarnings.ts';
import { payloadFromJson } from './epochPayload.ts';
import { rewardsOf } from './rewardsTree.ts';

/** One failed check. */
export type LedgerProblem = { check: string; message: string };

/** What `plexus ledger verify` found. */
export type LedgerReport = {
  entries: number;
  postings: number;
  settledEpochs: number;
  checkedOnChain: boolean;
  problems: LedgerProblem[];
};

/**
 * Proves the books: every entry balances (sum of postings = 0, at least two postings); for every
 * settled epoch the stored payload's root and total equal a tree rebuilt from the ledger, and
 * its charges, slashes and emission equal the ledger's entries of that epoch. With a chain, also
 * that each settled epoch's finalize transaction charged, slashed and minted exactly that, and that
 * the chain's current root and totalEarned are the last settled epoch's.
 *
 * @example
 * const report = await verifyLedger(db, reader);
 * if (report.problems.length > 0) process.exit(1);
 */
export async function verifyLedger(db: Kysely<Database>, chain?: PlexusReader): Promise<LedgerReport> {
  const problems: LedgerProblem[] = [];
  const postings = await db.selectFrom('ledger_postings').select(['entry_id', 'amount']).execute();
  const entries = await db.selectFrom('ledger_entries').select(['id', 'ref']).execute();
  const sums = new Map<number, { sum: bigint; n: number }>();
  for (const p of postings) {
    const s = sums.get(p.entry_id) ?? { sum: 0n, n: 0 };
    sums.set(p.entry_id, { sum: s.sum + BigInt(p.amount), n: s.n + 1 });
  }
  for (const e of entries) {
    const s = sums.get(e.id);
    if (!s || s.n < 2)
      problems.push({ check: 'balance', message: `entry ${e.ref} has fewer than two postings` });
    else if (s.sum !== 0n) problems.push({ check: 'balance', message: `entry ${e.ref} sums to ${s.sum}` });
  }
  const settled = await db
    .selectFrom('epochs')
    .selectAll()
    .where('status', '=', 'settled')
    .orderBy('epoch')
    .execute();
  for (const ep of settled) {
    if (!ep.payload) {
      problems.push({ check: 'epoch', message: `epoch ${ep.epoch} is settled without a payload` });
      continue;
    }
    const payload = payloadFromJson(ep.payload);
    const rebuilt = rewardsOf(await cumulativeEarnings(db, ep.epoch));
    if (rebuilt.root !== payload.rewardsRoot || rebuilt.totalEarned !== payload.totalEarned) {
      problems.push({
        check: 'rewards',
        message: `epoch ${ep.epoch}: ledger gives root ${rebuilt.root} / ${rebuilt.totalEarned}, payload has ${payload.rewardsRoot} / ${payload.totalEarned}`,
      });
    }
    const own = await db
      .selectFrom('ledger_postings as p')
      .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
      .select(['e.kind', 'p.account', 'p.amount'])
      .where('e.epoch', '=', ep.epoch)
      .where('e.kind', 'in', ['settle-charges', 'slash', 'emission'])
      .where('p.account', '=', 'chain:settlement')
      .execute();
    const byKind = { 'settle-charges': 0n, slash: 0n, emission: 0n } as Record<string, bigint>;
    for (const r of own) byKind[r.kind] = (byKind[r.kind] ?? 0n) + BigInt(r.amount);
    const sum = (xs: readonly { amount: bigint }[]) => xs.reduce((a, x) => a + x.amount, 0n);
    const compare = (what: string, ledger: bigint, other: bigint, where: string) => {
      if (ledger !== other)
        problems.push({
          check: what,
          message: `epoch ${ep.epoch}: ledger ${what} ${ledger} ≠ ${where} ${other}`,
        });
    };
    compare('charges', byKind['settle-charges']!, sum(payload.charges), 'payload');
    compare('slashes', byKind.slash!, sum(payload.slashes), 'payload');
    compare('emission', byKind.emission!, payload.emission, 'payload');
    if (chain && ep.tx_hash) {
      const receipt = await chain.publicClient.getTransactionReceipt({ hash: ep.tx_hash as Hex });
      const logs = receipt.logs;
      const charged = parseEventLogs({ abi: plexusAbis.escrow, logs, eventName: 'Charged' });
      const slashed = parseEventLogs({ abi: plexusAbis.registry, logs, eventName: 'ProviderSlashed' });
      const minted = parseEventLogs({ abi: plexusAbis.token, logs, eventName: 'EmissionMinted' });
      const fin = parseEventLogs({ abi: plexusAbis.settlement, logs, eventName: 'EpochFinalized' });
      if (fin[0]?.args.epoch !== BigInt(ep.epoch))
        problems.push({ check: 'chain', message: `epoch ${ep.epoch}: tx ${ep.tx_hash} did not finalize it` });
      // Per client: what the escrow charged equals the ledger's collection from that client.
      for (const c of payload.charges) {
        const got = charged
          .filter((l) => l.args.client.toLowerCase() === c.client.toLowerCase())
          .reduce((a, l) => a + l.args.amount, 0n);
        compare(`charge of ${c.client}`, c.amount, got, 'chain');
      }
      compare(
        'charges',
        byKind['settle-charges']!,
        charged.reduce((a, l) => a + l.args.amount, 0n),
        'chain',
      );
      compare(
        'slashes',
        byKind.slash!,
        slashed.reduce((a, l) => a + l.args.amount, 0n),
        'chain',
      );
      compare(
        'emission',
        byKind.emission!,
        minted.reduce((a, l) => a + l.args.amount, 0n),
        'chain',
      );
    }
  }
  if (chain) {
    const s = await getSettlementState(chain);
    const last = settled.at(-1);
    if (last?.payload && Number(s.lastFinalizedEpoch) === last.epoch) {
      const p = payloadFromJson(last.payload);
      if (s.rewardsRoot !== p.rewardsRoot || s.totalEarned !== p.totalEarned)
        problems.push({
          check: 'chain',
          message: `chain root/totalEarned ${s.rewardsRoot}/${s.totalEarned} ≠ epoch ${last.epoch}'s ${p.rewardsRoot}/${p.totalEarned}`,
        });
    } else if (Number(s.lastFinalizedEpoch) > (last?.epoch ?? 0)) {
      // A running coordinator may be between its transaction landing and recording it: then the
      // chain must hold exactly the payload the store is settling.
      const inFlight = await db
        .selectFrom('epochs')
        .select(['status', 'payload'])
        .where('epoch', '=', Number(s.lastFinalizedEpoch))
        .executeTakeFirst();
      const p =
        inFlight?.payload && inFlight.status !== 'open' ? payloadFromJson(inFlight.payload) : undefined;
      if (!p || s.rewardsRoot !== p.rewardsRoot || s.totalEarned !== p.totalEarned)
        problems.push({
          check: 'chain',
          message: `chain finalized epoch ${s.lastFinalizedEpoch}, the store settled only up to ${last?.epoch ?? 0} and holds no matching payload for it`,
        });
    }
  }
  return {
    entries: entries.length,
    postings: postings.length,
    settledEpochs: settled.length,
    checkedOnChain: chain !== undefined,
    problems,
  };
}
