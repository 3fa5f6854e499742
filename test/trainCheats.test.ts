import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareTensorSets } from '../src/coordinator/verification/compareTensors.ts';
import { cidOf } from '../src/protocol/ids.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { checkTrainUpdate, layoutOf } from '../src/protocol/trainUpdate.ts';
import { parseBehaviour } from '../src/provider/agent/behaviour.ts';
import type { TaskOutput } from '../src/provider/agent/runOnnxTask.ts';
import { createTrainCheater } from '../src/provider/agent/trainCheats.ts';

/** An honest-looking training output of worker `w` in round `r` (values differ per task). */
function update(r: number, w: number): TaskOutput {
  const data = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i + 10 * r + 100 * w) * 1e-2);
  const bytes = encodeSafetensors({
    'dense/0': { dtype: 'float32', shape: [8, 8], data },
    'train/loss': { dtype: 'float32', shape: [1], data: new Float32Array([2.3]) },
  });
  return { bytes, cid: cidOf(bytes), usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 } };
}
const model = 'a'.repeat(64);

test('train cheats parse as behaviours', () => {
  assert.deepEqual(parseBehaviour('train-noise'), { kind: 'train-cheat', cheat: 'noise' });
  assert.deepEqual(parseBehaviour('train-stale'), { kind: 'train-cheat', cheat: 'stale' });
  assert.deepEqual(parseBehaviour('train-copy'), { kind: 'train-cheat', cheat: 'copy' });
});

test('noise keeps names, shapes and scale but fails the comparison with the honest update', () => {
  const honest = update(0, 0);
  const sent = createTrainCheater('noise')({ model, round: 0, worker: 0 }, honest);
  const got = decodeSafetensors(sent.bytes);
  const truth = decodeSafetensors(honest.bytes);
  assert.deepEqual(got['dense/0']?.shape, [8, 8]);
  assert.equal(sent.cid, cidOf(sent.bytes));
  assert.equal(compareTensorSets(got, truth).ok, false);
  const rms = (d: Float32Array) => Math.sqrt(d.reduce((a, x) => a + x * x, 0) / d.length);
  const ratio = rms(got['dense/0']?.data as Float32Array) / rms(truth['dense/0']?.data as Float32Array);
  assert.ok(ratio > 0.5 && ratio < 2, `noise of the update's scale (ratio ${ratio})`);
});

test("stale resends its first update in later rounds; copy resends another worker's update of the round", () => {
  const stale = createTrainCheater('stale');
  const r0 = update(0, 1);
  assert.equal(stale({ model, round: 0, worker: 1 }, r0).cid, r0.cid, 'honest until it has something old');
  assert.equal(stale({ model, round: 2, worker: 1 }, update(2, 1)).cid, r0.cid);
  const copy = createTrainCheater('copy');
  const w0 = update(3, 0);
  assert.equal(copy({ model, round: 3, worker: 0 }, w0).cid, w0.cid);
  assert.equal(copy({ model, round: 3, worker: 1 }, update(3, 1)).cid, w0.cid);
  const next = update(4, 1);
  assert.equal(copy({ model, round: 4, worker: 1 }, next).cid, next.cid, 'a new round starts honest');
});

test('malformed leaves out the first weight tensor; nan fills every weight with NaN (the layout check refuses both)', () => {
  assert.deepEqual(parseBehaviour('train-malformed'), { kind: 'train-cheat', cheat: 'malformed' });
  assert.deepEqual(parseBehaviour('train-nan'), { kind: 'train-cheat', cheat: 'nan' });
  const honest = update(0, 0);
  const layout = layoutOf(decodeSafetensors(honest.bytes));
  delete layout['train/loss'];
  assert.equal(checkTrainUpdate(decodeSafetensors(honest.bytes), layout), undefined);
  const malformed = createTrainCheater('malformed')({ model, round: 0, worker: 0 }, honest);
  assert.equal(malformed.cid, cidOf(malformed.bytes));
  assert.deepEqual(checkTrainUpdate(decodeSafetensors(malformed.bytes), layout), {
    kind: 'malformed',
    tensor: 'dense/0',
    why: 'missing',
  });
  const nan = createTrainCheater('nan')({ model, round: 0, worker: 0 }, honest);
  assert.equal(checkTrainUpdate(decodeSafetensors(nan.bytes), layout)?.kind, 'nonfinite');
});
