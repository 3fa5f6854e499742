/**
 * `npm run bench -- e2e-overhead`: the same batch of real PP-OCRv4 detection inferences run
 * (a) directly with onnxruntime-node in one process and (b) through a devnet with one provider
 * (coordinator and provider as separate processes on loopback). Reports the throughput ratio
 * (b)/(a) and the per-task dispatch overhead: for each task, the time from the later of its lease
 * and the previous task's completion to its own completion (as committed by the coordinator),
 * minus the inference time the provider measured; and the CPU each process spent per task (Linux).
 * The measured provider has a verified record first: a newcomer is leased one task at a time
 * ("trusted with less", docs/verification.md), so nothing would overlap and each task would pay the
 * whole round trip. The devnet starts two providers, both run a `redundant(2)` warm-up job (every
 * task's outputs compared, each agreeing verdict a verified-valid result for both), then the second
 * one drains and leaves and the measured job runs on the first alone, which may now hold its
 * prefetch leases (slots + prefetch = 4 by default).
 * Options: --tasks N (default 200: the job's submission is inside the timed window, and a short job
 * measures it more than the tasks) --width W --height H (default 640×96) --batch B (default 1: images
 * per task, stacked along the model's batch dimension into one input file, so a task is one run on
 * [B, 3, H, W]; the direct loop runs the very same stacked tensors, so both sides still do the same
 * inferences, and the per-task costs are shared by B images). With
 * `PLEXUS_LOG_LEVEL=debug PLEXUS_SHOW_LEVEL=20` the devnet's logs (the provider's "task timings")
 * go to stderr.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createClient } from '../src/client/createClient.ts';
import { concurrencyLimit, type ReputationState } from '../src/coordinator/verification/reputation.ts';
import { textImageTensor } from '../src/devnet/makeDemoInputs.ts';
import { ppocrDetectionModelPath } from '../src/devnet/runDemo.ts';
import { DEVNET_PASSWORD, startDevnet } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { concatBatch, encodeSafetensors } from '../src/protocol/safetensors.ts';
import { toOrtTensor } from '../src/runtimes/onnx/ortTensor.ts';
import { tempDir } from '../test/helpers/fixtures.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}
/**
 * CPU milliseconds (user + system) a process has used so far (`self`) and its descendants
 * (`children`), from /proc (Linux); undefined elsewhere. Wall-clock figures on a shared machine
 * swing with its load; CPU per task is what each part really costs, whatever else runs.
 */
function cpuMsOf(pid: number): { self: number; children: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime (fields 14 and 15 of the stat line, 12 and 13 after the name), in 1/100 s.
    const self = ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    let children = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`))
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) {
        const sub = cpuMsOf(Number(c));
        children += sub === undefined ? 0 : sub.self + sub.children;
      }
    return { self, children };
  } catch {
    return undefined;
  }
}

/** How long each process's CPU is sampled while no task runs (before the measured job). */
const IDLE_SAMPLE_MS = 5000;

/** Tasks of the `redundant(2)` warm-up: enough verified results for four leases (reputation.ts). */
const WARM_UP_TASKS = 6;

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out waiting for the devnet');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU milliseconds every core of the machine has been busy (not idle or waiting on I/O), from /proc/stat. */
function machineBusyMs(): number | undefined {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / 100;
  } catch {
    return undefined;
  }
}

const perMb = (ms: number | undefined, mb: number) =>
  ms === undefined ? undefined : Number((ms / mb).toFixed(2));

const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const n = arg(args, 'tasks', 200);
  const width = arg(args, 'width', 640);
  const height = arg(args, 'height', 96);
  const batch = arg(args, 'batch', 1);
  if (!Number.isInteger(batch) || batch < 1) throw new Error('--batch must be an integer ≥ 1');
  const inputs = Array.from({ length: n }, (_, i) =>
    concatBatch(
      Array.from({ length: batch }, (_, j) =>
        textImageTensor(`Plexus benchmark line ${i * batch + j}`, i * batch + j, width, height),
      ),
    ),
  );
  const modelPath = ppocrDetectionModelPath();
  console.log(
    `e2e-overhead: ${n} PP-OCRv4 detection tasks of ${batch} ${width}×${height} image${batch === 1 ? '' : 's'} each`,
  );

  // (a) directly, one process, one session, one run at a time (warm-up run excluded), in two
  // configurations: onnxruntime's defaults (one spinning thread per physical core) and the
  // one-slot provider worker's (the same threads, no spin-waiting); the faster is the baseline, so the
  // devnet is not flattered by a baseline hurt by its own settings. Each runs before and after (b)
  // and the mean is used, so a change in machine load during the run shows up as a spread between
  // the two rather than as a bias.
  const configs = {
    ortDefault: {},
    // What createOnnxRuntime gives the devnet's one-slot provider: default threads, no spinning.
    providerWorker: { extra: { session: { intra_op: { allow_spinning: '0' } } } },
  } satisfies Record<string, ort.InferenceSession.SessionOptions>;
  type Config = keyof typeof configs;
  const directSecs: Record<Config, number[]> = { ortDefault: [], providerWorker: [] };
  const directCpuMs: Record<Config, number[]> = { ortDefault: [], providerWorker: [] };
  const direct = async (when: string): Promise<void> => {
    for (const config of Object.keys(configs) as Config[]) {
      const session = await ort.InferenceSession.create(
        new Uint8Array(await readFile(modelPath)),
        configs[config],
      );
      await session.run({ x: toOrtTensor(inputs[0]!) });
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (const x of inputs) await session.run({ x: toOrtTensor(x) });
      const sec = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      directSecs[config].push(sec);
      directCpuMs[config].push((c.user + c.system) / 1000 / n);
      await session.release();
      console.log(`(a) direct onnxruntime-node (${config}), ${when}: ${(n / sec).toFixed(2)} runs/s`);
    }
  };
  await direct('before');

  // (b) through a devnet with one provider (one slot), after a warm-up job that gives it a record.
  const { dir, cleanup } = await tempDir('plexus-bench-');
  // PLEXUS_LOG_LEVEL=debug PLEXUS_SHOW_LEVEL=20 shows the provider's per-task timings on stderr.
  const verbose = process.env.PLEXUS_LOG_LEVEL !== undefined;
  const net = await startDevnet({
    dataDir: dir,
    providers: 2,
    port: 0,
    print: verbose ? (l) => process.stderr.write(`${l}\n`) : () => {},
    logLevel: process.env.PLEXUS_LOG_LEVEL ?? 'warn',
  });
  try {
    // The devnet's own client key: it has an escrow deposit, so its jobs are accepted.
    const account = await loadOrCreateKeystore(join(dir, 'client', 'key.json'), DEVNET_PASSWORD, {
      logger: createLogger('bench', { level: 'silent' }),
    });
    const client = createClient({ url: net.coordinatorUrl, account });
    const model = (await client.uploadFile(modelPath)).cid;
    const cids: string[] = [];
    let inputBytes = 0;
    for (const x of inputs) {
      const file = encodeSafetensors({ x });
      inputBytes += file.byteLength;
      cids.push((await client.uploadBlob(file)).cid);
    }
    const deadline = Math.floor(Date.now() / 1000) + 3600;
    // Warm-up: both providers run every task and agree, which earns each a verified record (and
    // loads the model into their workers). Then provider-2 drains and leaves.
    const warm = await client.submitJob({
      kind: 'onnx.infer',
      model,
      inputs: Array.from({ length: WARM_UP_TASKS }, (_, i) => cids[i % n]!),
      deadline,
      verification: { policy: 'redundant', k: 2 },
    });
    const warmed = await client.waitForJob(warm.jobId);
    if (warmed.status !== 'completed')
      throw new Error(`warm-up job ${warmed.status}: ${warmed.error?.message}`);
    await net.children.find((c) => c.name === 'provider-2')!.stop();
    const alone = await waitFor(async () => {
      const { providers } = await client.listProviders();
      return providers.filter((p) => p.connected).length === 1 ? providers : undefined;
    });
    const measured = alone.find((p) => p.connected) as { reputation: ReputationState } | undefined;
    if (!measured) throw new Error('no provider left online');
    const leaseLimit = concurrencyLimit(measured.reputation);
    console.log(
      `provider-1: ${measured.reputation.consecutiveValid} verified results in a row, may hold ${leaseLimit} leases`,
    );

    const coordinatorPid = net.children.find((c) => c.name === 'coordinator')!.proc.pid!;
    const providerPid = net.children.find((c) => c.name === 'provider-1')!.proc.pid!;
    // Each process's CPU while no task runs (timers, polls, the validators' reads), over 5 s: work
    // driven by time, not tasks, which a slower run spreads over its tasks as more CPU per task.
    const idle0 = {
      coordinator: cpuMsOf(coordinatorPid),
      provider: cpuMsOf(providerPid),
      at: performance.now(),
    };
    await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
    const idleSec = (performance.now() - idle0.at) / 1000;
    const idleRate = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : Number(((b - a) / idleSec).toFixed(1));
    const idleCpuMsPerSec = {
      coordinator: idleRate(idle0.coordinator?.self, cpuMsOf(coordinatorPid)?.self),
      providerAgent: idleRate(idle0.provider?.self, cpuMsOf(providerPid)?.self),
    };
    const cpu0 = {
      coordinator: cpuMsOf(coordinatorPid),
      provider: cpuMsOf(providerPid),
      machine: machineBusyMs(),
      client: process.cpuUsage(),
    };
    const runMs: number[] = [];
    const assignedAt = new Map<string, number>();
    const overheads: number[] = [];
    let lastCompletedAt = 0;
    const b0 = performance.now();
    const { jobId } = await client.submitJob({ kind: 'onnx.infer', model, inputs: cids, deadline });
    const final = await client.waitForJob(jobId, (e) => {
      const taskId = String(e.data.taskId);
      const at = Number(e.data.at);
      if (e.type === 'task.assigned') assignedAt.set(taskId, at);
      if (e.type === 'task.completed') {
        const wallMs = (e.data.usage as { wallMs: number }).wallMs;
        runMs.push(wallMs);
        // With one provider the tasks finish one after another: the gap between this completion and
        // the later of (its lease, the previous completion) is its run plus everything else.
        const startedAt = Math.max(assignedAt.get(taskId) ?? at, lastCompletedAt);
        overheads.push(at - startedAt - wallMs);
        lastCompletedAt = at;
      }
    });
    const devnetSec = (performance.now() - b0) / 1000;
    const cpu1 = {
      coordinator: cpuMsOf(coordinatorPid),
      provider: cpuMsOf(providerPid),
      machine: machineBusyMs(),
      client: process.cpuUsage(cpu0.client),
    };
    const perTask = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? undefined : Number(((b - a) / n).toFixed(1));
    if (final.status !== 'completed')
      throw new Error(`benchmark job ${final.status}: ${final.error?.message}`);
    // Bytes each process moved per task in (b): the input (the coordinator sends it, the agent
    // receives, hashes and caches it) and the output (the agent reads, hashes and uploads it, the
    // coordinator receives, hashes, stores and checks it). Every output has the same shape: one's
    // size stands for all (read after the timed window).
    const { outputs } = await client.jobResults(jobId);
    const outputBytes = (await client.downloadBlob(outputs[0]!.output)).byteLength;
    const mbPerTask = (inputBytes / n + outputBytes) / 1e6;
    await direct('after');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const baseline: Config =
      mean(directSecs.providerWorker) < mean(directSecs.ortDefault) ? 'providerWorker' : 'ortDefault';
    const directSec = mean(directSecs[baseline]);
    const ratio = directSec / devnetSec;
    const figures = {
      tasks: n,
      image: `${width}x${height}`,
      imagesPerTask: batch,
      warmUpTasks: WARM_UP_TASKS,
      providerLeaseLimit: leaseLimit,
      directPerSec: Number((n / directSec).toFixed(2)),
      directBaseline: baseline,
      directPerSecBeforeAfter: Object.fromEntries(
        Object.entries(directSecs).map(([k, secs]) => [k, secs.map((sec) => Number((n / sec).toFixed(2)))]),
      ),
      devnetPerSec: Number((n / devnetSec).toFixed(2)),
      devnetImagesPerSec: Number(((n * batch) / devnetSec).toFixed(2)),
      throughputRatio: Number(ratio.toFixed(3)),
      // Share of the machine's cores busy during (b) (every process): near 1, the devnet is limited by
      // CPU, and only less CPU per task (or more cores) makes it faster; well below 1, by waiting.
      machineBusyShare:
        cpu0.machine === undefined || cpu1.machine === undefined
          ? undefined
          : Number(((cpu1.machine - cpu0.machine) / (devnetSec * 1000 * availableParallelism())).toFixed(2)),
      cores: availableParallelism(),
      dispatchOverheadMs: { p50: q(overheads, 0.5), p99: q(overheads, 0.99), samples: overheads.length },
      // Inference time as the provider's worker measured it, against the direct loop's mean.
      runMsInWorker: { p50: q(runMs, 0.5), mean: Number((runMs.reduce((a, b) => a + b, 0) / n).toFixed(1)) },
      directMsPerInference: Number(((directSec * 1000) / n).toFixed(1)),
      // CPU per task: the direct loop's, and each devnet process's (the coordinator's own, not anvil's).
      cpuMsPerTask: {
        direct: Number(mean(directCpuMs[baseline]).toFixed(1)),
        providerAgent: perTask(cpu0.provider?.self, cpu1.provider?.self),
        providerWorker: perTask(cpu0.provider?.children, cpu1.provider?.children),
        coordinator: perTask(cpu0.coordinator?.self, cpu1.coordinator?.self),
        // The bench process: the client that uploads, submits and follows the job's events.
        client: Number(((cpu1.client.user + cpu1.client.system) / 1000 / n).toFixed(1)),
        // Every process on the machine (the bench's client, anvil and anything else running too).
        machine: perTask(cpu0.machine, cpu1.machine),
      },
      // CPU ms per second while idle (before the job): time-driven work, in cpuMsPerTask as
      // idle × devnet seconds / tasks; compare runs of different speed with it in mind.
      idleCpuMsPerSec,
      // Bytes moved per task through each of the agent and the coordinator (input + output).
      mbMovedPerTask: Number(mbPerTask.toFixed(2)),
      // CPU per MB moved: each process's CPU per task over mbMovedPerTask (all its CPU, signatures,
      // SQL and messages included, not the byte paths alone; the aim of issue 18 is ≤ 0.5).
      cpuMsPerMb: {
        providerAgent: perMb(perTask(cpu0.provider?.self, cpu1.provider?.self), mbPerTask),
        coordinator: perMb(perTask(cpu0.coordinator?.self, cpu1.coordinator?.self), mbPerTask),
      },
    };
    console.log(
      `(b) through the devnet (1 provider):  ${figures.devnetPerSec} runs/s (${figures.devnetImagesPerSec} images/s), machine ${figures.machineBusyShare ?? '?'} busy`,
    );
    console.log(`throughput ratio (b)/(a): ${figures.throughputRatio}`);
    console.log(
      `per-task dispatch overhead: p50 ${figures.dispatchOverheadMs.p50} ms, p99 ${figures.dispatchOverheadMs.p99} ms`,
    );
    console.log(
      `inference: ${figures.directMsPerInference} ms direct (${baseline}), ${figures.runMsInWorker.p50} ms p50 in the provider's worker`,
    );
    console.log(
      `CPU per MB moved (${figures.mbMovedPerTask} MB per task): provider agent ${figures.cpuMsPerMb.providerAgent} ms, coordinator ${figures.cpuMsPerMb.coordinator} ms`,
    );
    console.log(
      `CPU per task: direct ${figures.cpuMsPerTask.direct} ms; devnet: provider agent ${figures.cpuMsPerTask.providerAgent} ms, its onnxruntime worker ${figures.cpuMsPerTask.providerWorker} ms, coordinator ${figures.cpuMsPerTask.coordinator} ms, client ${figures.cpuMsPerTask.client} ms; whole machine ${figures.cpuMsPerTask.machine} ms`,
    );
    return figures;
  } finally {
    await net.stop();
    await cleanup();
  }
}
