import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { createClient } from '../client/createClient.ts';
import { loadOrCreateKeystore } from '../keystore/loadOrCreateKeystore.ts';
import { readPassword } from '../keystore/readPassword.ts';
import type { JobVerification } from '../protocol/schemas.ts';
import {
  DEFAULT_CLIENT_KEYSTORE,
  DEFAULT_COORDINATOR,
  intOption,
  plxAmountOption,
  verificationOption,
} from './options.ts';

async function clientAccount(keystore: string) {
  const password = await readPassword({ prompt: 'Client keystore password: ' });
  return loadOrCreateKeystore(keystore, password);
}

/**
 * Task progress on stderr: a live bar on a terminal, plain lines when piped or logged (CI), so
 * the output stays readable either way.
 */
function progressReporter(total: number): {
  update(done: number | undefined, status: string): void;
  stop(): void;
} {
  if (process.stderr.isTTY) {
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

/** `plexus job submit|status|results`. */
export function jobCommand(): Command {
  const cmd = new Command('job').description('submit jobs and fetch their results');
  cmd
    .command('submit')
    .description(
      'upload an ONNX model and safetensors inputs, submit one task per input, and follow progress',
    )
    .requiredOption('--model <file>', 'ONNX model file')
    .requiredOption('--input <files...>', 'safetensors input files (tensor names = model input names)')
    .option('--coordinator <url>', 'coordinator base URL', DEFAULT_COORDINATOR)
    .option('--keystore <file>', 'client key file (created if missing)', DEFAULT_CLIENT_KEYSTORE)
    .option(
      '--deadline-sec <n>',
      'seconds from now until the job fails if unfinished',
      intOption(10, 30 * 86400),
      3600,
    )
    .option('--task-timeout-sec <n>', 'seconds a provider may spend on one task', intOption(1, 3600), 120)
    .option('--gpu', 'require a GPU provider', false)
    .option('--min-memory-mib <n>', 'memory each task needs', intOption(0, 4_194_304), 0)
    .option('--label <text>', 'label shown in the explorer')
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
    .option('--no-wait', 'print the job id and return without following progress')
    .action(
      async (o: {
        model: string;
        input: string[];
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
      }) => {
        const client = createClient({ url: o.coordinator, account: await clientAccount(o.keystore) });
        const model = await client.uploadFile(o.model);
        const inputs: string[] = [];
        for (const f of o.input) inputs.push((await client.uploadFile(f)).cid);
        const { jobId, tasks } = await client.submitJob(
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
        console.log(`job ${jobId} (${tasks} tasks)`);
        if (!o.wait) return;
        const progress = progressReporter(tasks);
        const final = await client.waitForJob(jobId, (e) => {
          if (e.type === 'task.completed') progress.update(Number(e.data.done), 'running');
          else if (e.type === 'task.retry')
            progress.update(undefined, `retrying a task (${String(e.data.code)})`);
        });
        progress.update(final.tasksDone, final.status);
        progress.stop();
        if (final.status !== 'completed') {
          console.error(`job failed: ${final.error?.code} ${final.error?.message}`);
          process.exit(1);
        }
        console.log(`completed; fetch outputs with: plexus job results ${jobId} --out DIR`);
      },
    );
  cmd
    .command('status')
    .description('show a job and its tasks')
    .argument('<jobId>')
    .option('--coordinator <url>', 'coordinator base URL', DEFAULT_COORDINATOR)
    .option('--json', 'print the raw JSON', false)
    .action(async (jobId: string, o: { coordinator: string; json: boolean }) => {
      const job = await createClient({ url: o.coordinator }).getJob(jobId);
      if (o.json) {
        console.log(JSON.stringify(job, null, 2));
        return;
      }
      console.log(
        `job ${job.id}\n  status   ${job.status}\n  tasks    ${job.tasksDone}/${job.tasksTotal} done`,
      );
      if (job.error) console.log(`  error    ${job.error.code}: ${job.error.message}`);
      for (const t of job.tasks ?? []) {
        console.log(
          `  #${t.index} ${t.status.padEnd(9)} attempts=${t.attempts} ${t.provider ?? ''} ${t.lastError ? `last error: ${t.lastError}` : ''}`,
        );
      }
    });
  cmd
    .command('results')
    .description('download the outputs of a finished job (one safetensors file per task)')
    .argument('<jobId>')
    .requiredOption('--out <dir>', 'folder to write outputs into')
    .option('--coordinator <url>', 'coordinator base URL', DEFAULT_COORDINATOR)
    .option(
      '--keystore <file>',
      "the job's client key: outputs are private to it (without the file, public jobs only)",
      DEFAULT_CLIENT_KEYSTORE,
    )
    .action(async (jobId: string, o: { out: string; coordinator: string; keystore: string }) => {
      // Downloads are signed by the job's client (docs/security.md); a public job needs no key.
      const account = existsSync(o.keystore) ? await clientAccount(o.keystore) : undefined;
      const client = createClient({ url: o.coordinator, ...(account ? { account } : {}) });
      const results = await client.jobResults(jobId);
      await mkdir(o.out, { recursive: true });
      for (const r of results.outputs) {
        await writeFile(
          join(o.out, `output-${String(r.index).padStart(5, '0')}.safetensors`),
          await client.downloadBlob(r.output),
        );
      }
      await writeFile(join(o.out, 'results.json'), JSON.stringify(results, null, 2));
      console.log(
        `wrote ${results.outputs.length} outputs and results.json to ${o.out} (job ${results.status})`,
      );
    });
  return cmd;
}
