/**
 * Reads an epoch's signed facts (epochFacts.ts) from the store, inside the closing transaction:
 * the entries the epoch accrued before closing with what justifies each, and the pending slashes
 * with the slashed providers' signed statements. Order follows the ledger (entry id) and the slash
 * ids, so the bundle is the same whoever reads it.
 */
import type { Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import type { Usage } from '../../protocol/schemas.ts';
import { EPOCH_CLOSE_KINDS } from '../ledger/readBalances.ts';
import type { Database } from '../store/schema.ts';
import { readAuditFacts } from '../verification/auditSeeds.ts';
import type { ChargeFact, EntryFact, EpochFacts, JobFact, SignedStatement, SlashFact } from './epochFacts.ts';
import { causeJobs, readEndedLeases, readUnpaidResults } from './readEndedLeases.ts';
import {
  readCanaryFacts,
  readChargedDraws,
  readDatasetSale,
  readReputationJournal,
  readSensorBatchFacts,
} from './readRandomFacts.ts';

type StoredResult = { usage: Usage; issuedAt: number; signature: Hex };

/**
 * The facts of `epoch` and of the slash requests `slashIds` it settles.
 *
 * @example
 * const facts = await readEpochFacts(trx, { epoch: 4, slashIds: [7, 8], jobDomain });
 */
export async function readEpochFacts(
  trx: Transaction<Database>,
  args: { epoch: number; slashIds: number[]; jobDomain: EpochFacts['jobDomain'] },
): Promise<EpochFacts> {
  const entries = await trx
    .selectFrom('ledger_entries')
    .select(['id', 'ref', 'kind', 'job_id', 'memo'])
    .where('epoch', '=', args.epoch)
    // A reopened epoch's earlier close (reopenEpochs.ts) is not a fact of it.
    .where('kind', 'not in', EPOCH_CLOSE_KINDS)
    .orderBy('id')
    .execute();
  const postings = new Map<number, { account: string; amount: string }[]>();
  if (entries.length > 0) {
    const rows = await trx
      .selectFrom('ledger_postings as p')
      .innerJoin('ledger_entries as e', 'e.id', 'p.entry_id')
      .select(['p.entry_id', 'p.account', 'p.amount'])
      .where('e.epoch', '=', args.epoch)
      .where('e.kind', 'not in', EPOCH_CLOSE_KINDS)
      .orderBy('p.id')
      .execute();
    for (const r of rows) {
      const list = postings.get(r.entry_id) ?? [];
      list.push({ account: r.account, amount: r.amount });
      postings.set(r.entry_id, list);
    }
  }
  const charges: ChargeFact[] = [];
  const other: EntryFact[] = [];
  const jobIds = new Set<string>();
  for (const e of entries) {
    if (e.kind !== 'charge') {
      const sale = e.kind === 'dataset-charge' ? await readDatasetSale(trx, e.ref, e.memo) : undefined;
      const memo =
        e.kind.startsWith('storage-') || e.kind === 'compensation'
          ? { memo: JSON.parse(e.memo) as unknown }
          : {};
      other.push({
        ref: e.ref,
        kind: e.kind,
        postings: postings.get(e.id) ?? [],
        ...(sale ? { sale } : {}),
        ...memo,
      });
      continue;
    }
    const assignmentId = e.ref.slice('exec:'.length) as Hex;
    const memo = JSON.parse(e.memo) as {
      taskId: Hex;
      provider: Address;
      class: string;
      unitsMilli: string;
      unitPrice: string;
      regionPixels?: number;
      taskPixels?: number;
      leaseMs?: number;
      sizeCapMilli?: string;
      priceEpoch?: number;
    };
    const exec = await trx
      .selectFrom('task_executions')
      .select(['output_cid', 'result'])
      .where('assignment_id', '=', assignmentId)
      .executeTakeFirst();
    const result = exec ? (JSON.parse(exec.result) as StoredResult) : null;
    const ps = postings.get(e.id) ?? [];
    const amount = (prefix: string) => ps.find((p) => p.account.startsWith(prefix))?.amount ?? '0';
    jobIds.add(e.job_id ?? '');
    charges.push({
      ref: e.ref,
      jobId: (e.job_id ?? '') as Hex,
      taskId: memo.taskId,
      assignmentId,
      provider: memo.provider,
      class: memo.class,
      unitsMilli: memo.unitsMilli,
      unitPrice: memo.unitPrice,
      charge: amount('client:'),
      fee: (-BigInt(amount('protocol:fees'))).toString(),
      providerAmount: (-BigInt(amount('provider:'))).toString(),
      result: {
        outputCid: exec?.output_cid ?? '',
        usage: result?.usage ?? { wallMs: 0, cpuMs: 0, peakRssBytes: 0 },
        issuedAt: result?.issuedAt ?? 0,
        signature: result?.signature ?? '0x',
      },
      ...(memo.regionPixels !== undefined && memo.taskPixels !== undefined
        ? { region: { pixels: memo.regionPixels, taskPixels: memo.taskPixels } }
        : {}),
      ...(memo.leaseMs !== undefined ? { leaseMs: memo.leaseMs } : {}),
      ...(memo.sizeCapMilli !== undefined ? { sizeCapMilli: memo.sizeCapMilli } : {}),
      ...(memo.priceEpoch !== undefined && memo.priceEpoch !== args.epoch
        ? { priceEpoch: memo.priceEpoch }
        : {}),
    });
  }
  // The journal (and the ended leases) are read before the jobs: a timeout's job is carried too.
  const reputation = await readReputationJournal(trx, args.epoch);
  const endedLeases = await readEndedLeases(trx, args.epoch);
  for (const id of causeJobs(reputation)) jobIds.add(id);
  const jobs: JobFact[] = [];
  for (const id of [...jobIds].sort()) {
    const j = await trx
      .selectFrom('jobs')
      .select(['id', 'client', 'signed_spec', 'nonce', 'max_price', 'issued_at', 'signature'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!j) continue; // the validator disputes a charge whose job is missing
    jobs.push({
      jobId: j.id as Hex,
      client: j.client as Address,
      spec: j.signed_spec === null ? null : JSON.parse(j.signed_spec),
      nonce: j.nonce,
      maxPricePerUnit: j.max_price ?? '0',
      issuedAt: j.issued_at,
      signature: j.signature as Hex,
    });
  }
  const slashes: SlashFact[] = [];
  for (const id of args.slashIds) {
    const s = await trx
      .selectFrom('slashes')
      .select(['id', 'task_id', 'provider', 'amount', 'evidence'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!s) continue;
    const evidence = JSON.parse(s.evidence) as {
      kind?: string;
      signedResult?: Omit<SignedStatement, 'type'>;
      agreeing?: string[];
    };
    const signed = await signedStatements(trx, s.task_id, s.provider);
    // A canary miss keeps the signed result in its evidence (canary results are no task execution).
    if (evidence.signedResult)
      signed.push({ type: 'TaskResult', ...evidence.signedResult } as SignedStatement);
    // Outvoted: what the winners signed, so the vote can be re-run from the outputs.
    const accepted: SignedStatement[] = [];
    if (evidence.kind === 'outvoted')
      for (const p of evidence.agreeing ?? [])
        for (const x of await signedStatements(trx, s.task_id, p))
          if (x.type === 'TaskResult') accepted.push(x);
    slashes.push({
      id: s.id,
      provider: s.provider,
      taskId: s.task_id,
      amount: s.amount,
      kind: evidence.kind ?? 'unknown',
      evidence,
      signed,
      ...(evidence.kind === 'outvoted' ? { accepted } : {}),
    });
  }
  const audits = await readAuditFacts(trx, args.epoch);
  const draws = await readChargedDraws(
    trx,
    charges.map((c) => c.taskId),
  );
  const canaries = await readCanaryFacts(trx, args.epoch);
  const sensorBatches = await readSensorBatchFacts(trx, args.epoch);
  const unpaidResults = await readUnpaidResults(trx, charges, slashes);
  return {
    jobDomain: args.jobDomain,
    jobs,
    charges,
    entries: other,
    slashes,
    audits,
    draws,
    canaries,
    sensorBatches,
    ...(reputation.length > 0 ? { reputation } : {}),
    endedLeases,
    ...(unpaidResults.length > 0 ? { unpaidResults } : {}),
  };
}

/** What `provider` signed about `taskId`: its commitments and its results, oldest first. */
async function signedStatements(
  trx: Transaction<Database>,
  taskId: string,
  provider: string,
): Promise<SignedStatement[]> {
  const out: SignedStatement[] = [];
  const commits = await trx
    .selectFrom('task_commitments')
    .select(['assignment_id', 'commitment', 'issued_at', 'signature'])
    .where('task_id', '=', taskId)
    .where('provider', '=', provider.toLowerCase())
    .orderBy('created_at')
    .execute();
  for (const c of commits) {
    out.push({
      type: 'TaskCommitment',
      assignmentId: c.assignment_id as Hex,
      taskId: taskId as Hex,
      commitment: c.commitment as Hex,
      issuedAt: c.issued_at,
      signature: c.signature as Hex,
    });
  }
  const results = await trx
    .selectFrom('task_executions')
    .select(['assignment_id', 'output_cid', 'result'])
    .where('task_id', '=', taskId)
    .where('provider', '=', provider.toLowerCase())
    .orderBy('created_at')
    .execute();
  for (const r of results) {
    const stored = JSON.parse(r.result) as StoredResult;
    out.push({
      type: 'TaskResult',
      assignmentId: r.assignment_id as Hex,
      taskId: taskId as Hex,
      outputCid: r.output_cid,
      usage: stored.usage,
      issuedAt: stored.issuedAt,
      signature: stored.signature,
    });
  }
  return out;
}
