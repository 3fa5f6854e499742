/**
 * A fault reversed on review pays back the render frames it reopened (reopenedPayback.ts), as it
 * does inference outputs: a frame the re-run agrees with by the render rule (sampling noise within
 * the SSIM/PSNR thresholds, so never the same bytes) is paid what the re-run was paid, a wrong
 * frame nothing; validators re-derive the agreement with the same rule.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { renderOutputTensors } from '../../protocol/render.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { checkCompensationEntry, checkCompensationVerdicts } from '../../validator/checkCompensations.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { CompensationMemo, EntryFact } from '../settlement/epochFacts.ts';
import { reopenAfterFault } from './recheckCaught.ts';
import { oweForOverturn, payOwedCompensations, signedExecution } from './reviewCompensations.ts';
import { idleMarket, output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;
const CLIENT = '0x000000000000000000000000000000000000c11e';
const id = () => `0x${randomBytes(32).toString('hex')}`;

/** A frame: a gradient and a disc, with per-pixel jitter from `seed` (like sampling noise). */
function frame(seed: number, opts: { fill?: string } = {}): TensorSet {
  const [w, h] = [64, 48];
  const c = createCanvas(w, h);
  const ctx = c.getContext('2d');
  const g = ctx.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, '#203040');
  g.addColorStop(1, '#c0a080');
  ctx.fillStyle = opts.fill ?? g;
  ctx.fillRect(0, 0, w, h);
  if (!opts.fill) {
    ctx.fillStyle = '#e04020';
    ctx.beginPath();
    ctx.arc(w / 3, h / 2, h / 4, 0, Math.PI * 2);
    ctx.fill();
  }
  const img = ctx.getImageData(0, 0, w, h);
  let s = seed;
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 === 3) continue;
    s = (s * 16807) % 2147483647;
    img.data[i] = Math.max(0, Math.min(255, img.data[i]! + ((s / 2147483647) * 2 - 1) * 3));
  }
  ctx.putImageData(img, 0, 0);
  return renderOutputTensors(c.toBuffer('image/png'));
}

/** `p` delivered `tensors` for `taskId` (a signed execution), accepted as `outcome` (or not at all). */
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

const signed = (r: Awaited<ReturnType<ScriptedProvider['result']>>) => ({
  assignmentId: r.assignmentId,
  taskId: r.taskId,
  outputCid: r.outputCid,
  usage: r.usage,
  issuedAt: r.issuedAt,
  signature: r.signature,
});

test('a fault reversed on review pays back the render frames it reopened that the re-run agrees with by the render rule, never a wrong frame; validators re-derive it', async () => {
  const f = await workFixture({ market: idleMarket({ currentEpoch: async () => 7 }) });
  try {
    const [h, wrongP, rerunner, x, y] = [
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
      await f.provider(),
    ];
    // The reviewed task S (inference): the wrong answer (wrongP) accepted, h faulted on it.
    const src = await f.submitJob({ tasks: 1, verification: { policy: 'redundant', k: 2 } });
    const S = src.taskIds[0]!;
    await delivered(f, wrongP, src.jobId, S, output(9), 'valid');
    await delivered(f, h, src.jobId, S, output(1), 'execution only');
    // h's unchecked frames of a running audited render job: A right, B wrong (a black frame).
    const job = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const spec = JSON.parse((await f.job(job.jobId)).spec);
    await f.db
      .updateTable('jobs')
      .set({ kind: 'blender.render', spec: JSON.stringify({ ...spec, kind: 'blender.render' }) })
      .where('id', '=', job.jobId)
      .execute();
    const [A, B] = job.taskIds as [string, string];
    await delivered(f, h, job.jobId, A, frame(1));
    await delivered(f, h, job.jobId, B, frame(2, { fill: '#000000' }));
    await f.db
      .transaction()
      .execute((trx) => reopenAfterFault(f.state, f.work, trx, h.address, { jobId: src.jobId, taskId: S }));
    assert.equal((await f.task(A)).status, 'queued', 'the frame is reopened');
    // The re-runs: other sampling noise (other bytes), charged to the client.
    const reA = await delivered(f, rerunner, job.jobId, A, frame(7));
    const reB = await delivered(f, rerunner, job.jobId, B, frame(8));
    await charge(f, job.jobId, A, rerunner.address, reA.assignmentId);
    await charge(f, job.jobId, B, rerunner.address, reB.assignmentId);
    // The review reverses h's fault on S (two independent checks agree with h).
    const check = await x.result({ assignmentId: id(), taskId: S }, output(1));
    const first = await y.result({ assignmentId: id(), taskId: S }, output(1));
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
    await payOwedCompensations(f.work);
    const settled = await f.db.selectFrom('reopened_outputs').selectAll().execute();
    const outcomeOf = (t: string) => settled.find((s) => s.task_id === t)?.outcome;
    assert.equal(outcomeOf(A), 'owed', 'the right reopened frame is owed its pay (was: not-compared)');
    assert.equal(outcomeOf(B), 'wrong', 'a wrong reopened frame is never paid back');
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
    const entries = await compensationFacts(f);
    assert.deepEqual(
      entries.map((e) => e.ref),
      [`review:${A}:reopened:${h.address}`],
      'one payback, for the right frame',
    );
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(b.get(accounts.providerEarnings(h.address)), -950n, 'h gets what the re-run was paid');

    // Validators re-derive the frames' agreement by the render rule; a forged re-run is refused.
    const read = async (cid: string): Promise<TensorSet> => decodeSafetensors(await f.work.blobs.read(cid));
    const [e] = entries as [EntryFact];
    assert.equal(await checkCompensationEntry(e, 31337, b), null, 'the payback checks');
    assert.equal(await checkCompensationVerdicts(entries, read), null, 'the frames agree by the render rule');
    const memo = e.memo as CompensationMemo;
    const forged = {
      ...e,
      memo: {
        ...memo,
        wronged: {
          ...memo.wronged!,
          outputCid: (
            await f.db
              .selectFrom('reopened_outputs')
              .select('output_cid')
              .where('task_id', '=', B)
              .executeTakeFirstOrThrow()
          ).output_cid,
        },
      },
    };
    assert.equal(
      (await checkCompensationVerdicts([forged], read))?.fact,
      `compensation[${e.ref}].rerun`,
      'a black frame does not agree with the re-run',
    );
  } finally {
    await f.close();
  }
});
