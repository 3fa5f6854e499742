import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareTensorSets } from '../src/coordinator/verification/compareTensors.ts';
import { cidOf } from '../src/protocol/ids.ts';
import { decodeSafetensors, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { misbehave, parseBehaviour } from '../src/provider/agent/behaviour.ts';
import type { TaskOutput } from '../src/provider/agent/runOnnxTask.ts';

const bytes = encodeSafetensors({
  y: { dtype: 'float32', shape: [2, 3], data: new Float32Array([0.1, 0.9, 0.5, 0.3, 0.7, 0.2]) },
  n: { dtype: 'int64', shape: [1], data: new BigInt64Array([7n]) },
});
const honest: TaskOutput = { bytes, cid: cidOf(bytes), usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 } };

test('parseBehaviour accepts the documented names and refuses others', () => {
  assert.deepEqual(parseBehaviour('honest'), { kind: 'honest' });
  assert.deepEqual(parseBehaviour('always-wrong'), { kind: 'wrong', p: 1 });
  assert.deepEqual(parseBehaviour('wrong:0.1'), { kind: 'wrong', p: 0.1 });
  assert.deepEqual(parseBehaviour('lazy-zeros'), { kind: 'lazy-zeros' });
  assert.deepEqual(parseBehaviour('disconnect'), { kind: 'disconnect' });
  assert.deepEqual(parseBehaviour('fake-gpu'), { kind: 'fake-gpu' });
  assert.equal((misbehave({ kind: 'fake-gpu' }, honest) as { output: TaskOutput }).output, honest);
  for (const bad of ['wrong:2', 'wrong:', 'evil', 'wrong:-0.1'])
    assert.throws(() => parseBehaviour(bad), RangeError);
});

test('dishonest outputs keep the shapes but fail the tolerance comparison; honest ones pass unchanged', () => {
  const truth = decodeSafetensors(bytes);
  const honestAct = misbehave({ kind: 'honest' }, honest);
  assert.equal(honestAct.action === 'deliver' && honestAct.output.cid, honest.cid);
  for (const b of [
    parseBehaviour('always-wrong'),
    parseBehaviour('lazy-zeros'),
    parseBehaviour('lazy-random'),
    parseBehaviour('sign-flip'),
  ]) {
    const act = misbehave(b, honest);
    assert.equal(act.action, 'deliver');
    if (act.action !== 'deliver') continue;
    assert.notEqual(act.output.cid, honest.cid);
    assert.equal(act.output.cid, cidOf(act.output.bytes));
    const got = decodeSafetensors(act.output.bytes);
    assert.deepEqual(got.y?.shape, [2, 3]);
    assert.equal(compareTensorSets(got, truth).ok, false, `${b.kind} is caught`);
  }
  assert.equal(misbehave(parseBehaviour('wrong:0'), honest).action, 'deliver');
  const never = misbehave(parseBehaviour('wrong:0'), honest);
  assert.equal(never.action === 'deliver' && never.output.cid, honest.cid);
  assert.deepEqual(misbehave({ kind: 'slow' }, honest), { action: 'withhold' });
  assert.deepEqual(misbehave({ kind: 'disconnect' }, honest), { action: 'drop' });
});
