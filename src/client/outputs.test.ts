import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobResults } from '../protocol/http/jobs.ts';
import { currentOutput, currentOutputs, outputRevoked, revokedOutputs } from './index.ts';

const results: JobResults = {
  jobId: '0x01',
  status: 'completed',
  error: null,
  outputs: [
    {
      index: 0,
      input: 'i0',
      output: 'wrong',
      provider: '0xp',
      revoked: { replacement: 'right', checkedBy: ['0xa', '0xb'], refund: true, at: 7 },
    },
    { index: 1, input: 'i1', output: 'kept', provider: '0xq' },
  ],
};

test('the SDK hands out the replacement of a revoked output, never the revoked one', () => {
  assert.equal(currentOutput(results.outputs[0]!), 'right', 'a revoked output is replaced');
  assert.equal(currentOutput(results.outputs[1]!), 'kept', 'an output that stands is kept');
  const current = currentOutputs(results.outputs);
  assert.deepEqual(
    current.map((o) => [o.index, o.output, o.delivered]),
    [
      [0, 'right', 'wrong'],
      [1, 'kept', 'kept'],
    ],
    'what `job results` writes: the replacement, in task order',
  );
  assert.deepEqual(revokedOutputs(results.outputs), [
    { index: 0, revoked: 'wrong', replacement: 'right', checkedBy: ['0xa', '0xb'], refund: true, at: 7 },
  ]);
});

test('the SDK types the output.revoked event of a job stream', () => {
  const data = {
    jobId: '0x01',
    at: 1,
    taskId: '0xt',
    provider: '0xp',
    revoked: 'wrong',
    replacement: 'right',
    checkedBy: ['0xa', '0xb'],
    refund: true,
  };
  assert.deepEqual(outputRevoked({ id: 1, type: 'output.revoked', data }), {
    taskId: '0xt',
    provider: '0xp',
    revoked: 'wrong',
    replacement: 'right',
    checkedBy: ['0xa', '0xb'],
    refund: true,
  });
  assert.equal(
    outputRevoked({ id: 2, type: 'task.completed', data }),
    undefined,
    'other events are not revocations',
  );
  assert.equal(outputRevoked({ id: 3, type: 'output.revoked', data: { taskId: 1 } }), undefined, 'malformed');
});
