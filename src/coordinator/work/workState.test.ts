import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CoordinatorMessage } from '../../protocol/schemas.ts';
import {
  anotherProviderOnline,
  createWorkState,
  defaultVerificationEconomics,
  forgetVerification,
  reputationOf,
  send,
} from './workState.ts';

test('a fresh state is empty, with the canary defaults and the given economics', () => {
  const econ = defaultVerificationEconomics();
  const s = createWorkState({ verification: econ, slashable: 7n });
  assert.equal(s.links.size + s.reputations.size + s.verifications.size + s.jobCache.size, 0);
  assert.equal(s.dispatching, undefined);
  assert.equal(s.econ, econ);
  assert.equal(s.slashable, 7n);
  assert.deepEqual([s.canaryRate, s.canaryMaxIssues, s.canaryPoolSize], [0.02, 50, 1000]);
  assert.equal(createWorkState({ verification: econ, slashable: 1n, canaries: { rate: 0 } }).canaryRate, 0);
  assert.notEqual(defaultVerificationEconomics().seed, econ.seed, 'a fresh secret seed each time');
});

test('send reaches a linked provider only; another provider online skips the named and draining ones', () => {
  const s = createWorkState({ verification: defaultVerificationEconomics(), slashable: 1n });
  const got: CoordinatorMessage[] = [];
  s.links.set('0xa', { address: '0xa', send: (m) => got.push(m) > 0 });
  s.links.set('0xb', { address: '0xb', send: () => true });
  const msg: CoordinatorMessage = { type: 'reveal', assignmentId: '0x01' };
  assert.equal(send(s, '0xa', msg), true);
  assert.equal(send(s, '0xc', msg), false);
  assert.deepEqual(got, [msg]);
  assert.equal(anotherProviderOnline(s, ['0xA']), true);
  s.draining.add('0xb');
  assert.equal(anotherProviderOnline(s, ['0xa']), false);
  assert.equal(reputationOf(s, () => 5, '0xa').updatedAt, 5, 'unknown: a fresh reputation');
  s.outputsOf.set('t', new Map());
  forgetVerification(s, 't');
  assert.equal(s.outputsOf.has('t'), false);
});
