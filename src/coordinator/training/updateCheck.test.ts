import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { cidOf } from '../../protocol/ids.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { checkTrainUpdate, layoutOf } from '../../protocol/trainUpdate.ts';
import { checkVerdicts } from '../../validator/checkVerdicts.ts';
import type { SlashFact } from '../settlement/epochFacts.ts';
import { invalidUpdate } from './updateCheck.ts';

const weights: TensorSet = {
  'dense/kernel': { dtype: 'float32', shape: [3, 2], data: new Float32Array(6).fill(0.5) },
  'dense/bias': { dtype: 'float32', shape: [2], data: new Float32Array(2) },
};
const loss = { dtype: 'float32' as const, shape: [1], data: new Float32Array([0.7]) };
const update = (over: TensorSet = {}, drop?: string): TensorSet => {
  const out: TensorSet = {
    'dense/kernel': { dtype: 'float32', shape: [3, 2], data: new Float32Array(6).fill(-0.01) },
    'dense/bias': { dtype: 'float32', shape: [2], data: new Float32Array([0.1, 0.2]) },
    'train/loss': loss,
    ...over,
  };
  if (drop) delete out[drop];
  return out;
};

test("checkTrainUpdate: the round weights' layout and finite floats pass; missing, dtype, shape are malformed; NaN and ±∞ non-finite", () => {
  const layout = layoutOf(weights);
  assert.equal(checkTrainUpdate(update(), layout), undefined, 'an honest update passes');
  assert.equal(
    checkTrainUpdate(
      update({ 'train/loss': { ...loss, data: new Float32Array([Number.NaN]) }, extra: loss }),
      layout,
    ),
    undefined,
    'tensors that are not weights (the loss, extras) are not checked',
  );
  assert.deepEqual(checkTrainUpdate(update({}, 'dense/bias'), layout), {
    kind: 'malformed',
    tensor: 'dense/bias',
    why: 'missing',
  });
  assert.equal(
    checkTrainUpdate(
      update({ 'dense/bias': { dtype: 'float64', shape: [2], data: new Float64Array(2) } }),
      layout,
    )?.kind,
    'malformed',
    'another dtype',
  );
  assert.deepEqual(
    checkTrainUpdate(
      update({ 'dense/kernel': { dtype: 'float32', shape: [2, 3], data: new Float32Array(6) } }),
      layout,
    ),
    { kind: 'malformed', tensor: 'dense/kernel', why: 'shape [2,3], not [3,2]' },
    'the same size in another shape',
  );
  for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const data = new Float32Array(6);
    data[4] = x;
    assert.deepEqual(
      checkTrainUpdate(update({ 'dense/kernel': { dtype: 'float32', shape: [3, 2], data } }), layout),
      { kind: 'nonfinite', tensor: 'dense/kernel', why: `${x} at index 4` },
    );
  }
  const bad = update({}, 'dense/kernel');
  const found = invalidUpdate(bad, { weights: 'w', layout });
  assert.deepEqual(found, { kind: 'malformed', tensor: 'dense/kernel', why: 'missing', weights: 'w' });
  assert.equal(invalidUpdate(bad, { weights: 'w', layout }), found, 'checked once per set');
  assert.equal(invalidUpdate(update(), { weights: 'w', layout }), undefined);
});

test('a validator re-checks a malformed fault from the signed output and the round weights, and disputes one that is not', async () => {
  const blobs = new Map<string, Uint8Array>();
  const put = (set: TensorSet) => {
    const bytes = encodeSafetensors(set);
    const cid = cidOf(bytes);
    blobs.set(cid, bytes);
    return cid;
  };
  const weightsCid = put(weights);
  const read = async (cid: string) => blobs.get(cid) ?? assert.fail(`no blob ${cid}`);
  const slashOf = (out: TensorSet): SlashFact => ({
    id: 1,
    provider: `0x${'1'.repeat(40)}`,
    taskId: `0x${'2'.repeat(64)}`,
    amount: '2000',
    kind: 'malformed',
    evidence: {
      kind: 'malformed',
      faultyDigest: tensorSetDigest(out),
      update: { tensor: 'dense/bias', why: 'missing', weights: weightsCid },
    },
    signed: [
      {
        type: 'TaskResult',
        assignmentId: `0x${'3'.repeat(64)}` as Hex,
        taskId: `0x${'2'.repeat(64)}` as Hex,
        outputCid: put(out),
        usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 },
        issuedAt: 1,
        signature: '0x' as Hex,
      },
    ],
  });
  const facts = (s: SlashFact) => ({ jobs: [], charges: [], slashes: [s], canaries: [] });
  assert.equal(await checkVerdicts(facts(slashOf(update({}, 'dense/bias'))), read), null, 'really malformed');
  const honest = await checkVerdicts(facts(slashOf(update())), read);
  assert.equal(honest?.fact, 'slash[1].verdict', 'an honest update faulted as malformed is disputed');
  const data = new Float32Array(2).fill(Number.NaN);
  const nan = await checkVerdicts(
    facts(slashOf(update({ 'dense/bias': { dtype: 'float32', shape: [2], data } }))),
    read,
  );
  assert.equal(nan?.fact, 'slash[1].verdict', 'a non-finite update is no fault: disputed');
});
