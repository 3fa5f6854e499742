import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRng } from '../../src/intelligence/rng.ts';
import { bestFitScore, createFgdPolicy, withBestFitTieBreak } from './baselines.ts';
import { ClusterState } from './clusterState.ts';
import { nodeFragmentation, typicalTasks } from './fragmentation.ts';
import { Placer } from './placer.ts';
import { cpuPerGpu, createPlexusPolicy, modelPressure } from './plexusPolicy.ts';
import type { GpuNode, PlacementTask } from './types.ts';

const t = (cpuMilli: number, gpuCount: number, gpuMilli: number, gpuSpec: string[] = []): PlacementTask => ({
  id: 'x',
  cpuMilli,
  memoryMib: 0,
  gpuCount,
  gpuMilli,
  gpuSpec,
});
const node = (id: string, cpuMilli: number, gpus: number, model: string): GpuNode => ({
  id,
  cpuMilli,
  memoryMib: 1e6,
  gpus,
  model,
});

test('the stranded-GPU ratio counts only the tasks a GPU model may run', () => {
  // T4 is wanted by a CPU-heavy pinned task, G2 only by the light unconstrained one.
  const typ = typicalTasks([t(16_000, 1, 1000, ['T4']), t(2000, 1, 1000)]);
  assert.equal(cpuPerGpu(typ), 9); // workload-wide: (16000 + 2000) / 2000
  assert.equal(cpuPerGpu(typ, 'T4'), 9); // both tasks may run on T4
  assert.equal(cpuPerGpu(typ, 'G2'), 2); // only the light task may run on G2
  assert.equal(cpuPerGpu(typicalTasks([t(4000, 1, 1000, ['T4'])]), 'G2'), 0);
});

test('with GPU-model pins, CPU-only work goes where it strands no GPU of the tasks that may use it', () => {
  // Two nodes, same shape. G2's GPUs are wanted only by light tasks (2 cores per GPU); T4's by a
  // heavy pinned task (16 cores per GPU). 12 of T4's 32 cores taken leave one heavy task room
  // (FGD's ΔF sees no change) but strand 0.75 T4 GPU; from G2 they strand nothing. A
  // workload-wide ratio (9 cores per GPU) sees no stranding on either node, and the tie goes to
  // node 0: this test fails with the old, model-blind ratio.
  const c = new ClusterState([node('t4', 32_000, 2, 'T4'), node('g2', 32_000, 2, 'G2')]);
  const typ = typicalTasks([t(16_000, 1, 1000, ['T4']), t(2000, 1, 1000, ['G2']), t(12_000, 0, 0)]);
  const policy = createPlexusPolicy(typ, { pressureWeight: 0 });
  assert.equal(new Placer(c, policy, createRng(1)).decide(t(12_000, 0, 0))?.node, 1);
});

test('model pressure is the pinned demand per GPU of a model relative to the whole workload', () => {
  const nodes = [node('a', 64_000, 4, 'T4'), node('b', 64_000, 4, 'G2')];
  const typ = typicalTasks([t(1000, 1, 1000, ['T4']), t(1000, 1, 1000)]);
  const p = modelPressure(typ, nodes);
  // Pinned demand 0.5 GPU per task on 4 T4 GPUs, against 1 GPU per task on 8 GPUs.
  assert.equal(p.get('T4'), 0.5 / 4 / (1 / 8));
  assert.equal(p.get('G2'), undefined);
  // An unpinned task then avoids the model the pinned tasks need.
  const c = new ClusterState(nodes);
  assert.equal(new Placer(c, createPlexusPolicy(typ), createRng(1)).decide(t(1000, 1, 1000))?.node, 1);
});

test('FGD with the BestFit tie-break takes the tighter of two nodes FGD scores alike', () => {
  const c = new ClusterState([node('roomy', 96_000, 8, 'G'), node('tight', 8000, 1, 'G')]);
  const typ = typicalTasks([t(1000, 1, 1000)]);
  const task = t(1000, 1, 1000);
  const fgd = createFgdPolicy(typ);
  const out = { gpu: -1 };
  assert.equal(fgd.score(task, c, 0, out), fgd.score(task, c, 1, out), 'FGD alone ties');
  const policy = withBestFitTieBreak(fgd);
  assert.equal(policy.name, 'FGD+BF');
  assert.ok(
    bestFitScore(task, c, 1) > bestFitScore(task, c, 0),
    'bestFitScore(task, c, 1) > bestFitScore(task, c, 0)',
  );
  for (let seed = 1; seed <= 5; seed++) {
    assert.equal(new Placer(c, policy, createRng(seed)).decide(task)?.node, 1);
  }
  // The FGD score still dominates: one FGD point outweighs any BestFit difference.
  assert.equal(policy.score(task, c, 1, out) - policy.score(task, c, 0, out) < 1000, true);
});

test('per-model merged fragmentation equals the definition summed task by task', () => {
  const rng = createRng(9);
  const models = ['T4', 'G2', 'V100'];
  const tasks = Array.from({ length: 200 }, () => {
    const spec = rng.next() < 0.4 ? [models[rng.int(3)]!] : [];
    const gpus = rng.next() < 0.2 ? 0 : 1 + (rng.next() < 0.2 ? rng.int(3) : 0);
    return t(1000 * (1 + rng.int(8)), gpus, gpus === 1 ? [250, 500, 1000][rng.int(3)]! : 1000, spec);
  });
  const typ = typicalTasks(tasks);
  const c = new ClusterState(models.map((m) => node(m, 12_000, 4, m)).concat(node('x', 8000, 2, 'T4')));
  for (let n = 0; n < 4; n++) c.apply(t(1000 * n, 1, 300 + 100 * n), { node: n, gpus: [n % 2] });
  for (let n = 0; n < c.nodes.length; n++) {
    let naive = 0;
    const s = c.gpuStart[n]!;
    const free = Array.from({ length: c.gpuCount[n]! }, (_, d) => c.gpuFree[s + d]!);
    const total = free.reduce((a, b) => a + b, 0);
    for (let k = 0; k < typ.weight.length; k++) {
      const spec = typ.spec[k]!;
      const blocked =
        typ.gpuMilli[k] === 0 ||
        (spec.length > 0 && !spec.includes(c.nodes[n]!.model)) ||
        c.cpuFree[n]! < typ.cpu[k]!;
      const room = free.filter((f) => f >= typ.gpuMilli[k]!).length;
      const unusable = free.filter((f) => f < typ.gpuMilli[k]!).reduce((a, b) => a + b, 0);
      naive += typ.weight[k]! * (blocked || room < typ.gpuCount[k]! ? total : unusable);
    }
    assert.ok(Math.abs(nodeFragmentation(c, n, typ) - naive) < 1e-6, `node ${n}`);
  }
});
