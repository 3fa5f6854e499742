import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { jobVerificationSchema } from '../protocol/schemas.ts';
import { verificationOption } from './options.ts';

test('--verify parses into a verification the job schema accepts', () => {
  for (const [arg, want] of [
    ['none', { policy: 'none' }],
    ['audit', { policy: 'audit' }],
    ['redundant', { policy: 'redundant' }],
    ['redundant:5', { policy: 'redundant', k: 5 }],
  ] as const) {
    const got = verificationOption(arg);
    assert.deepEqual(got, want);
    assert.deepEqual(jobVerificationSchema.parse(got), want);
  }
  for (const bad of ['redundant:1', 'redundant:8', 'audit:2', 'strict', '']) {
    assert.throws(() => verificationOption(bad), InvalidArgumentError);
  }
});
