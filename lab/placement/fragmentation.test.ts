import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterState } from './clusterState.ts';
import { fragmentationAfter, nodeFragmentation, typicalTasks } from './fragmentation.ts';
import type { PlacementTask } from './types.ts';

const t = (cpuMilli: number, gpuCount: number, gpuMilli: number, gpuSpec: string[] = []): PlacementTask => ({
  id: 'x',
  cpuMilli,
  memoryMib: 0,
  gpuCount,
  gpuMilli,
  gpuSpec,
});

test('typical tasks are the shapes of the list with their shares, most popular first', () => {
  const typ = typicalTasks([t(1000, 1, 500), t(1000, 1, 500), t(2000, 1, 1000), t(4000, 0, 0)]);
  assert.deepEqual([...typ.weight], [0.5, 0.25, 0.25]);
  assert.equal(typ.gpuMilli[0], 500);
  const byGpu = typicalTasks([t(1000, 1, 500), t(2000, 2, 1000)], { weighting: 'gpu' });
  assert.deepEqual([...byGpu.weight], [0.8, 0.2]);
});

test('fragmentation counts the free GPU each typical task could not use, weighted by its share', () => {
  const c = new ClusterState([{ id: 'n', cpuMilli: 4000, memoryMib: 1, gpus: 2, model: 'T4' }]);
  // Half a GPU left on device 0, device 1 idle.
  c.apply(t(1000, 1, 500), { node: 0, gpus: [0] });
  const typ = typicalTasks([t(1000, 1, 800), t(1000, 1, 200), t(1000, 0, 0), t(1000, 1, 500, ['A10'])]);
  // 800m: device 0's 500 is unusable; 200m: nothing; CPU-only: all 1500; A10-only: all 1500.
  const expected = 0.25 * 500 + 0.25 * 0 + 0.25 * 1500 + 0.25 * 1500;
  assert.equal(nodeFragmentation(c, 0, typ), expected);
  // Taking the idle device for a 600m task leaves 500 + 400: the 800m shape can use neither.
  const after = fragmentationAfter(c, 0, t(1000, 1, 600), 1, typ);
  assert.equal(after, 0.25 * 900 + 0 + 0.25 * 900 + 0.25 * 900);
  assert.equal(c.gpuFree[1], 1000, 'the probe restores the cluster');
});

test('a node without CPU for a typical task counts all its free GPU as fragmented for it', () => {
  const c = new ClusterState([{ id: 'n', cpuMilli: 1000, memoryMib: 1, gpus: 1, model: 'T4' }]);
  const typ = typicalTasks([t(2000, 1, 500)]);
  assert.equal(nodeFragmentation(c, 0, typ), 1000);
});
