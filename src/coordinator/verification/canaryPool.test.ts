import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keccak256, toHex } from 'viem';
import { Rng } from '../../protocol/rng.ts';
import { CanaryPool } from './canaryPool.ts';

type Descriptor = { kind: string; model: string; input: string };
const provider = '0x0000000000000000000000000000000000000001' as const;

function pool(over: { rate?: number; maxIssues?: number } = {}) {
  const ids = new Rng('ids');
  // The same generator the coordinator uses for real tasks: random 128-bit hex.
  const newTaskId = () => `task-${ids.nextUint32().toString(16)}${ids.nextUint32().toString(16)}`;
  return { p: new CanaryPool<Descriptor>({ seed: 'secret', newTaskId, ...over }), newTaskId };
}

test('issued canaries look exactly like real tasks: same descriptor, fresh ordinary task id', () => {
  const { p, newTaskId } = pool();
  const real: Descriptor = { kind: 'onnx.infer', model: 'ab'.repeat(32), input: 'cd'.repeat(32) };
  p.add(real, { expectedDigest: keccak256(toHex('answer')) });
  const c = p.issue(provider);
  assert.ok(c, 'c');
  assert.deepEqual(Object.keys(c.descriptor).sort(), Object.keys(real).sort());
  assert.deepEqual(c.descriptor, real);
  assert.match(c.taskId, /^task-[0-9a-f]+$/);
  assert.notEqual(c.taskId, newTaskId());
  assert.equal(p.answerFor(c.taskId)?.expectedDigest, keccak256(toHex('answer')));
  assert.equal(p.answerFor('task-real'), undefined);
  p.settle(c.taskId);
  assert.equal(p.answerFor(c.taskId), undefined);
});

test('a provider never gets the same canary twice; canaries retire after maxIssues', () => {
  const { p } = pool({ maxIssues: 2 });
  p.add({ kind: 'k', model: 'm', input: 'i1' }, { expectedDigest: keccak256(toHex('1')) });
  p.add({ kind: 'k', model: 'm', input: 'i2' }, { expectedDigest: keccak256(toHex('2')) });
  const seen = [p.issue(provider)?.descriptor.input, p.issue(provider)?.descriptor.input];
  assert.deepEqual(seen.sort(), ['i1', 'i2']);
  assert.equal(p.issue(provider), undefined);
  const other = '0x0000000000000000000000000000000000000002' as const;
  p.issue(other);
  p.issue(other);
  assert.equal(p.size, 0, 'both canaries issued twice → retired');
});

test('injection rate follows the configured share and is reproducible', () => {
  const { p } = pool({ rate: 0.05 });
  assert.equal(p.shouldInject(provider, 'slot-0'), false, 'empty pool injects nothing');
  p.add({ kind: 'k', model: 'm', input: 'i' }, { expectedDigest: keccak256(toHex('1')) });
  const draws = Array.from({ length: 20_000 }, (_, i) => p.shouldInject(provider, `slot-${i}`));
  const share = draws.filter(Boolean).length / draws.length;
  assert.ok(Math.abs(share - 0.05) < 0.006, `share ${share}`);
  assert.deepEqual(
    draws.slice(0, 500),
    Array.from({ length: 500 }, (_, i) => p.shouldInject(provider, `slot-${i}`)),
  );
});
