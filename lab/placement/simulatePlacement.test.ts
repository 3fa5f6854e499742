import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missingDataReason, skipWithoutData } from '../traces/dataDir.ts';
import { loadOpenbNodes, loadOpenbTasks, OPENB_NODES, openbTasksPath } from '../traces/loadOpenb.ts';
import { createBestFitPolicy, createFgdPolicy } from './baselines.ts';
import { typicalTasks } from './fragmentation.ts';
import { createPlexusPolicy } from './plexusPolicy.ts';
import { simulatePlacement } from './simulatePlacement.ts';
import { resampleWorkload } from './workload.ts';

const skip = skipWithoutData(missingDataReason(OPENB_NODES), missingDataReason(openbTasksPath('default')));

test('resampling reaches the requested share and depends only on the seed', { skip }, () => {
  const pool = loadOpenbTasks('default', 400);
  const a = resampleWorkload(pool, 100_000, 1.3, 42);
  const requested = a.reduce((s, x) => s + x.gpuCount * x.gpuMilli, 0);
  assert.ok(
    requested >= 130_000 && requested < 130_000 + 8000,
    'requested >= 130_000 && requested < 130_000 + 8000',
  );
  assert.deepEqual(resampleWorkload(pool, 100_000, 1.3, 42), a);
  assert.notDeepEqual(resampleWorkload(pool, 100_000, 1.3, 43), a);
});

test('on a 120-node slice of openb the policies allocate no more than requested, and Plexus ≥ FGD ≥ BestFit − 2pt', {
  skip,
}, () => {
  const nodes = loadOpenbNodes().filter((_, i) => i % 10 === 0);
  const pool = loadOpenbTasks('default');
  const capacity = nodes.reduce((s, n) => s + n.gpus, 0) * 1000;
  const tasks = resampleWorkload(pool, capacity, 1.3, 42);
  const typ = typicalTasks(pool);
  const at = (policy: Parameters<typeof simulatePlacement>[2]) =>
    simulatePlacement(nodes, tasks, policy, 42, [0.5, 1.0, 1.3]).curve.map((p) => p.allocated);
  const bf = at(createBestFitPolicy());
  const fgd = at(createFgdPolicy(typ));
  const ours = at(createPlexusPolicy(typ));
  for (const curve of [bf, fgd, ours]) {
    assert.equal(curve.length, 3);
    // A checkpoint is read after the task that crosses it, which may ask for up to 8 GPUs more.
    assert.ok(
      curve[0]! <= 0.5 + 8000 / capacity && curve[2]! <= 1,
      'curve[0]! <= 0.5 + 8000 / capacity && curve[2]! <= 1',
    );
    assert.ok(
      curve[0]! <= curve[1]! && curve[1]! <= curve[2]!,
      'curve[0]! <= curve[1]! && curve[1]! <= curve[2]!',
    );
  }
  assert.ok(ours[2]! >= fgd[2]! - 0.005, `Plexus ${ours[2]} vs FGD ${fgd[2]}`);
  assert.ok(fgd[2]! >= bf[2]! - 0.02, `FGD ${fgd[2]} vs BestFit ${bf[2]}`);
});
