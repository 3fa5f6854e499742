/**
 * Made whole through the ledger (docs/verification.md "Made whole"). When a trusted review check
 * overturns a known answer (a poisoned canary, a wrong outvoted verdict), what the wrong answer
 * cost others is owed and paid by `compensation` ledger entries that settle through the ordinary
 * epoch close and that validators re-check (src/validator/checkCompensations.ts):
 *
 * - `slash`: a reversed fault whose slash an epoch already applied — the slashed amount, from the
 *   provider's own `slashed` account back to its earnings (the PLX sits in the settlement contract);
 * - `reward`: an outvoted provider the check agrees with — the provider share it was denied (the
 *   lowest provider amount the task's wrong executions were paid);
 * - `refund`: the client of the overturned task — every charge it paid for the wrong output,
 *   credited to `provider:<client>:refunds`, a rewards-tree leaf it claims like earnings.
 *
 * `reward` and `refund` are funded from the seized stake (`provider:<p>:slashed`) of the providers
 * whose wrong answer was accepted; a payment waits, recorded as owed, until their applied slashes
 * cover it (`payOwedCompensations` runs after each review and on every sweep), at most
 * `COMPENSATION_DEADLINE_MS`: then what they cover is paid and the rest lapses (`lapsed_at`, event
 * `review.compensation-lapsed`). Nothing is ever paid twice: one row and one ledger ref per payment.
 */
import type { Transaction } from 'kysely';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { CompensationMemo, SignedResult } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';
import { CHARGE_REFUND_WINDOW_MS, COMPENSATION_DEADLINE_MS } from '../verification/constants.ts';
import { checkPayWaits } from './checkerPay.ts';
import { markReinstated, settleReopened } from './reopenedPayback.ts';
import type { WorkDeps } from './workState.ts';

export type { CompensationMemo, SignedResult };

type Trx = Transaction<Database>;

/** The ref of a compensation entry. */
export function compensationRef(part: CompensationMemo['part'], taskId: string, provider?: string): string {
  return part === 'refund' ? `review:${taskId}:refund` : `review:${taskId}:${part}:${provider}`;
}

/** A provider's latest signed result on a task, from its stored execution. */
export async function signedExecution(
  trx: Trx,
  taskId: string,
  provider: string,
): Promise<SignedResult | undefined> {
  const e = await trx
    .selectFrom('task_executions')
    .select(['assignment_id', 'output_cid', 'result'])
    .where('task_id', '=', taskId)
    .where('provider', '=', provider.toLowerCase())
    .orderBy('created_at', 'desc')
    .executeTakeFirst();
  if (!e) return undefined;
  const r = JSON.parse(e.result) as { usage: unknown; issuedAt: number; signature: string };
  return {
    assignmentId: e.assignment_id,
    taskId,
    outputCid: e.output_cid,
    usage: r.usage,
    issuedAt: r.issuedAt,
    signature: r.signature,
  };
}

/** The charges of a task (ledger `charge` entries of its job naming it), oldest first. */
export async function chargesOf(trx: Trx, jobId: string, taskId: string, since: number) {
  const rows = await trx
    .selectFrom('ledger_entries as e')
    .innerJoin('ledger_postings as p', 'p.entry_id', 'e.id')
    .select(['e.ref', 'e.memo', 'p.account', 'p.amount'])
    .where('e.job_id', '=', jobId)
    .where('e.kind', '=', 'charge')
    // Only charges validators will still remember when this is paid (CHARGE_REFUND_WINDOW_MS).
    .where('e.created_at', '>=', since)
    .orderBy('e.id')
    .execute();
  const out = new Map<string, CompensationMemo['charges'][number]>();
  for (const r of rows) {
    const memo = JSON.parse(r.memo) as { taskId?: string; provider?: string };
    if (memo.taskId !== taskId) continue;
    const c = out.get(r.ref) ?? {
      ref: r.ref,
      provider: memo.provider ?? '',
      charge: '0',
      providerAmount: '0',
    };
    if (r.account.startsWith('client:')) c.charge = r.amount;
    else if (r.account.endsWith(':earnings')) c.providerAmount = (-BigInt(r.amount)).toString();
    out.set(r.ref, c);
  }
  return [...out.values()];
}

/**
 * Records what an overturned known answer owes, in the review's transaction, and pays what the
 * funders' seized stake covers now. `reversed`: the faults the review reversed (outvoted providers
 * and canary misses) with the slash already applied (`compensation` > 0) and their signed result;
 * `source`: the overturned verdict's task when it is a real job's (its client is refunded, its
 * outvoted providers get their denied reward), absent for a canary alone. Without a market
 * (no ledger) nothing is owed. Returns the refs recorded.
 *
 * @example
 * await oweForOverturn(deps, trx, { review, expectedCid, check, reversed, source });
 */
export async function oweForOverturn(
  d: WorkDeps,
  trx: Trx,
  o: {
    review: string;
    expectedCid: string;
    /** With `basis`, what the checker was drawn on (migration 0070), carried into the memos. */
    check: CompensationMemo['check'];
    /** The first check that agreed (an overturn needs two). */
    firstCheck?: CompensationMemo['check'];
    reversed: {
      provider: string;
      taskId: string;
      slashId: number | null;
      compensation: bigint;
      outvoted: boolean;
      result: SignedResult | undefined;
    }[];
    source?: { jobId: string; taskId: string };
  },
): Promise<string[]> {
  if (!d.market) return [];
  const t = d.now();
  const rows: {
    ref: string;
    part: CompensationMemo['part'];
    task: string;
    job: string | null;
    payee: string;
    amount: bigint;
    funders: string[];
    memo: CompensationMemo;
  }[] = [];
  const base = {
    review: o.review,
    expectedCid: o.expectedCid,
    check: o.check,
    ...(o.firstCheck ? { firstCheck: o.firstCheck } : {}),
  };
  // The wrong answer's providers and the task's charges (a real job's task only).
  const wrong: CompensationMemo['wrong'] = [];
  let charges: CompensationMemo['charges'] = [];
  let client: string | undefined;
  if (o.source) {
    const v = await trx
      .selectFrom('task_verifications')
      .select('verdict')
      .where('task_id', '=', o.source.taskId)
      .executeTakeFirst();
    const verdict = v?.verdict
      ? (JSON.parse(v.verdict) as { outcomes?: { provider: string; outcome: string }[] })
      : {};
    // The wrong answer's providers: those that agreed on it (`valid`) or, for an unchecked output
    // (recheckCaught.ts `reviewEndedOutputs`), the one that delivered it (`unverified`).
    for (const x of verdict.outcomes ?? []) {
      if (x.outcome !== 'valid' && x.outcome !== 'unverified') continue;
      const result = await signedExecution(trx, o.source.taskId, x.provider);
      if (result) wrong.push({ provider: x.provider.toLowerCase(), result });
    }
    // Charges are posted on the wall clock (postEntry): a work clock ahead of it (tests, sims)
    // does not age them.
    const since = Math.min(t, Date.now()) - CHARGE_REFUND_WINDOW_MS;
    charges = await chargesOf(trx, o.source.jobId, o.source.taskId, since);
    const paidBy = new Set(wrong.map((w) => w.result.assignmentId));
    // Only charges of the wrong answer's executions (signed results in the memo) count.
    charges = charges.filter((c) => paidBy.has(c.ref.slice('exec:'.length)));
    client = (
      await trx.selectFrom('jobs').select('client').where('id', '=', o.source.jobId).executeTakeFirst()
    )?.client.toLowerCase();
  }
  const funders = wrong.map((w) => w.provider);
  for (const r of o.reversed) {
    const provider = r.provider.toLowerCase();
    if (!r.result) continue; // no signed result to show: nothing a validator could check
    // The outputs this fault reopened are paid back where their re-run agrees (reopenedPayback.ts).
    await markReinstated(
      trx,
      provider,
      r.taskId,
      { ...base, reversal: r.result, wrong, ...(o.source ? { sourceTaskId: o.source.taskId } : {}) },
      t,
    );
    if (r.compensation > 0n) {
      // What the provider's slashed account really holds (the chain may have capped the slash).
      const held = -(
        (await readBalances(trx, { account: accounts.providerSlashed(provider) })).get(
          accounts.providerSlashed(provider),
        ) ?? 0n
      );
      const amount = r.compensation < held ? r.compensation : held;
      if (amount > 0n) {
        const memo: CompensationMemo = {
          ...base,
          part: 'slash',
          taskId: r.taskId,
          provider,
          wronged: r.result,
          wrong: [],
          charges: [],
          ...(r.slashId !== null ? { slashId: r.slashId } : {}),
        };
        rows.push({
          ref: compensationRef('slash', r.taskId, provider),
          part: 'slash',
          task: r.taskId,
          job: null,
          payee: accounts.providerEarnings(provider),
          amount,
          funders: [provider],
          memo,
        });
      }
    }
    if (r.outvoted && o.source && r.taskId === o.source.taskId && charges.length > 0 && funders.length > 0) {
      const denied = charges.reduce(
        (m, c) => (BigInt(c.providerAmount) < m ? BigInt(c.providerAmount) : m),
        BigInt(charges[0]!.providerAmount),
      );
      if (denied > 0n) {
        rows.push({
          ref: compensationRef('reward', r.taskId, provider),
          part: 'reward',
          task: r.taskId,
          job: o.source.jobId,
          payee: accounts.providerEarnings(provider),
          amount: denied,
          funders,
          memo: { ...base, part: 'reward', taskId: r.taskId, provider, wronged: r.result, wrong, charges },
        });
      }
    }
  }
  if (o.source && client && funders.length > 0) {
    const paid = charges.reduce((a, c) => a + BigInt(c.charge), 0n);
    if (paid > 0n) {
      rows.push({
        ref: compensationRef('refund', o.source.taskId),
        part: 'refund',
        task: o.source.taskId,
        job: o.source.jobId,
        payee: accounts.refunds(client),
        amount: paid,
        funders,
        memo: { ...base, part: 'refund', taskId: o.source.taskId, client, wrong, charges },
      });
    }
  }
  if (rows.length === 0) return [];
  await trx
    .insertInto('review_compensations')
    .values(
      rows.map((r) => ({
        ref: r.ref,
        part: r.part,
        task_id: r.task,
        job_id: r.job,
        payee: r.payee,
        amount: r.amount.toString(),
        funders: JSON.stringify(r.funders),
        memo: JSON.stringify(r.memo),
        created_at: t,
        paid_epoch: null,
        paid_at: null,
      })),
    )
    .onConflict((oc) => oc.column('ref').doNothing())
    .execute();
  await payOwed(d, trx);
  return rows.map((r) => r.ref);
}

/** Owed rows one sweep looks at. */
const SWEEP_PAGE = 100;
/** Per work loop: the last row the previous sweep looked at (in memory; a restart starts over). */
const sweepCursors = new WeakMap<WorkDeps, { createdAt: number; ref: string }>();

/**
 * Pays every owed compensation its funders' seized stake covers now (their `slashed` accounts'
 * credit balances, applied slashes only), oldest first, in the caller's transaction; one that is
 * not covered in full waits. Returns how many were paid.
 *
 * @example
 * await d.db.transaction().execute((trx) => payOwed(deps, trx));
 */
export async function payOwed(d: WorkDeps, trx: Trx): Promise<number> {
  if (!d.market) return 0;
  // Each sweep goes on from where the last one stopped, a page at a time, and starts over at the
  // end: rows that stay uncovered (until their deadline) must not hold the queue and starve newer
  // ones behind them, as the 100 oldest did when every sweep read the same page.
  const after = sweepCursors.get(d);
  let page = trx
    .selectFrom('review_compensations')
    .selectAll()
    .where('paid_at', 'is', null)
    .where('lapsed_at', 'is', null);
  if (after)
    page = page.where((eb) =>
      eb.or([
        eb('created_at', '>', after.createdAt),
        eb.and([eb('created_at', '=', after.createdAt), eb('ref', '>', after.ref)]),
      ]),
    );
  const owed = await page.orderBy('created_at').orderBy('ref').limit(SWEEP_PAGE).execute();
  const last = owed.at(-1);
  if (owed.length < SWEEP_PAGE || !last) sweepCursors.delete(d);
  else sweepCursors.set(d, { createdAt: last.created_at, ref: last.ref });
  if (owed.length === 0) return 0;
  const epoch = await d.market.currentEpoch(trx);
  let paid = 0;
  for (const row of owed) {
    const amount = BigInt(row.amount);
    const debits: { account: string; amount: bigint }[] = [];
    let left = amount;
    const funders = JSON.parse(row.funders) as string[];
    // A checker's pay comes after what its funders owe clients and wronged providers (checkerPay.ts).
    const waits = row.part === 'check' && (await checkPayWaits(trx, funders));
    for (const f of waits ? [] : funders) {
      if (left === 0n) break;
      const account = accounts.providerSlashed(f);
      const held = -((await readBalances(trx, { account })).get(account) ?? 0n);
      const take = held < left ? held : left;
      if (take > 0n) {
        debits.push({ account, amount: take });
        left -= take;
      }
    }
    const t = d.now();
    // Not covered yet: it waits for the funders' slashes to be applied, until its deadline; then
    // what they cover is paid and the rest lapses (recorded), so nothing stays owed for good.
    const lapsing = left > 0n && t - row.created_at >= COMPENSATION_DEADLINE_MS;
    if (left > 0n && !lapsing) continue;
    const pay = amount - left;
    if (lapsing) {
      await trx
        .updateTable('review_compensations')
        .set({ lapsed_at: t })
        .where('ref', '=', row.ref)
        .execute();
      await d.events.append(trx, row.job_id, 'review.compensation-lapsed', {
        ref: row.ref,
        part: row.part,
        payee: row.payee,
        owed: row.amount,
        paid: pay.toString(),
      });
      if (pay === 0n) continue;
    }
    const posted = await postEntry(
      trx,
      {
        ref: row.ref,
        kind: 'compensation',
        epoch,
        ...(row.job_id ? { jobId: row.job_id } : {}),
        memo: JSON.parse(row.memo) as Record<string, unknown>,
        postings: [...debits, { account: row.payee, amount: -pay }],
      },
      t,
    );
    await trx
      .updateTable('review_compensations')
      .set({ paid_epoch: epoch, paid_at: t })
      .where('ref', '=', row.ref)
      .execute();
    if (posted) {
      paid++;
      await d.events.append(trx, row.job_id, 'review.compensated', {
        ref: row.ref,
        part: row.part,
        taskId: row.task_id,
        payee: row.payee,
        amount: pay.toString(),
        epoch,
      });
    }
  }
  return paid;
}

/**
 * The sweep's retry: pays owed compensations whose funders' slashes an epoch has applied since.
 *
 * @example
 * await payOwedCompensations(deps);
 */
export async function payOwedCompensations(d: WorkDeps): Promise<void> {
  if (!d.market) return;
  // Reversed faults' reopened outputs whose re-run is decided become owed first.
  await settleReopened(d);
  const any = await d.db
    .selectFrom('review_compensations')
    .select('ref')
    .where('paid_at', 'is', null)
    .where('lapsed_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  if (!any) return;
  await d.db.transaction().execute((trx) => payOwed(d, trx));
}
