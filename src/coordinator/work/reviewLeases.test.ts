/**
 * A caught provider's render frames of a job that already ended (recheckCaught.ts
 * `reviewEndedOutputs`, reviewLeases.ts): they are not reopened (delivered, billed) but
 * re-verified by whole-frame re-renders of independently drawn trusted renderers, judged by the
 * render rule (SSIM/PSNR: honest frames are never the same bytes); two checks that agree with each
 * other and not with the delivered frame revoke it and refund its charge from the caught provider's
 * seized stake, and validators re-derive the revocation. On the code before, an ended job's frames
 * were never reviewed (only `onnx.infer` outputs were).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { renderOutputTensors } from '../../protocol/render.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import { checkCompensationEntry, checkCompensationVerdicts } from '../../validator/checkCompensations.ts';
import { revokedOutputsOf } from '../jobs/jobQueries.ts';
import { accounts } from '../ledger/accounts.ts';
import { postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { EntryFact } from '../settlement/epochFacts.ts';
import { newReputation } from '../verification/reputation.ts';
import { recordFault } from './faults.ts';
import { payOwedCompensations } from './reviewCompensations.ts';
import { providerConnected, providerDisconnected } from './sessions.ts';
import { commitAndReveal, idleMarket, output, type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;
const CLIENT = `0x${'c1'.repeat(20)}`;
const id = () => `0x${randomBytes(32).toString('hex')}`;
const RENDER = {
  frameStart: 1,
  frameEnd: 2,
  width: 64,
  height: 48,
  samples: 16,
  seed: 0,
  tiles: { x: 1, y: 1 },
};

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

/** A hello claiming Blender (a renderer) with `slots` slots. */
const rendererHello = (p: ScriptedProvider, slots: number) => {
  const h = p.hello(slots);
  return { ...h, hardware: { ...h.hardware, blender: { version: '4.2.0', devices: ['cpu'] } } };
};

const longRecord = (t: number) => ({
  ...newReputation(t),
  alpha: 60,
  consecutiveValid: 50,
  verifiedValid: 50,
});

/**
 * `p` delivered `tensors` for `taskId` of `jobId` (a signed execution), accepted `unverified` and
 * billed at the job's end (1000 to the client, 950 to `p`).
 */
async function delivered(f: Fixture, p: ScriptedProvider, jobId: string, taskId: string, tensors: TensorSet) {
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
  await f.db
    .updateTable('tasks')
    .set({ status: 'completed', provider: p.address, output_cid: r.outputCid, result: '{}', attempts: 1 })
    .where('id', '=', taskId)
    .execute();
  const verdict = {
    taskId,
    status: 'accepted',
    acceptedFrom: p.address,
    verified: false,
    outcomes: [{ provider: p.address, outcome: 'unverified' }],
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
  await postEntry(f.db, {
    ref: `exec:${assignmentId}`,
    kind: 'charge',
    epoch: 6,
    jobId,
    memo: { taskId, provider: p.address },
    postings: [
      { account: accounts.clientUnsettled(CLIENT), amount: 1000n },
      { account: accounts.providerEarnings(p.address), amount: -950n },
      { account: accounts.protocolFees, amount: -50n },
    ],
  });
  return r.outputCid;
}

/**
 * Trusted renderers, one fresh provider at a time, take the review checks their slots are drawn
 * for and render the truth of the lease's descriptor, until no review is open (at most `max`
 * rounds). Returns who made each check and what each lease asked for.
 */
async function checkOpenReviews(
  f: Fixture,
  truthOfInput: Map<string, TensorSet>,
  max: number,
  kind: 'blender.render' | 'train.diloco' = 'blender.render',
) {
  const checkers: ScriptedProvider[] = [];
  const answered = new Set<string>();
  const checks: { by: string; kind: string; region: boolean }[] = [];
  let seed = 100;
  for (let i = 0; i < max; i++) {
    for (const c of checkers)
      for (const lease of c.assigned()) {
        // The filler inference job's leases (which make free slots) are left alone.
        const truth = lease.kind === kind ? truthOfInput.get(lease.input) : undefined;
        if (!truth || answered.has(lease.assignmentId)) continue;
        answered.add(lease.assignmentId);
        checks.push({ by: c.address, kind: lease.kind, region: lease.region !== undefined });
        // A frame with its own sampling noise (never the bytes of the delivered frame); an update
        // as a re-run gives it, the same bits.
        const noisy = kind === 'blender.render' && seed++ % 2 === 1;
        await commitAndReveal(f, c, lease, noisy ? frame(seed) : truth);
      }
    const open = await f.db.selectFrom('canary_reviews').select('id').where('status', '=', 'open').execute();
    if (open.length === 0) break;
    const checker = await f.provider();
    f.state.reputations.set(checker.address, { ...longRecord(f.clock.t), alpha: 40, consecutiveValid: 25 });
    await providerConnected(f.state, f.work, checker.link, rendererHello(checker, 1));
    checkers.push(checker);
    await f.submitJob({ tasks: 1 });
    await f.work.dispatch();
    await f.idle();
  }
  return checks;
}

test("attacker: a caught provider's wrong render frame of a job that already ended is re-rendered by two independent trusted renderers, revoked and refunded from its seized stake (render rule, validators agree); its right frame stands", async () => {
  const f = await workFixture({
    canaries: { rate: 1e-12 },
    market: idleMarket({ currentEpoch: async () => 7 }),
  });
  try {
    const cheater = await f.provider();
    f.state.reputations.set(cheater.address, longRecord(f.clock.t));
    // It was online once (its identity is known: review checkers are drawn independent of it).
    await providerConnected(f.state, f.work, cheater.link, rendererHello(cheater, 2));
    await providerDisconnected(f.state, f.work, cheater.link);
    // An audited render job whose frames the cheater delivered unchecked: A right, B a black frame.
    const job = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const spec = JSON.parse((await f.job(job.jobId)).spec);
    await f.db
      .updateTable('jobs')
      .set({
        kind: 'blender.render',
        spec: JSON.stringify({ ...spec, kind: 'blender.render', render: RENDER }),
        client: CLIENT,
      })
      .where('id', '=', job.jobId)
      .execute();
    const [A, B] = job.taskIds as [string, string];
    const cidA = await delivered(f, cheater, job.jobId, A, frame(1));
    const cidB = await delivered(f, cheater, job.jobId, B, frame(2, { fill: '#000000' }));
    await f.db.updateTable('jobs').set({ status: 'completed' }).where('id', '=', job.jobId).execute();
    await f.setTasksDone(job.jobId, 2);
    // An epoch applied the slash of its fault: its seized stake funds the refund.
    const slashed = 5000n;
    await postEntry(f.db, {
      ref: `epoch:7:slash:${cheater.address}`,
      kind: 'slash',
      epoch: 7,
      postings: [
        { account: accounts.settlement, amount: slashed },
        { account: accounts.providerSlashed(cheater.address), amount: -slashed },
      ],
    });
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: cheater.address,
        taskId: `0x${'c1'.repeat(32)}`,
        jobId: null,
        kind: 'canary',
        evidence: { reason: 'wrong known answer' },
      }),
    );
    assert.deepEqual(
      [(await f.task(A)).status, (await f.task(B)).status],
      ['completed', 'completed'],
      'an ended job is not reopened',
    );
    const reviews = await f.db
      .selectFrom('canary_reviews as r')
      .innerJoin('canary_tasks as c', 'c.id', 'r.canary_id')
      .select(['c.source_task_id', 'c.retired', 'c.kind', 'r.reason', 'r.status'])
      .execute();
    assert.deepEqual(
      reviews.map((r) => [r.source_task_id, r.retired, r.kind, r.reason, r.status]).sort(),
      [A, B].map((t) => [t, 1, 'blender.render', 'source-faulted', 'open']).sort(),
      'each delivered unchecked frame is under review, as a render known answer that never circulates',
    );
    const truthOfInput = new Map<string, TensorSet>([
      [(await f.task(A)).input_cid, frame(11)],
      [(await f.task(B)).input_cid, frame(12)],
    ]);
    const checks = await checkOpenReviews(f, truthOfInput, 8);
    assert.equal(
      checks.length,
      3,
      `two checks for the wrong frame, one for the right one (${checks.length})`,
    );
    assert.ok(
      checks.every((c) => c.kind === 'blender.render' && !c.region),
      'every check is a whole-frame render lease',
    );
    assert.ok(!checks.some((c) => c.by === cheater.address), 'the caught provider checks nothing');
    const statuses = await f.db
      .selectFrom('canary_reviews as r')
      .innerJoin('canary_tasks as c', 'c.id', 'r.canary_id')
      .select(['c.source_task_id', 'r.status'])
      .execute();
    assert.deepEqual(
      statuses.map((r) => [r.source_task_id, r.status]).sort(),
      [
        [A, 'confirmed'],
        [B, 'poisoned'],
      ].sort(),
      'the right frame is confirmed by the render rule (other noise, other bytes), the black one overturned',
    );
    const revoked = await revokedOutputsOf(f.db, job.jobId);
    assert.deepEqual([...revoked.keys()], [B], 'only the wrong frame is revoked');
    const rB = revoked.get(B)!;
    assert.equal(rB.checkedBy.length, 2, 'by two checkers');
    assert.notEqual(rB.checkedBy[0], rB.checkedBy[1], 'two independent checkers');
    assert.notEqual(rB.replacement, cidB, 'the replacement is a check’s frame');
    assert.equal((await f.task(A)).output_cid, cidA, 'the right frame stands');
    await payOwedCompensations(f.work);
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(
      b.get(accounts.refunds(CLIENT)),
      -1000n,
      'the wrong frame’s charge back, the right one’s kept',
    );
    assert.equal(
      b.get(accounts.providerSlashed(cheater.address)),
      -slashed + 1000n + 3n * 950n,
      'the refund and the three checks from the cheater’s seized stake',
    );
    const entries = await f.db
      .selectFrom('ledger_entries')
      .select(['id', 'ref', 'kind', 'memo'])
      .where('kind', '=', 'compensation')
      .orderBy('id')
      .execute();
    assert.equal(entries[0]?.ref, `review:${B}:refund`, 'the refund is paid first');
    const facts: EntryFact[] = [];
    for (const e of entries) {
      const postings = await f.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .orderBy('id')
        .execute();
      facts.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
    }
    for (const e of facts)
      assert.equal(await checkCompensationEntry(e, 31337, b), null, `the evidence of ${e.ref} holds`);
    const read = async (cid: string) => decodeSafetensors(await f.work.blobs.read(cid));
    assert.equal(
      await checkCompensationVerdicts(facts, read),
      null,
      'validators re-derive the revocation and the confirmation by the render rule',
    );
    // A forged revocation of a right frame (other sampling noise, other bytes): by the tensor rule
    // its bytes differ from the checks', by the render rule they agree, and validators refuse it.
    const refund = facts.find((e) => e.ref === `review:${B}:refund`)!;
    const forged = { ...refund, memo: { ...(refund.memo as object), expectedCid: 'forged-right-frame' } };
    const readForged = async (cid: string) => (cid === 'forged-right-frame' ? frame(13) : read(cid));
    assert.notEqual(
      await checkCompensationVerdicts([forged as EntryFact], readForged),
      null,
      'a right frame revoked is disputed (render rule, not byte comparison)',
    );
  } finally {
    await f.close();
  }
});

test("attacker: a caught provider's wrong training update is re-run by two independent trusted providers from the round's kept state, revoked and refunded from its seized stake; its right one stands", async () => {
  const f = await workFixture({
    canaries: { rate: 1e-12 },
    market: idleMarket({ currentEpoch: async () => 7 }),
  });
  try {
    const cheater = await f.provider();
    f.state.reputations.set(cheater.address, longRecord(f.clock.t));
    await providerConnected(f.state, f.work, cheater.link, cheater.hello(2));
    await providerDisconnected(f.state, f.work, cheater.link);
    // An audited training job (still running: its round closed on the updates) whose two updates
    // of a round the cheater delivered unchecked: A right, B wrong.
    const job = await f.submitJob({ tasks: 2, verification: { policy: 'audit' } });
    const spec = JSON.parse((await f.job(job.jobId)).spec);
    await f.db
      .updateTable('jobs')
      .set({
        kind: 'train.diloco',
        spec: JSON.stringify({ ...spec, kind: 'train.diloco', backend: { name: 'wasm', version: '4.22.0' } }),
        client: CLIENT,
      })
      .where('id', '=', job.jobId)
      .execute();
    const [A, B] = job.taskIds as [string, string];
    const cidA = await delivered(f, cheater, job.jobId, A, output(3));
    await delivered(f, cheater, job.jobId, B, output(9));
    await f.db.updateTable('jobs').set({ status: 'running' }).where('id', '=', job.jobId).execute();
    const slashed = 5000n;
    await postEntry(f.db, {
      ref: `epoch:7:slash:${cheater.address}`,
      kind: 'slash',
      epoch: 7,
      postings: [
        { account: accounts.settlement, amount: slashed },
        { account: accounts.providerSlashed(cheater.address), amount: -slashed },
      ],
    });
    await f.db.transaction().execute((trx) =>
      recordFault(f.state, f.work, trx, {
        provider: cheater.address,
        taskId: `0x${'c2'.repeat(32)}`,
        jobId: null,
        kind: 'canary',
        evidence: { reason: 'wrong known answer' },
      }),
    );
    assert.deepEqual(
      [(await f.task(A)).status, (await f.task(B)).status],
      ['completed', 'completed'],
      'a training update is never reopened (its round closed on it)',
    );
    const kinds = await f.db
      .selectFrom('canary_tasks')
      .select(['source_task_id', 'kind', 'retired'])
      .execute();
    assert.deepEqual(
      kinds.map((k) => [k.source_task_id, k.kind, k.retired]).sort(),
      [A, B].map((t) => [t, 'train.diloco', 1]).sort(),
      'each unchecked update is under review, as a training known answer that never circulates',
    );
    const truthOfInput = new Map<string, TensorSet>([
      [(await f.task(A)).input_cid, output(3)],
      [(await f.task(B)).input_cid, output(4)],
    ]);
    const checks = await checkOpenReviews(f, truthOfInput, 8, 'train.diloco');
    assert.equal(
      checks.length,
      3,
      `two checks for the wrong update, one for the right one (${checks.length})`,
    );
    assert.ok(
      checks.every((c) => c.kind === 'train.diloco'),
      'every check is a training lease of the task',
    );
    assert.ok(!checks.some((c) => c.by === cheater.address), 'the caught provider checks nothing');
    const revoked = await revokedOutputsOf(f.db, job.jobId);
    assert.deepEqual([...revoked.keys()], [B], 'only the wrong update is revoked');
    assert.equal((await f.task(A)).output_cid, cidA, 'the right update stands');
    await payOwedCompensations(f.work);
    const b = await readBalances(f.db, { prefix: 'provider:' });
    assert.equal(
      b.get(accounts.refunds(CLIENT)),
      -1000n,
      'the wrong update’s charge back, the right one’s kept',
    );
    const entries = await f.db
      .selectFrom('ledger_entries')
      .select(['id', 'ref', 'kind', 'memo'])
      .where('kind', '=', 'compensation')
      .orderBy('id')
      .execute();
    const facts: EntryFact[] = [];
    for (const e of entries) {
      const postings = await f.db
        .selectFrom('ledger_postings')
        .select(['account', 'amount'])
        .where('entry_id', '=', e.id)
        .orderBy('id')
        .execute();
      facts.push({ ref: e.ref, kind: e.kind, postings, memo: JSON.parse(e.memo) });
    }
    for (const e of facts)
      assert.equal(await checkCompensationEntry(e, 31337, b), null, `the evidence of ${e.ref} holds`);
    const read = async (cid: string) => decodeSafetensors(await f.work.blobs.read(cid));
    assert.equal(await checkCompensationVerdicts(facts, read), null, 'validators re-derive the revocation');
  } finally {
    await f.close();
  }
});
