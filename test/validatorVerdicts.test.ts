/**
 * Verdicts re-derived from outputs (src/validator/checkVerdicts.ts), with real safetensors outputs
 * behind validator-signed reads: an `outvoted` slash stands only when the two outputs really
 * disagree (an honest provider slashed over outputs that agree within tolerance is named), the
 * evidence's digests must be those of the outputs, and an inference task paid twice must have paid
 * outputs that agree; a reinstatement's review must really overturn the fault (version 7); a result
 * on a paid task that is neither paid nor slashed must agree with the paid output (version 7).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type {
  ChargeFact,
  EndedLease,
  EpochFacts,
  ReputationEntry,
  SlashFact,
} from '../src/coordinator/settlement/epochFacts.ts';
import { taskIdOf } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../src/protocol/tensorSet.ts';
import { checkVerdicts } from '../src/validator/checkVerdicts.ts';
import { readBlobAs } from '../src/validator/recheck.ts';
import { type BlobStandIn, startBlobStandIn } from './helpers/blobStandIn.ts';

const CHAIN_ID = 31337;
const validator = privateKeyToAccount(`0x${'0d'.repeat(32)}`);
const jobId = `0x${'10'.repeat(32)}` as Hex;
const task = taskIdOf(jobId, 0);
let blobs: BlobStandIn;

const logits = (values: number[]): TensorSet => ({
  logits: { dtype: 'float32', shape: [values.length], data: Float32Array.from(values) },
});
const truth = logits([0.5, -1.25, 3, 0.125]);
/** What another honest machine computes: differences far inside the tolerance. */
const honestNoise = logits([0.5000001, -1.2500002, 3.0000005, 0.125]);
const wrong = logits([0.9, -1.25, 2, 0.125]);

const read = (cid: string) => readBlobAs(blobs.url, validator, CHAIN_ID, cid);
const result = (outputCid: string, aid: string) => ({
  type: 'TaskResult' as const,
  assignmentId: `0x${aid.repeat(32)}` as Hex,
  taskId: task,
  outputCid,
  usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 },
  issuedAt: 1,
  signature: '0x' as Hex,
});

function slash(faulty: TensorSet, winner: TensorSet, digests = true): SlashFact {
  return {
    id: 9,
    provider: `0x${'0b'.repeat(20)}`,
    taskId: task,
    amount: '5',
    kind: 'outvoted',
    evidence: {
      kind: 'outvoted',
      taskId: task,
      agreeing: [`0x${'0a'.repeat(20)}`],
      ...(digests ? { faultyDigest: tensorSetDigest(faulty), acceptedDigest: tensorSetDigest(winner) } : {}),
    },
    signed: [result(blobs.put(encodeSafetensors(faulty)), 'b1')],
    accepted: [result(blobs.put(encodeSafetensors(winner)), 'a1')],
  };
}

function charge(output: TensorSet, aid: string): ChargeFact {
  const r = result(blobs.put(encodeSafetensors(output)), aid);
  return {
    ref: `exec:${r.assignmentId}`,
    jobId,
    taskId: task,
    assignmentId: r.assignmentId,
    provider: `0x${aid.repeat(20)}`,
    class: 'cpu',
    unitsMilli: '1',
    unitPrice: '1',
    charge: '1',
    fee: '0',
    providerAmount: '1',
    result: { outputCid: r.outputCid, usage: r.usage, issuedAt: 1, signature: '0x' },
  };
}

const facts = (
  f: Partial<Pick<EpochFacts, 'charges' | 'slashes' | 'reputation' | 'endedLeases' | 'unpaidResults'>>,
) => ({
  ...f,
  jobs: [
    {
      jobId,
      client: validator.address,
      spec: { kind: 'onnx.infer', model: 'aa'.repeat(32), inputs: ['bb'.repeat(32)] },
      nonce: '1',
      maxPricePerUnit: '1',
      issuedAt: 1,
      signature: '0x' as Hex,
    },
  ],
  charges: f.charges ?? [],
  slashes: f.slashes ?? [],
});

before(async () => {
  blobs = await startBlobStandIn(CHAIN_ID);
});
after(async () => {
  await blobs.close();
});

test('an outvoted slash whose outputs really differ stands; its outputs are read with signed reads', async () => {
  const before = blobs.reads();
  assert.equal(await checkVerdicts(facts({ slashes: [slash(wrong, truth)] }), read), null);
  assert.equal(blobs.reads() - before, 2);
});

test('an honest provider "outvoted" over outputs that agree within tolerance is named', async () => {
  const d = await checkVerdicts(facts({ slashes: [slash(honestNoise, truth)] }), read);
  assert.equal(d?.fact, 'slash[9].verdict');
  assert.match(d?.recomputed ?? '', /agree within tolerance/);
});

test("the evidence's digests must be the outputs' own", async () => {
  const s = slash(wrong, truth);
  (s.evidence as { acceptedDigest: string }).acceptedDigest = tensorSetDigest(honestNoise);
  assert.equal((await checkVerdicts(facts({ slashes: [s] }), read))?.fact, 'slash[9].acceptedDigest');
});

test('a slash whose outputs the coordinator will not serve, or with no winner, is a dispute', async () => {
  const s = slash(wrong, truth, false);
  s.accepted = [result('ee'.repeat(32), 'a2')];
  assert.equal((await checkVerdicts(facts({ slashes: [s] }), read))?.fact, 'slash[9].blob');
  s.accepted = [];
  assert.equal((await checkVerdicts(facts({ slashes: [s] }), read))?.fact, 'slash[9].verdict');
});

test('an inference task paid twice: agreeing outputs pass, differing outputs are named', async () => {
  const agree = [charge(truth, 'a1'), charge(honestNoise, 'a2')];
  assert.equal(await checkVerdicts(facts({ charges: agree }), read), null);
  const differ = [charge(truth, 'a1'), charge(wrong, 'a3')];
  const d = await checkVerdicts(facts({ charges: differ }), read);
  assert.equal(d?.fact, `verdict[${task}].agreement`);
  // Paid once: nothing to compare, nothing read.
  const before = blobs.reads();
  assert.equal(await checkVerdicts(facts({ charges: [charge(wrong, 'a4')] }), read), null);
  assert.equal(blobs.reads(), before);
});

test('version 7: a reinstatement stands only when its review really overturned the fault', async () => {
  const put = (t: TensorSet) => blobs.put(encodeSafetensors(t));
  const r = (t: TensorSet, aid: string) => {
    const { type: _t, ...x } = result(put(t), aid);
    return x;
  };
  // The known answer was wrong; two checks and the reinstated provider agree on the truth.
  const review = (known: TensorSet, check: TensorSet, first: TensorSet, wronged: TensorSet) => ({
    expectedCid: put(known),
    check: { provider: `0x${'0e'.repeat(20)}`, result: r(check, 'c2') },
    firstCheck: { provider: `0x${'0f'.repeat(20)}`, result: r(first, 'c1') },
    wronged: r(wronged, 'b1'),
  });
  const entry = (rv: ReturnType<typeof review>): ReputationEntry => ({
    provider: `0x${'0b'.repeat(20)}`,
    kind: 'reinstate',
    at: 5,
    before: null,
    faultAt: 4,
    review: rv,
  });
  const fact = async (rv: ReturnType<typeof review>) =>
    (await checkVerdicts(facts({ reputation: [entry(rv)] }), read))?.fact ?? null;
  assert.equal(await fact(review(wrong, truth, honestNoise, truth)), null, 'a real overturn stands');
  assert.equal(
    await fact(review(truth, honestNoise, truth, truth)),
    'reputation[0].review.check',
    'an invented overturn: the check agrees with the known answer',
  );
  assert.equal(
    await fact(review(wrong, truth, wrong, truth)),
    'reputation[0].review.firstCheck',
    'the two checks disagree',
  );
  assert.equal(
    await fact(review(truth, wrong, wrong, logits([0, 0, 0, 0]))),
    'reputation[0].review.wronged',
    'the ally’s own output is not what the checks found',
  );
});

test('version 7: a result neither paid nor slashed on a paid task must agree with the paid output (a spared fault is named)', async () => {
  const paid = charge(truth, 'a1');
  /** A listed lease with a result, and the paying bundle's signed copy of that result. */
  const spared = (output: TensorSet) => {
    const { type: _t, assignmentId, taskId: _k, ...res } = result(blobs.put(encodeSafetensors(output)), 'b2');
    const provider = `0x${'0b'.repeat(20)}`;
    const lease: EndedLease = {
      lease: assignmentId,
      provider,
      task,
      job: jobId,
      leasedAt: 1,
      endedAt: 2,
      code: null,
    };
    return { endedLeases: [lease], unpaidResults: [{ lease: assignmentId, provider, task, result: res }] };
  };
  const listed = spared(wrong);
  const lease = listed.endedLeases[0]!;
  const d = await checkVerdicts(facts({ charges: [paid], ...listed }), read);
  assert.equal(d?.fact, `endedLease[${lease.lease}].fault`, 'the wrong result spared its fault and slash');
  assert.match(d?.recomputed ?? '', /outvoted/, 'the recomputed outcome');
  const s = { ...slash(wrong, truth), provider: `0x${'0b'.repeat(20)}` };
  assert.equal(
    await checkVerdicts(facts({ charges: [paid], ...listed, slashes: [s] }), read),
    null,
    'slashed on the task: its verdict is the slash’s',
  );
  assert.equal(
    await checkVerdicts(facts({ charges: [paid], ...spared(honestNoise) }), read),
    null,
    'an agreeing result priced to zero owes nothing',
  );
});
