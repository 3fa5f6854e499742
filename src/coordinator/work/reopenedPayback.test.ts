/**
 * A fault reversed on review pays back the outputs it reopened (reopenedPayback.ts): the provider
 * is paid for its reopened outputs the re-run agrees with, from the wrong answer's seized stake;
 * never for a wrong one, never when another fault of its own stands, at most once per task; the
 * client is neither charged nor refunded; validators check the entry and dispute forgeries.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import {
  checkCompensationCharges,
  checkCompensationEntry,
  checkCompensationVerdicts,
} from '../../validator/checkCompensations.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { ChargeFact, CompensationMemo, EntryFact } from '../settlement/epochFacts.ts';
import { reopenAfterFault } from './recheckCaught.ts';
import { oweForOverturn, payOwedCompensations, signedExecution } from './reviewCompensations.ts';
import { idleMarket, output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;
const CLIENT = '0x000000000000000000000000000000000000c11e';
const id = () => `0x${randomBytes(32).toString('hex')}`;

/** `p` delivered `tensors` for `taskId` (a signed execution), accepted as `outcome`. */
async function delivered(
  f: Fixture,
  p: ScriptedProvider,
  jobId: string,
  taskId: string,
  tensors: TensorSet,
  outcome: 'unverified' | 'valid' | 'execution only' = 'unverified',
) {
  const assignmentId = id();
  const r = await p.result({ assignmentId, taskId }, tensors);
  await f.db
    .insertInto('task_executions')
    .values({
      assignment_id: assignmentId,
      task_id: taskId,
      provider: p.address,
      output_cid: r.outputCid,
      output_digest: `0x${'00'.repeat(32)}`,
      salt: `0x${'00'.repeat(32)}`,
      result: JSON.stringify({ usage: r.usage, issuedAt: r.issuedAt, signature: r.signature }),
      created_at: f.clock.t,
    })
    .execute();
  if (outcome === 'execution only') return { assignmentId, result: r };
  await f.db
    .updateTable('tasks')
    .set({ status: 'completed', provider: p.address, output_cid: r.outputCid, result: '{}', attempts: 1 })
    .where('id', '=', taskId)
    .execute();
  const verdict = {
    taskId,
    status: 'accepted',
    acceptedFrom: p.address,
    verified: outcome === 'valid',
    outcomes: [{ provider: p.address, outcome }],
    faults: [],
    slashes: [],
    executions: 1,
  };
  await f.db.deleteFrom('task_verifications').where('task_id', '=', taskId).execute();
  await f.db
    .insertInto('task_verifications')
    .values({
      task_id: taskId,
      job_id: jobId,
      policy: JSON.stringify({ kind: 'audit' }),
      audit: 0,
      status: 'accepted',
      verdict: JSON.stringify(verdict),
      log: '[]',
      created_at: 1,
      updated_at: 1,
    })
    .execute();
  await f.db.updateTable('jobs').set({ status: 'running', client: CLIENT }).where('id', '=', jobId).execute();
  await f.setTasksDone(jobId, (await f.job(jobId)).tasks_done + 1);
  return { assignmentId, result: r };
}

/** The market's charge of an execution (1000 to the client, 950 to the provider). */
async function charge(f: Fixture, jobId: string, taskId: string, provider: string, assignmentId: string) {
  await postEntry(f.db, {
    ref: `exec:${assignmentId}`,
    kind: 'charge',
    epoch: 6,
    jobId,
    memo: { taskId, provider },
    postings: [
      { account: accounts.clientUnsettled(CLIENT), amount: 1000n },
      { account: accounts.providerEarnings(provider), amount: -950n },
      { account: accounts.protocolFees, amount: -50n },
    ],
  });
}

async function compensationFacts(f: Fixture): Promise<EntryFact[]> {
  const entries = await f.db
    .selectFrom('ledger_entries')
    .select(['id', 'ref', 'kind', 'memo'])
    .where('kind', '=', 'compensation')
    .orderBy('id')
    .execute();
  const out: EntryFact[] = [];
  for (const e of entries) {
    const postings = await f.db
      .selectFrom('ledger_postings')
      .select(['account', 'amount'])
      .where('entry_id', '=', e.id)
      .execute();
    out.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
  }
  return out;
}

test('attacker: a fault reversed on review pays back the reopened outputs the re-run agrees with (from the wrong answer’s seized stake), never a wrong one, never with another fault standing, once per task; the client is not refunded; validators check it and dispute forgeries', async () => {
  const f = await workFixture({ market: idleMarket({ currentEpoch: async () => 7 }) });
  try {
    const [h, wrongP, rerunner, x, y, later] = [
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
    ];
    // The reviewed task S: the wrong answer (wrongP, output 9) accepted, h outvoted (output 1).
    const src = await f.submitJob({ tasks: 1, verification: { policy: 'redundant', k: 2 } });
    const S = src.taskIds[0]!;
    await delivered(f, wrongP, src.jobId, S, output(9), 'valid');
    const hOnS = await delivered(f, h, src.jobId, S, output(1), 'execution only');
    // h's unchecked outputs of a running audited job: A right (output 5), B wrong (output 7).
    const aud = await f.submitJob({ tasks: 3, verification: { policy: 'audit' } });
    const [A, B, C] = aud.taskIds as [string, string, string];
    await delivered(f, h, aud.jobId, A, output(5));
    await delivered(f, h, aud.jobId, B, output(7));
    // h is faulted on S: A and B are reopened (and kept).
    await f.db
      .transaction()
      .execute((trx) => reopenAfterFault(f.state, f.work, trx, h.address, { jobId: src.jobId, taskId: S }));
    assert.equal((await f.task(A)).status, 'queued', 'A reopened');
    const kept = await f.db.selectFrom('reopened_outputs').selectAll().orderBy('task_id').execute();
    assert.equal(kept.length, 2, 'both reopened outputs are kept');
    assert.ok(
      kept.every((k) => k.fault_task_id === S && k.provider === h.address && k.reinstated_at === null),
      'kept with the fault that reopened them',
    );
    // The re-runs by another provider, charged to the client (at the job's end or verdict).
    const reA = await delivered(f, rerunner, aud.jobId, A, output(5));
    const reB = await delivered(f, rerunner, aud.jobId, B, output(3));
    await charge(f, aud.jobId, A, rerunner.address, reA.assignmentId);
    await charge(f, aud.jobId, B, rerunner.address, reB.assignmentId);
    // Before any reversal nothing is owed: the sweep leaves them.
    await payOwedCompensations(f.work);
    assert.equal((await compensationFacts(f)).length, 0, 'nothing paid before a reversal');

    // The review: two independent trusted checks agree with h on S; h's fault is reversed.
    const check = await x.result({ assignmentId: id(), taskId: S }, output(1));
    const first = await y.result({ assignmentId: id(), taskId: S }, output(1));
    const signed = (r: typeof check) => ({
      assignmentId: r.assignmentId,
      taskId: r.taskId,
      outputCid: r.outputCid,
      usage: r.usage,
      issuedAt: r.issuedAt,
      signature: r.signature,
    });
    const wrongCid = (
      await f.db
        .selectFrom('task_executions')
        .select('output_cid')
        .where('provider', '=', wrongP.address)
        .executeTakeFirstOrThrow()
    ).output_cid;
    await f.db.transaction().execute(async (trx) =>
      oweForOverturn(f.work, trx, {
        review: 'review-1',
        expectedCid: wrongCid,
        check: { provider: x.address, result: signed(check) },
        firstCheck: { provider: y.address, result: signed(first) },
        reversed: [
          {
            provider: h.address,
            taskId: S,
            slashId: null,
            compensation: 0n,
            outvoted: false,
            result: await signedExecution(trx, S, h.address),
          },
        ],
        source: { jobId: src.jobId, taskId: S },
      }),
    );
    assert.ok(hOnS, 'h signed its result on S');
    // The wrong answer's slash is not applied yet: A is owed, not paid; B is settled `wrong`.
    await payOwedCompensations(f.work);
    const settled = await f.db.selectFrom('reopened_outputs').selectAll().orderBy('task_id').execute();
    const outcomeOf = (t: string) => settled.find((s) => s.task_id === t)?.outcome;
    assert.equal(outcomeOf(A), 'owed', 'the right reopened output is owed its pay');
    assert.equal(outcomeOf(B), 'wrong', 'a wrong reopened output is never paid back');
    assert.equal((await compensationFacts(f)).length, 0, 'owed until the funders’ slash is applied');
    // The wrong answer's slash applied: the sweep pays A's provider amount from it.
    await postEntry(f.db, {
      ref: `epoch:7:slash:${wrongP.address}`,
      kind: 'slash',
      epoch: 7,
      postings: [
        { account: accounts.settlement, amount: 5000n },
        { account: accounts.providerSlashed(wrongP.address), amount: -5000n },
      ],
    });
    await payOwedCompensations(f.work);
    await payOwedCompensations(f.work);
    const entries = await compensationFacts(f);
    assert.deepEqual(
      entries.map((e) => e.ref),
      [`review:${A}:reopened:${h.address}`],
      'one payback, for the right output only, paid once',
    );
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(b.get(accounts.providerEarnings(h.address)), -950n, 'h gets what the re-run was paid');
    assert.equal(b.get(accounts.providerSlashed(wrongP.address)), -5000n + 950n, 'from the wrong answer');
    assert.equal(b.get(accounts.refunds(CLIENT)) ?? 0n, 0n, 'the client is not refunded a right output');
    const clientPaid = await readBalances(f.db, { account: accounts.clientUnsettled(CLIENT) });
    assert.equal(clientPaid.get(accounts.clientUnsettled(CLIENT)), 2000n, 'the client paid once per task');

    // Validators: the entry's evidence, postings and outputs hold; its charge backs one payback.
    const read = async (cid: string): Promise<TensorSet> => decodeSafetensors(await f.work.blobs.read(cid));
    const [e] = entries as [EntryFact];
    assert.equal(await checkCompensationEntry(e, 31337, b), null, 'the payback checks');
    assert.equal(await checkCompensationVerdicts(entries, read), null, 'the outputs re-derive it');
    const chargeFact = {
      ref: `exec:${reA.assignmentId}`,
      jobId: aud.jobId as Hex,
      taskId: A as Hex,
      provider: rerunner.address,
      charge: '1000',
      providerAmount: '950',
    } as unknown as ChargeFact;
    const jobs = [{ jobId: aud.jobId, client: CLIENT }] as never;
    const seen = checkCompensationCharges(
      { jobs, charges: [chargeFact], entries },
      () => undefined,
      () => false,
      false,
    );
    assert.ok(
      'used' in seen && seen.used.includes(`exec:${reA.assignmentId}:reopened`),
      'the charge is used',
    );
    const again = checkCompensationCharges(
      { jobs, charges: [chargeFact], entries },
      () => undefined,
      (k) => k === `exec:${reA.assignmentId}:reopened`,
      false,
    );
    assert.ok('fact' in again, 'a charge backs one payback, not two');
    // Forged: the re-run's output is not the reopened one; the review did not agree with h.
    const memo = e.memo as CompensationMemo;
    const bCid = (await f.task(B)).output_cid!;
    const forgedRerun = {
      ...e,
      memo: { ...memo, rerun: { ...memo.rerun!, result: { ...memo.rerun!.result, outputCid: bCid } } },
    };
    assert.equal(
      (await checkCompensationVerdicts([forgedRerun], read))?.fact,
      `compensation[${e.ref}].rerun`,
    );
    const forgedReversal = { ...e, memo: { ...memo, reversal: { ...memo.reversal!, outputCid: wrongCid } } };
    assert.equal(
      (await checkCompensationVerdicts([forgedReversal], read))?.fact,
      `compensation[${e.ref}].reversal`,
    );
    const noRerun = { ...e, memo: { ...memo, rerun: undefined } };
    assert.equal((await checkCompensationEntry(noRerun, 31337, b))?.fact, `compensation[${e.ref}].rerun`);
    const fromBystander: EntryFact = {
      ...e,
      postings: [
        { account: accounts.providerSlashed(x.address), amount: '950' },
        { account: accounts.providerEarnings(h.address), amount: '-950' },
      ],
    };
    assert.equal(
      (await checkCompensationEntry(fromBystander, 31337, b))?.fact,
      `compensation[${e.ref}].funder`,
    );

    // A provider with another fault of its own standing since it delivered gets nothing back.
    await delivered(f, later, aud.jobId, C, output(4));
    await f.db
      .transaction()
      .execute((trx) =>
        reopenAfterFault(f.state, f.work, trx, later.address, { jobId: src.jobId, taskId: S }),
      );
    await f.db
      .insertInto('verification_faults')
      .values({
        task_id: id(),
        job_id: '',
        provider: later.address,
        kind: 'canary',
        evidence: '{}',
        created_at: f.clock.t,
      })
      .execute();
    const reC = await delivered(f, rerunner, aud.jobId, C, output(4));
    await charge(f, aud.jobId, C, rerunner.address, reC.assignmentId);
    await f.db.transaction().execute(async (trx) =>
      oweForOverturn(f.work, trx, {
        review: 'review-2',
        expectedCid: wrongCid,
        check: { provider: x.address, result: signed(check) },
        firstCheck: { provider: y.address, result: signed(first) },
        reversed: [
          {
            provider: later.address,
            taskId: S,
            slashId: null,
            compensation: 0n,
            outvoted: false,
            result: signed(await later.result({ assignmentId: id(), taskId: S }, output(1))),
          },
        ],
        source: { jobId: src.jobId, taskId: S },
      }),
    );
    await payOwedCompensations(f.work);
    const c = await f.db
      .selectFrom('reopened_outputs')
      .select('outcome')
      .where('task_id', '=', C)
      .executeTakeFirstOrThrow();
    assert.equal(c.outcome, 'caught-again', 'another standing fault would have reopened it anyway');
    assert.equal((await compensationFacts(f)).length, 1, 'still one payback');
  } finally {
    await f.close();
  }
});

test('a reversal that comes before the re-run waits for it: nothing is owed while the task is open, and the payback follows its charge', async () => {
  const f = await workFixture({ market: idleMarket({ currentEpoch: async () => 7 }) });
  try {
    const [h, wrongP, rerunner, x, y] = [
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
    ];
    const src = await f.submitJob({ tasks: 1, verification: { policy: 'redundant', k: 2 } });
    const S = src.taskIds[0]!;
    const wrong = await delivered(f, wrongP, src.jobId, S, output(9), 'valid');
    await delivered(f, h, src.jobId, S, output(1), 'execution only');
    const aud = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const A = aud.taskIds[0]!;
    await delivered(f, h, aud.jobId, A, output(5));
    await f.db
      .transaction()
      .execute((trx) => reopenAfterFault(f.state, f.work, trx, h.address, { jobId: src.jobId, taskId: S }));
    const signed = async (p: ScriptedProvider) => {
      const r = await p.result({ assignmentId: id(), taskId: S }, output(1));
      return {
        assignmentId: r.assignmentId,
        taskId: r.taskId,
        outputCid: r.outputCid,
        usage: r.usage,
        issuedAt: r.issuedAt,
        signature: r.signature,
      };
    };
    await f.db.transaction().execute(async (trx) =>
      oweForOverturn(f.work, trx, {
        review: 'review-1',
        expectedCid: wrong.result.outputCid,
        check: { provider: x.address, result: await signed(x) },
        firstCheck: { provider: y.address, result: await signed(y) },
        reversed: [
          {
            provider: h.address,
            taskId: S,
            slashId: null,
            compensation: 0n,
            outvoted: false,
            result: await signedExecution(trx, S, h.address),
          },
        ],
        source: { jobId: src.jobId, taskId: S },
      }),
    );
    const row = () =>
      f.db.selectFrom('reopened_outputs').selectAll().where('task_id', '=', A).executeTakeFirstOrThrow();
    assert.ok((await row()).reinstated_at !== null, 'the reversal reaches the reopened output');
    await payOwedCompensations(f.work);
    assert.equal((await row()).outcome, null, 'the re-run is open: it waits');
    const re = await delivered(f, rerunner, aud.jobId, A, output(5));
    await payOwedCompensations(f.work);
    assert.equal((await row()).outcome, null, 'completed but not charged yet (deferred): it waits');
    await charge(f, aud.jobId, A, rerunner.address, re.assignmentId);
    await payOwedCompensations(f.work);
    assert.equal((await row()).outcome, 'owed', 'owed once the re-run is charged');
    const owed = await f.db.selectFrom('review_compensations').selectAll().execute();
    assert.deepEqual(
      owed.map((o) => [o.part, o.amount, JSON.parse(o.funders)]),
      [['reopened', '950', [wrongP.address]]],
      'the re-run’s provider amount, funded by the wrong answer only',
    );
  } finally {
    await f.close();
  }
});
