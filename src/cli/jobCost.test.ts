import assert from 'node:assert/strict';
import { test } from 'node:test';
import { costLine, jobStatusLines, revokedLine } from './jobCost.ts';

test('job cost in PLX: charged, reserved while running, development mode', () => {
  const cost = { charged: '2880000000000000', worstCase: '28800000000000000000' };
  assert.equal(
    costLine({ status: 'completed', cost }),
    '0.00288 PLX charged (28.8 PLX was reserved from the escrow as the worst case)',
  );
  assert.equal(
    costLine({ status: 'running', cost }),
    '0.00288 PLX charged so far; up to 28.8 PLX reserved from the escrow until it ends',
  );
  assert.equal(
    costLine({ status: 'completed', cost: { charged: '0', worstCase: null } }),
    '0 PLX charged (no escrow reserved: development mode)',
  );
  assert.equal(costLine({ status: 'completed', cost: undefined }), 'not reported by this coordinator');
});

test('job status lines: attempts apart from executions, task cost', () => {
  const lines = jobStatusLines({
    id: '0x01',
    client: '0x02',
    kind: 'onnx.infer',
    status: 'completed',
    spec: {},
    tasksTotal: 2,
    tasksDone: 2,
    error: null,
    createdAt: 0,
    updatedAt: 0,
    cost: { charged: '3000000000000000', worstCase: '1000000000000000000' },
    tasks: [
      {
        id: 't0',
        index: 0,
        input: 'a',
        status: 'completed',
        attempts: 1,
        executions: 2,
        output: 'b',
        provider: '0xp',
        lastError: null,
        cost: '2000000000000000',
      },
      {
        id: 't1',
        index: 1,
        input: 'c',
        status: 'completed',
        attempts: 2,
        executions: 2,
        output: 'd',
        provider: '0xq',
        lastError: 'PLX_LEASE_EXPIRED: x',
        cost: '1000000000000000',
      },
    ],
  });
  assert.match(lines[3]!, /cost {5}0\.003 PLX charged \(1 PLX was reserved/);
  assert.equal(
    lines[5],
    '  #0 completed 1 attempt (2 executions with replicas or audits)  0.002 PLX  on 0xp',
  );
  assert.equal(lines[6], '  #1 completed 2 attempts  0.001 PLX  on 0xq  last error: PLX_LEASE_EXPIRED: x');
});

test('job status shows a revoked output: its replacement, the checks and the refund', () => {
  const task = {
    index: 0,
    input: 'a',
    status: 'completed' as const,
    attempts: 1,
    executions: 1,
    provider: '0xp',
    lastError: null,
    cost: '0',
  };
  const lines = jobStatusLines({
    id: '0x01',
    client: '0x02',
    kind: 'onnx.infer',
    status: 'completed',
    spec: {},
    tasksTotal: 2,
    tasksDone: 2,
    error: null,
    createdAt: 0,
    updatedAt: 0,
    cost: { charged: '0', worstCase: null },
    tasks: [
      {
        ...task,
        id: 't0',
        output: 'wrong',
        revoked: { replacement: 'right', checkedBy: ['0xa', '0xb'], refund: true, at: 5 },
      },
      { ...task, id: 't1', index: 1, output: 'kept' },
    ],
  });
  assert.equal(
    lines[6],
    '     output wrong revoked: replaced by right (2 trusted checks disagreed with it; its charges refunded)',
    'the revoked task is followed by its revocation',
  );
  assert.match(lines[7]!, /^ {2}#1 completed/, 'a task that was not revoked has no such line');
  assert.equal(lines.length, 8, 'one revocation line only');
  assert.equal(
    revokedLine({ replacement: 'r', checkedBy: ['0xa'], refund: false, at: 0 }, null),
    'output revoked: replaced by r (1 trusted check disagreed with it; no refund)',
  );
});
