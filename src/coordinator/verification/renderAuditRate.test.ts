import assert from 'node:assert/strict';
import { test } from 'node:test';
import { economicAuditBound } from './auditPolicy.ts';
import {
  jobDetection,
  RENDER_JOB_AUDIT_SAMPLE,
  RENDER_SAMPLE_MIN_RECORD,
  renderAuditRate,
} from './renderAuditRate.ts';

const clean = { verifiedValid: RENDER_SAMPLE_MIN_RECORD, faults: 0 };

test('a provider with a clean record is sampled per job: about RENDER_JOB_AUDIT_SAMPLE frames of the job', () => {
  assert.equal(
    renderAuditRate({ rate: 1, lower: 0.04, tasks: 24, reputation: clean }),
    RENDER_JOB_AUDIT_SAMPLE / 24,
  );
  // A short job is audited on every frame; a rate already lower stays lower.
  assert.equal(
    renderAuditRate({ rate: 1, lower: 0.04, tasks: RENDER_JOB_AUDIT_SAMPLE, reputation: clean }),
    1,
  );
  assert.equal(renderAuditRate({ rate: 0.05, lower: 0.04, tasks: 8, reputation: clean }), 0.05);
});

test('no render rate goes under the bounds every draw keeps (economic bound, floor, value floor)', () => {
  const bound = economicAuditBound({ cost: 80n, reward: 100n, slashable: 200n });
  for (const tasks of [1, 12, 48, 1000, 100_000]) {
    const r = renderAuditRate({ rate: 1, lower: Math.max(bound, 0.04), tasks, reputation: clean });
    assert.ok(r >= bound && r >= 0.04 && r <= 1, `${tasks}: ${r}`);
  }
  assert.equal(renderAuditRate({ rate: 1, lower: 0.5, tasks: 1000, reputation: clean }), 0.5);
});

test('a newcomer, or a provider with a fault, is audited by the adaptive rule alone', () => {
  const young = { verifiedValid: RENDER_SAMPLE_MIN_RECORD - 1, faults: 0 };
  const faulted = { verifiedValid: 100, faults: 1 };
  assert.equal(renderAuditRate({ rate: 1, lower: 0.04, tasks: 48, reputation: young }), 1);
  assert.equal(renderAuditRate({ rate: 0.9, lower: 0.04, tasks: 48, reputation: faulted }), 0.9);
  assert.equal(renderAuditRate({ rate: 1, lower: 0.04, tasks: 0, reputation: clean }), 1);
});

test('per-job detection of a provider skimping on every frame it renders', () => {
  // Alone on a 24-frame job: 1 − (1 − 4/24)^24 ≥ 1 − e^−4.
  assert.ok(
    jobDetection(RENDER_JOB_AUDIT_SAMPLE / 24, 24) > 0.98,
    'jobDetection(RENDER_JOB_AUDIT_SAMPLE / 24, 24) > 0.98',
  );
  assert.ok(
    Math.abs(jobDetection(1 / 6, 12) - (1 - (5 / 6) ** 12)) < 1e-12,
    'Math.abs(jobDetection(1 / 6, 12) - (1 - (5 / 6) ** 12)) < 1e-12',
  );
  assert.equal(jobDetection(1, 1), 1);
  assert.equal(jobDetection(0.5, 3, 0), 0);
});
