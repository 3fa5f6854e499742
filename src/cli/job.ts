// Only light modules are imported up front: `plexus job status` must print within a fraction of a
// second, so the SDK (viem), the keystore, the pricing code and the progress bar load in the
// actions that need them.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { type ErrorCode, errorCodes } from '../errors/codes.ts';
import { isPlexusError, PlexusError } from '../errors/PlexusError.ts';
import { MAX_JOB_DEADLINE_SEC } from '../protocol/constants.ts';
import type { JobVerification } from '../protocol/schemas.ts';
import { plural } from './format.ts';
import {
  DEFAULT_CLIENT_KEYSTORE,
  DEFAULT_COORDINATOR,
  intOption,
  numberOption,
  plxAmountOption,
  verificationOption,
} from './options.ts';
import type { RenderSubmitOptions } from './renderJob.ts';
import type { TrainSubmitOptions } from './trainJob.ts';

async function clientAccount(keystore: string) {
  const { loadOrCreateKeystore } = await import('../keystore/loadOrCreateKeystore.ts');
  const { readPassword } = await import('../keystore/readPassword.ts');
  const password = await readPassword({ prompt: 'Client keystore password: ' });
  return loadOrCreateKeystore(keystore, password, { role: 'client' });
}

/**
 * Task progress on stderr: a live bar on a terminal, plain lines when piped or logged (CI), so
 * the output stays readable either way.
 */
async function progressReporter(total: number): Promise<{
  update(done: number | undefined, status: string): void;
  stop(): void;
}> {
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      {
        format: 'progress [{bar}] {value}/{total} tasks | {status}',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { status: 'queued' });
    return {
      update: (done, status) => (done === undefined ? bar.update({ status }) : bar.update(done, { status })),
      stop: () => bar.stop(),
    };
  }
  let last = '';
  let value = 0;
  return {
    update(done, status) {
      value = done ?? value;
      const line = `progress ${value}/${total} tasks | ${status}`;
      if (line !== last) process.stderr.write(`${line}\n`);
      last = line;
    },
    stop() {},
  };
}

type SubmitOptions = {
  model: string;
  input: string[];
  kind: string;
} & Omit<RenderSubmitOptions, 'blend'> &
  Omit<TrainSubmitOptions, 'model' | 'data'> & {
    data?: string;
    blend?: string;
    coordinator: string;
    keystore: string;
    deadlineSec: number;
    taskTimeoutSec: number;
    gpu: boolean;
    minMemoryMib: number;
    label?: string;
    verify?: JobVerification;
    maxPrice?: bigint;
    wait: boolean;
    json: boolean;
    dryRun: boolean;
    expectSec: number;
  };

/** The options `job submit` and `job quote` share (everything that changes the price). */
function jobOptions(cmd: Command): Command {
  return cmd
    .option(
      '--model <file|cid>',
      'ONNX model file, or the content id of one kept on the storage network (plexus store put) (onnx.infer); TF.js model.json (train.diloco)',
    )
    .option('--input <files...>', 'safetensors input files (tensor names = model input names)')
    .option(
      '--coordinator <url>',
      'coordinator base URL, or several replicas as URL1,URL2 (env PLEXUS_COORDINATOR)',
      DEFAULT_COORDINATOR,
    )
    .option('--task-timeout-sec <n>', 'seconds a provider may spend on one task', intOption(1, 3600), 120)
    .option('--gpu', 'require a GPU provider', false)
    .option(
      '--verify <policy>',
      'result verification: none, audit (network default), redundant or redundant:K',
      verificationOption,
    )
    .option(
      '--max-price <amount>',
      'most you pay per resource unit (cpu-core-second or gpu-second), base units or e.g. 0.01PLX (default 0.01PLX)',
      plxAmountOption,
    )
    .option(
      '--expect-sec <s>',
      'for the expected cost: seconds of one core (or GPU) each task takes',
      numberOption(0, 86_400),
      1,
    )
    .option('--json', 'print one JSON object (amounts in base units)', false);
}

/** onnx.infer needs a model and inputs (render jobs name a .blend instead: renderJob.ts). */
function needModel(o: SubmitOptions): void {
  if (!o.model || !o.input?.length)
    throw new PlexusError(
      'PLX_USAGE',
      "required options '--model <file>' and '--input <files...>' (or --kind blender.render --blend FILE); see plexus job submit --help",
    );
}

async function printQuote(o: SubmitOptions): Promise<void> {
  needModel(o);
  const { quoteJob, quoteLines } = await import('./jobQuote.ts');
  const q = await quoteJob(o);
  if (o.json) console.log(JSON.stringify(q, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  else for (const line of quoteLines(q)) console.log(line);
}

async function submit(o: SubmitOptions): Promise<void> {
  if (o.dryRun) return printQuote(o);
  if (o.kind === 'train.diloco') return submitTraining(o);
  const render = o.kind === 'blender.render';
  if (!render && o.kind !== 'onnx.infer')
    throw new PlexusError(
      'PLX_UNSUPPORTED_JOB_KIND',
      `--kind ${o.kind}: onnx.infer, blender.render or train.diloco`,
    );
  if (render && !o.blend)
    throw new PlexusError(
      'PLX_USAGE',
      '--kind blender.render needs --blend FILE; see plexus job submit --help',
    );
  if (!render) needModel(o);
  // Every file is checked before the key is opened or created and before any upload.
  const { checkFiles } = await import('./jobQuote.ts');
  const stored = render ? undefined : storedModelCid(o.model);
  await checkFiles(render ? [o.blend!] : [...(stored ? [] : [o.model]), ...o.input]);
  const { createClient } = await import('../client/createClient.ts');
  const client = createClient({ url: o.coordinator, account: await clientAccount(o.keystore) });
  const { jobId, tasks } = render
    ? await (await import('./renderJob.ts')).submitRenderJob(client, { ...o, blend: o.blend! })
    : await submitOnnx(client, o, stored);
  if (!o.json) console.log(`job ${jobId} (${plural(tasks, 'task')})`);
  await follow(o, client, jobId, tasks);
}

type Client = ReturnType<typeof import('../client/createClient.ts').createClient>;

/** `--kind train.diloco`: upload, submit, then one line per closed round (docs/training.md). */
async function submitTraining(o: SubmitOptions): Promise<void> {
  if (!o.model || !o.data)
    throw new PlexusError(
      'PLX_USAGE',
      "--kind train.diloco needs '--model <model.json>' and '--data <folder of .safetensors shards>'; see plexus job submit --help",
    );
  const t = await import('./trainJob.ts');
  t.aggregationOf(o);
  const { checkFiles } = await import('./jobQuote.ts');
  await checkFiles([o.model, ...(o.heldout ? [o.heldout] : []), ...(o.weights ? [o.weights] : [])]);
  await t.shardFiles(o.data);
  const { createClient } = await import('../client/createClient.ts');
  const client = createClient({ url: o.coordinator, account: await clientAccount(o.keystore) });
  const { jobId, tasks } = await t.submitTrainingJob(client, { ...o, model: o.model, data: o.data });
  if (!o.wait) {
    if (o.json) console.log(JSON.stringify({ jobId, tasks, rounds: o.rounds, status: 'queued' }));
    else console.log(`job ${jobId} (${o.rounds} rounds × ${o.workers} workers)`);
    return;
  }
  if (!o.json) console.log(`job ${jobId} (${o.rounds} rounds × ${o.workers} workers)`);
  const { job, training } = await client.followTraining(jobId, (r) =>
    console.log(o.json ? JSON.stringify({ type: 'round', jobId, ...r }) : t.roundLine(r)),
  );
  if (job.status !== 'completed') {
    const code = job.error?.code ?? 'PLX_TASK_FAILED';
    throw new PlexusError(
      (code in errorCodes ? code : 'PLX_TASK_FAILED') as ErrorCode,
      `job ${jobId} ${job.status}: ${job.error?.message ?? 'no reason given'}; details: plexus job status ${jobId}`,
      { details: { jobId, status: job.status } },
    );
  }
  const last = training.history.at(-1);
  if (o.json)
    console.log(
      JSON.stringify({
        type: 'done',
        jobId,
        status: job.status,
        rounds: training.roundsDone,
        final: training.final,
        loss: last?.loss ?? null,
        accuracy: last?.validation?.accuracy ?? null,
        cost: job.cost,
      }),
    );
  else {
    const { costLine } = await import('./jobCost.ts');
    console.log(`completed; cost: ${costLine(job)}`);
    console.log(`fetch the final weights and history with: plexus job results ${jobId} --out DIR`);
  }
}

/** `--model` naming a content id (64 hex digits, no such file here): a model on the storage network. */
function storedModelCid(model: string): string | undefined {
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(model) || existsSync(model)) return undefined;
  return model.replace(/^0x/, '').toLowerCase();
}

async function submitOnnx(client: Client, o: SubmitOptions, stored?: string) {
  // A stored model is not uploaded: the job's providers read its pieces from their holders.
  const model = stored ? { cid: await storedModel(o, stored) } : await client.uploadFile(o.model);
  const inputs: string[] = [];
  for (const f of o.input) inputs.push((await client.uploadFile(f)).cid);
  return client.submitJob(
    {
      kind: 'onnx.infer',
      model: model.cid,
      inputs,
      deadline: Math.floor(Date.now() / 1000) + o.deadlineSec,
      taskTimeoutSec: o.taskTimeoutSec,
      resources: { gpu: o.gpu, minMemoryMiB: o.minMemoryMib },
      ...(o.label ? { label: o.label } : {}),
      ...(o.verify ? { verification: o.verify } : {}),
    },
    o.maxPrice !== undefined ? { maxPricePerUnit: o.maxPrice } : {},
  );
}

/** Checks that the cid is an object this account keeps on the storage network, fully placed. */
async function storedModel(o: SubmitOptions, cid: string): Promise<string> {
  const { createStorageClient } = await import('../client/createStorageClient.ts');
  const store = createStorageClient({
    url: o.coordinator.split(',')[0]!,
    account: await clientAccount(o.keystore),
  });
  const s = await store.status(cid).catch((err: unknown) => {
    if (isPlexusError(err) && err.code === 'PLX_NOT_FOUND')
      throw new PlexusError(
        'PLX_NOT_FOUND',
        `--model ${cid}: no such file, and no object stored on the network under that id`,
      );
    throw err;
  });
  if (s.status !== 'stored')
    throw new PlexusError(
      'PLX_STORAGE_UNAVAILABLE',
      `--model ${cid} is ${s.status} on the storage network, not stored`,
    );
  return cid;
}

async function follow(o: SubmitOptions, client: Client, jobId: string, tasks: number): Promise<void> {
  if (!o.wait) {
    if (o.json) console.log(JSON.stringify({ jobId, tasks, status: 'queued' }));
    return;
  }
  const progress = await progressReporter(tasks);
  const final = await client.waitForJob(jobId, (e) => {
    if (e.type === 'task.completed') progress.update(Number(e.data.done), 'running');
    else if (e.type === 'task.retry') progress.update(undefined, `retrying a task (${String(e.data.code)})`);
  });
  progress.update(final.tasksDone ?? undefined, final.status);
  progress.stop();
  if (final.status !== 'completed') {
    const code = final.error?.code ?? 'PLX_TASK_FAILED';
    throw new PlexusError(
      (code in errorCodes ? code : 'PLX_TASK_FAILED') as ErrorCode,
      `job ${jobId} ${final.status}: ${final.error?.message ?? 'no reason given'}; details: plexus job status ${jobId}`,
      { details: { jobId, status: final.status } },
    );
  }
  if (o.json) console.log(JSON.stringify({ jobId, tasks, status: final.status, cost: final.cost }));
  else {
    const { costLine } = await import('./jobCost.ts');
    console.log(`completed; cost: ${costLine(final)}`);
    console.log(`fetch outputs with: plexus job results ${jobId} --out DIR`);
  }
}

/** `plexus job submit|quote|status|results`. */
export function jobCommand(): Command {
  const cmd = new Command('job').description('submit jobs, price them, follow them and fetch their results');
  jobOptions(
    cmd
      .command('submit')
      .description(
        'submit a job and follow its progress: an ONNX model and one task per safetensors input (onnx.infer), a .blend (blender.render), or a TF.js model trained in DiLoCo rounds on safetensors shards (train.diloco)',
      ),
  )
    .option(
      '--keystore <file>',
      'client key file (created if missing; env PLEXUS_CLIENT_KEYSTORE)',
      DEFAULT_CLIENT_KEYSTORE,
    )
    .option(
      '--deadline-sec <n>',
      'seconds from now until the job fails if unfinished (at most 7 days)',
      intOption(10, MAX_JOB_DEADLINE_SEC),
      3600,
    )
    .option('--min-memory-mib <n>', 'memory each task needs', intOption(0, 4_194_304), 0)
    .option('--label <text>', 'label shown in the explorer')
    .option('--no-wait', 'print the job id and return without following progress')
    .option('--dry-run', 'print the quote (plexus job quote) and submit nothing', false)
    .option(
      '--kind <kind>',
      'job kind: onnx.infer, blender.render (docs/render.md) or train.diloco (docs/training.md)',
      'onnx.infer',
    )
    .option('--data <dir>', 'train.diloco: folder of safetensors shards (x float32 [n,…], y labels [n])')
    .option('--heldout <file>', 'train.diloco: held-out shard, evaluated after every round')
    .option('--weights <file>', 'train.diloco: initial weights (safetensors, names <layer>/<index>)')
    .option('--workers <n>', 'train.diloco: workers (tasks) per round', intOption(1, 64), 4)
    .option('--inner-steps <n>', 'train.diloco: AdamW steps per task (H)', intOption(1, 10_000), 8)
    .option('--rounds <n>', 'train.diloco: outer rounds (R)', intOption(1, 1000), 5)
    .option('--batch <n>', 'train.diloco: batch size', intOption(1, 4096), 32)
    .option(
      '--rule <rule>',
      'train.diloco: aggregation: mean, median, trimmed-mean, centered-clip, multi-krum (default: multi-krum with 5 or more workers, else median)',
    )
    .option(
      '--byzantine <f>',
      'train.diloco: multi-krum: Byzantine workers tolerated, f (default ⌊0.25·workers⌋; workers − f − 2 ≥ 1)',
      intOption(0, 63),
    )
    .option('--inner-lr <x>', 'train.diloco: AdamW learning rate (default 0.001)', numberOption(0, 10))
    .option(
      '--outer-lr <x>',
      'train.diloco: outer Nesterov SGD learning rate (default 0.7)',
      numberOption(0, 10),
    )
    .option('--blend <file>', 'blender.render: the .blend file (resources packed)')
    .option('--frames <a-b>', 'blender.render: frame range, e.g. 1-48', '1-1')
    .option('--tiles <XxY>', 'blender.render: split each frame into tiles rendered apart, e.g. 2x2')
    .option('--resolution <WxH>', 'blender.render: output size in pixels', '1920x1080')
    .option('--samples <n>', 'blender.render: Cycles samples per pixel', intOption(1, 65_536), 64)
    .option(
      '--seed <n>',
      'blender.render: Cycles seed; train.diloco: job seed (data order, fresh weights)',
      intOption(0, 2 ** 31 - 1),
      0,
    )
    .option(
      '--format <png|exr>',
      'blender.render: output format: png (8-bit) or exr (half-float OpenEXR)',
      'png',
    )
    .option(
      '--blender-major <n>',
      'blender.render: only providers with this Blender major version',
      intOption(2, 99),
    )
    .action(submit);
  jobOptions(
    cmd
      .command('quote')
      .description(
        "price a job before submitting it: expected and worst-case cost in PLX at the coordinator's current prices",
      ),
  )
    .option(
      '--keystore <file>',
      'client key file (reads a --model <cid> kept on the storage network)',
      DEFAULT_CLIENT_KEYSTORE,
    )
    .action(printQuote);
  cmd
    .command('status')
    .description('show a job and its tasks')
    .argument('<jobId>')
    .option(
      '--coordinator <url>',
      'coordinator base URL, or several replicas as URL1,URL2 (env PLEXUS_COORDINATOR)',
      DEFAULT_COORDINATOR,
    )
    .option(
      '--keystore <file>',
      "the job's client key: its tasks and cost are shown to it only (without the file, the public part)",
      DEFAULT_CLIENT_KEYSTORE,
    )
    .option('--json', 'print the raw JSON', false)
    .action(async (jobId: string, o: { coordinator: string; keystore: string; json: boolean }) => {
      // A job's tasks are its client's (docs/verification.md): with the client's key the read is
      // signed through the SDK; without one, the fast unsigned read shows the public part.
      let job: Awaited<ReturnType<typeof import('./readJob.ts').readJob>>;
      let link: string | undefined;
      if (existsSync(o.keystore)) {
        const { createClient } = await import('../client/createClient.ts');
        const account = await clientAccount(o.keystore);
        const client = createClient({ url: o.coordinator, account });
        job = await client.getJob(jobId);
        // The explorer's job page shows the tasks with the client's signed read in its link.
        if (job.client !== null)
          link = `${client.url}/#/jobs/${jobId}?read=${encodeURIComponent(await client.jobReadAuth(jobId))}`;
      } else {
        const { readJob } = await import('./readJob.ts');
        job = await readJob(o.coordinator, jobId);
      }
      if (o.json) {
        console.log(JSON.stringify(job, null, 2));
        return;
      }
      const { jobStatusLines } = await import('./jobCost.ts');
      for (const line of jobStatusLines(job)) console.log(line);
      if (link) console.log(`  explorer ${link} (good for an hour)`);
    });
  cmd
    .command('results')
    .description('download the outputs of a finished job (one safetensors file per task)')
    .argument('<jobId>')
    .requiredOption('--out <dir>', 'folder to write outputs into')
    .option(
      '--coordinator <url>',
      'coordinator base URL, or several replicas as URL1,URL2 (env PLEXUS_COORDINATOR)',
      DEFAULT_COORDINATOR,
    )
    .option(
      '--keystore <file>',
      "the job's client key: outputs are private to it (without the file, public jobs only)",
      DEFAULT_CLIENT_KEYSTORE,
    )
    .option('--json', 'print one JSON object: the files written and the results', false)
    .option('--video <file>', 'render jobs: also encode the frames into an MP4 (needs ffmpeg)')
    .action(
      async (
        jobId: string,
        o: { out: string; coordinator: string; keystore: string; json: boolean; video?: string },
      ) => {
        // Downloads are signed by the job's client (docs/security.md); a public job needs no key.
        const { createClient } = await import('../client/createClient.ts');
        const account = existsSync(o.keystore) ? await clientAccount(o.keystore) : undefined;
        const client = createClient({ url: o.coordinator, ...(account ? { account } : {}) });
        const results = await client.jobResults(jobId);
        const { cost } = await client.getJob(jobId);
        // A revoked output (its provider was later proven faulty and two trusted checks disagreed
        // with it) is written as its replacement, which the job's client may read.
        const { currentOutputs, revokedOutputs } = await import('../client/outputs.ts');
        const outputs = currentOutputs(results.outputs);
        const revoked = revokedOutputs(results.outputs);
        await mkdir(o.out, { recursive: true });
        const files: string[] = [];
        const spec = (await client.getJob(jobId)).spec;
        if (spec.kind === 'train.diloco') {
          // Training jobs: the final weights and the per-round history (docs/training.md).
          const { writeTrainingResults } = await import('./trainJob.ts');
          const { files: written, training } = await writeTrainingResults(client, jobId, o.out);
          const last = training.history.at(-1);
          if (o.json)
            console.log(
              JSON.stringify({ jobId, status: training.status, out: o.out, files: written, training, cost }),
            );
          else {
            const { costLine } = await import('./jobCost.ts');
            console.log(
              `wrote ${written.map((f) => f.slice(o.out.length + 1)).join(' and ')} to ${o.out} (job ${training.status}, ${training.roundsDone}/${training.rounds} rounds${last?.validation ? `, held-out accuracy ${(100 * last.validation.accuracy).toFixed(2)}%` : ''})`,
            );
            console.log(`cost: ${costLine({ status: results.status, cost })}`);
          }
          return;
        }
        if (spec.kind === 'blender.render' && spec.render) {
          // Render jobs: numbered PNG (or EXR) frames, tiles stitched, and a video on request.
          const r = await import('./renderJob.ts');
          const render = spec.render as Parameters<typeof r.writeRenderFrames>[1];
          files.push(...(await r.writeRenderFrames(client, render, outputs, o.out)));
          if (o.video) {
            await r.framesToVideo(o.out, render.frameStart, o.video, 24, render.format ?? 'png');
            files.push(o.video);
          }
        }
        for (const r of spec.kind === 'blender.render' ? [] : outputs) {
          const file = join(o.out, `output-${String(r.index).padStart(5, '0')}.safetensors`);
          await writeFile(file, await client.downloadBlob(r.output));
          files.push(file);
        }
        await writeFile(join(o.out, 'results.json'), JSON.stringify(results, null, 2));
        if (o.json)
          console.log(JSON.stringify({ jobId, status: results.status, out: o.out, files, cost, revoked }));
        else {
          const { costLine, revokedLine } = await import('./jobCost.ts');
          console.log(
            `wrote ${plural(files.length, 'file')} and results.json to ${o.out} (job ${results.status})`,
          );
          for (const r of revoked)
            console.log(`task #${r.index}: ${revokedLine(r, r.revoked)}; wrote the replacement`);
          console.log(`cost: ${costLine({ status: results.status, cost })}`);
        }
      },
    );
  return cmd;
}
