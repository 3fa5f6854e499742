import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/intelligence/rng.ts';
import {
  createBestFitPolicy,
  createFgdPolicy,
  createRandomPolicy,
  withKubeDefaultScores,
} from './baselines.ts';
import { ClusterState } from './clusterState.ts';
import { typicalTasks } from './fragmentation.ts';
import { Placer } from './placer.ts';
import { cpuDemandOverSupply, cpuOnlyPerGpu, createPlexusPolicy, strandCpuPerGpu } from './plexusPolicy.ts';
import type { PlacementPolicy } from './policy.ts';
import type { GpuNode, PlacementTask } from './types.ts';

const t = (cpuMilli: number, gpuCount: number, gpuMilli: number): PlacementTask => ({
  id: 'x',
  cpuMilli,
  memoryMib: 0,
  gpuCount,
  gpuMilli,
  gpuSpec: [],
});
const node = (id: string, cpuMilli: number, gpus: number): GpuNode => ({
  id,
  cpuMilli,
  memoryMib: 1e6,
  gpus,
  model: 'G',
});

test('BestFit goes to the node left with the least free CPU and GPU', () => {
  const c = new ClusterState([node('big', 96_000, 8), node('small', 8000, 1)]);
  const d = new Placer(c, createBestFitPolicy(), createRng(1)).decide(t(4000, 1, 1000));
  assert.equal(d?.node, 1);
});

test('FGD puts a 300m task on the device whose leftover the workload can still use', () => {
  const c = new ClusterState([node('a', 32_000, 2)]);
  c.apply(t(1000, 1, 700), { node: 0, gpus: [0] }); // device 0: 300 left, device 1: idle
  const typ = typicalTasks([t(1000, 1, 300), t(1000, 1, 1000)]);
  const d = new Placer(c, createFgdPolicy(typ), createRng(1)).decide(t(1000, 1, 300));
  assert.deepEqual(d, { node: 0, gpus: [0] });
});

test('Random is reproducible from its seed and spreads over nodes', () => {
  const nodes = Array.from({ length: 20 }, (_, i) => node(`n${i}`, 64_000, 4));
  const pick = (seed: number) => {
    const c = new ClusterState(nodes);
    const placer = new Placer(c, createRandomPolicy(createRng(seed)), createRng(seed));
    return Array.from({ length: 10 }, () => {
      const p = placer.decide(t(1000, 1, 1000));
      if (p) c.apply(t(1000, 1, 1000), p);
      return p?.node;
    });
  };
  assert.deepEqual(pick(7), pick(7));
  assert.ok(new Set(pick(7)).size > 1, 'new Set(pick(7)).size > 1');
});

test('Plexus keeps CPU-only work off GPU-dense nodes whose GPUs would lose their CPU', () => {
  // Same GPUs; node 1 has CPU to spare, node 0 only what its GPUs need (4 cores per GPU).
  const c = new ClusterState([node('dense', 16_000, 4), node('cpu-rich', 104_000, 4)]);
  const typ = typicalTasks([t(4000, 1, 1000), t(12_000, 0, 0)]);
  assert.equal(new Placer(c, createPlexusPolicy(typ), createRng(1)).decide(t(12_000, 0, 0))?.node, 1);
});

test('Plexus with a price picks the cheaper of two identical nodes', () => {
  const c = new ClusterState([node('dear', 64_000, 4), node('cheap', 64_000, 4)]);
  const typ = typicalTasks([t(4000, 1, 1000)]);
  const policy = createPlexusPolicy(typ, { gpuPrice: [3, 1], costWeight: 1 });
  assert.equal(new Placer(c, policy, createRng(1)).decide(t(4000, 1, 1000))?.node, 1);
  assert.equal(new Placer(c, createPlexusPolicy(typ), createRng(1)).decide(t(4000, 1, 1000))?.node, 0);
});

test('the placer cache returns exactly what rescoring every node would', () => {
  const nodes = [node('a', 32_000, 2), node('b', 96_000, 8), node('c', 8000, 1), node('d', 96_000, 8)];
  const tasks = Array.from({ length: 60 }, (_, i) =>
    t(1000 + (i % 5) * 3000, i % 7 === 0 ? 2 : 1, [1000, 500, 250, 800][i % 4]!),
  );
  const typ = typicalTasks(tasks);
  const run = (policy: PlacementPolicy) => {
    const c = new ClusterState(nodes);
    const placer = new Placer(c, policy, createRng(3));
    return tasks.map((task) => {
      const p = placer.decide(task.gpuCount === 2 ? { ...task, gpuMilli: 1000 } : task);
      if (p) c.apply(task.gpuCount === 2 ? { ...task, gpuMilli: 1000 } : task, p);
      return p;
    });
  };
  const cached = createPlexusPolicy(typ);
  assert.deepEqual(run(cached), run({ ...cached, cacheable: false }));
});

test('memoised scores distinguish nodes that differ only in free memory', () => {
  const nodes: GpuNode[] = [
    { id: 'a', cpuMilli: 32_000, memoryMib: 65_536, gpus: 2, model: 'G' },
    { id: 'b', cpuMilli: 32_000, memoryMib: 65_536, gpus: 2, model: 'G' },
  ];
  const c = new ClusterState(nodes);
  // Node 0 loses most of its memory to a CPU-only task; CPU and GPUs stay equal on both nodes.
  c.apply({ ...t(0, 0, 0), memoryMib: 60_000 }, { node: 0, gpus: [] });
  // Deterministic ties, so a stale shared score would send the task to node 0.
  const policy = {
    ...withKubeDefaultScores(createFgdPolicy(typicalTasks([t(1000, 1, 1000)]))),
    randomTies: false,
  };
  const task = { ...t(1000, 1, 1000), memoryMib: 1000 };
  const cached = new Placer(c, policy, createRng(1)).decide(task);
  const uncached = new Placer(c, { ...policy, cacheable: false }, createRng(1)).decide(task);
  assert.deepEqual(cached, uncached);
  assert.equal(cached?.node, 1, 'LeastAllocated prefers the node with free memory');
});

test('tasks that differ only in their GPU-model pin share scores, and pins are still obeyed', () => {
  // Two models; the same resource shapes arrive unpinned, pinned to T4 and pinned to V100, so the
  // shared cache is read across pins. Decisions must equal rescoring every node, and no pinned
  // task may land on a model outside its pin.
  const nodes = [
    { ...node('a', 32_000, 2), model: 'T4' },
    { ...node('b', 96_000, 8), model: 'V100' },
    { ...node('c', 64_000, 4), model: 'T4' },
    { ...node('d', 96_000, 8), model: 'V100' },
  ];
  const pins = [[], ['T4'], ['V100']];
  const tasks = Array.from({ length: 90 }, (_, i) => ({
    ...t(1000 + (i % 3) * 2000, 1, [1000, 500, 250][i % 3]!),
    gpuSpec: pins[Math.floor(i / 3) % 3]!,
  }));
  const run = (policy: PlacementPolicy) => {
    const c = new ClusterState(nodes);
    const placer = new Placer(c, policy, createRng(5));
    return tasks.map((task) => {
      const p = placer.decide(task);
      if (p) {
        if (task.gpuSpec.length > 0)
          assert.ok(
            task.gpuSpec.includes(nodes[p.node]!.model),
            'task.gpuSpec.includes(nodes[p.node]!.model)',
          );
        c.apply(task, p);
      }
      return p;
    });
  };
  for (const policy of [createPlexusPolicy(typicalTasks(tasks)), createFgdPolicy(typicalTasks(tasks))]) {
    const placed = run(policy);
    assert.deepEqual(placed, run({ ...policy, cacheable: false }));
    assert.ok(placed.filter(Boolean).length > 30, 'placed.filter(Boolean).length > 30');
  }
});

test('the stranded-GPU ratio counts CPU-only work only when the workload asks more CPU than the fleet has', () => {
  // Fleet: 40 cores for 8 GPUs (5 cores per GPU). GPU tasks ask 4 cores per GPU.
  const fleet = [node('a', 16_000, 4), node('b', 24_000, 4)];
  const light = typicalTasks([t(4000, 1, 1000), t(1000, 0, 0)]); // κ = (4 + 1) / 5 = 1
  const heavy = typicalTasks([t(4000, 1, 1000), t(4000, 0, 0)]); // κ = (4 + 4) / 5 = 1.6
  const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-9;
  assert.ok(close(cpuOnlyPerGpu(light), 1), 'close(cpuOnlyPerGpu(light), 1)');
  assert.ok(close(cpuDemandOverSupply(light, fleet), 1), 'close(cpuDemandOverSupply(light, fleet), 1)');
  assert.ok(close(cpuDemandOverSupply(heavy, fleet), 1.6), 'close(cpuDemandOverSupply(heavy, fleet), 1.6)');
  assert.ok(close(strandCpuPerGpu(heavy, fleet, 'G'), 8), "close(strandCpuPerGpu(heavy, fleet, 'G'), 8)");
  assert.ok(
    close(strandCpuPerGpu(heavy, fleet, 'G', Number.POSITIVE_INFINITY), 4),
    "close(strandCpuPerGpu(heavy, fleet, 'G', Number.POSITIVE_INFINITY), 4)",
  );
  assert.ok(
    close(strandCpuPerGpu(light, fleet, 'G', 1.01), 4),
    "close(strandCpuPerGpu(light, fleet, 'G', 1.01), 4)",
  );
  // A model no GPU task may use strands nothing, scarce or not.
  const pinned = typicalTasks([{ ...t(4000, 1, 1000), gpuSpec: ['G'] }, t(4000, 0, 0)]);
  assert.equal(strandCpuPerGpu(pinned, fleet, 'T4'), 0);
});
