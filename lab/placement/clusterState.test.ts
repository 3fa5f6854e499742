import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClusterState } from './clusterState.ts';
import type { GpuNode, PlacementTask } from './types.ts';

const nodes: GpuNode[] = [
  { id: 'a', cpuMilli: 8000, memoryMib: 16384, gpus: 2, model: 'T4' },
  { id: 'b', cpuMilli: 64000, memoryMib: 262144, gpus: 8, model: 'V100M32' },
];
const task = (p: Partial<PlacementTask>): PlacementTask => ({
  id: 't',
  cpuMilli: 1000,
  memoryMib: 1024,
  gpuCount: 1,
  gpuMilli: 500,
  gpuSpec: [],
  ...p,
});

test('a shared task takes milli-GPU from one device and bumps the node version', () => {
  const c = new ClusterState(nodes);
  c.apply(task({}), { node: 0, gpus: [1] });
  assert.deepEqual([...c.gpuFree.slice(0, 2)], [1000, 500]);
  assert.equal(c.cpuFree[0], 7000);
  assert.equal(c.version[0], 1);
  assert.equal(c.allocatedGpuMilli, 500);
  assert.equal(c.totalGpuMilli, 10_000);
});

test('multi-GPU tasks need whole idle devices, so a half-used device does not count', () => {
  const c = new ClusterState(nodes);
  const twoWhole = task({ gpuCount: 2, gpuMilli: 1000 });
  assert.ok(c.fits(twoWhole, 0), 'c.fits(twoWhole, 0)');
  c.apply(task({ gpuMilli: 100 }), { node: 0, gpus: [0] });
  assert.equal(c.fits(twoWhole, 0), false);
  assert.deepEqual(c.firstFittingGpus(twoWhole, 1), [0, 1]);
});

test('the GPU-model constraint, CPU and memory all gate a node', () => {
  const c = new ClusterState(nodes);
  assert.equal(c.fits(task({ gpuSpec: ['V100M32', 'A10'] }), 0), false);
  assert.equal(c.fits(task({ gpuSpec: ['V100M32', 'A10'] }), 1), true);
  assert.equal(c.fits(task({ cpuMilli: 9000 }), 0), false);
  assert.equal(c.fits(task({ memoryMib: 20000 }), 0), false);
  assert.throws(() => c.apply(task({ gpuSpec: ['A10'] }), { node: 0, gpus: [0] }), /does not fit/);
});
