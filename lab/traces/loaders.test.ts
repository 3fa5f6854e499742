import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlexusError } from '../../src/errors/PlexusError.ts';
import { missingDataReason, requireSharedData, skipWithoutData } from './dataDir.ts';
import { AZURE_LLM, loadAzureLlm } from './loadAzureLlm.ts';
import { loadOpenbNodes, loadOpenbTasks, OPENB_NODES, openbTasksPath } from './loadOpenb.ts';
import { loadPhilly, PHILLY } from './loadPhilly.ts';

test('a missing data file is named in the skip reason and in the error', () => {
  assert.match(missingDataReason('traces/nope.csv') ?? '', /trace data missing at .*traces\/nope\.csv/);
  assert.throws(
    () => requireSharedData('traces/nope.csv'),
    (e: unknown) => isPlexusError(e, 'PLX_NOT_FOUND') && /nope\.csv/.test(e.message),
  );
});

test('openb nodes and tasks load with numeric resources', {
  skip: skipWithoutData(missingDataReason(OPENB_NODES)),
}, () => {
  const nodes = loadOpenbNodes(5);
  assert.deepEqual(nodes[0], {
    id: 'openb-node-0000',
    cpuMilli: 64000,
    memoryMib: 262144,
    gpus: 2,
    model: 'P100',
  });
  const tasks = loadOpenbTasks('default', 50);
  assert.equal(tasks.length, 50);
  assert.deepEqual(tasks[1], {
    id: 'openb-pod-0001',
    cpuMilli: 6000,
    memoryMib: 12288,
    gpuCount: 1,
    gpuMilli: 460,
    gpuSpec: [],
  });
  assert.ok(
    loadOpenbTasks('multigpu50', 20).every((t) => Number.isFinite(t.gpuMilli)),
    "loadOpenbTasks('multigpu50', 20).every((t) => Number.isFinite(t.gpuMilli))",
  );
});

test('openb task lists without a gpu_spec column load too', {
  skip: skipWithoutData(missingDataReason(openbTasksPath('multigpu50'))),
}, () => {
  assert.deepEqual(loadOpenbTasks('multigpu50', 1)[0]?.gpuSpec, []);
});

test('Philly jobs come sorted by submit time with durations and GPU counts', {
  skip: skipWithoutData(missingDataReason(PHILLY)),
}, () => {
  const jobs = loadPhilly(300);
  assert.equal(jobs.length, 300);
  for (let i = 1; i < jobs.length; i++)
    assert.ok(jobs[i]!.submit >= jobs[i - 1]!.submit, 'jobs[i]!.submit >= jobs[i - 1]!.submit');
  assert.ok(
    jobs.every((j) => j.gpus >= 1 && j.duration >= 0),
    'jobs.every((j) => j.gpus >= 1 && j.duration >= 0)',
  );
  assert.ok(
    jobs[0]!.submit > Date.parse('2017-08-01T00:00:00Z') / 1000,
    "jobs[0]!.submit > Date.parse('2017-08-01T00:00:00Z') / 1000",
  );
});

test('Azure LLM requests keep sub-second arrival times', {
  skip: skipWithoutData(missingDataReason(AZURE_LLM)),
}, () => {
  const reqs = loadAzureLlm(100);
  assert.equal(reqs.length, 100);
  assert.equal(reqs[0]!.atMs, Date.parse('2023-11-16T18:15:46Z') + 680.59);
  assert.equal(reqs[0]!.contextTokens, 374);
});

test('missing data skips a test, except under CI=true where the test runs and fails', () => {
  const before = process.env.CI;
  try {
    delete process.env.CI;
    assert.match(String(skipWithoutData(undefined, missingDataReason('traces/nope.csv'))), /nope\.csv/);
    assert.equal(skipWithoutData(undefined), false);
    process.env.CI = 'true';
    assert.equal(skipWithoutData(missingDataReason('traces/nope.csv')), false);
  } finally {
    if (before === undefined) delete process.env.CI;
    else process.env.CI = before;
  }
});
