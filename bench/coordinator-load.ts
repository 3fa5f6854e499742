/**
 * `npm run bench -- coordinator-load`: what one coordinator process costs per task under a fleet.
 * One real coordinator (`plexus coordinator`, its own process, SQLite store in a temporary folder)
 * is driven by `--providers` (500) scripted provider sessions that run in ANOTHER process (this file
 * run with `--driver`), on loopback only. Each session authenticates like the agent (SessionAuth
 * signature), and for every assignment does what the agent does around inference, with none of it:
 * takes the task's tiny input from the assignment (`inputBytes`; from an older coordinator, reads
 * it with the lease's read token), and sends a signed TaskResult with its tiny
 * output inside (or, to a coordinator that does not offer that, uploads it first: a
 * BlobUpload-signed PUT); the coordinator checks every signature, the lease, the
 * output tensor file, and runs the network's default verification (adaptive audit) on it. The
 * output is a function of the input, so re-executions agree. The bench process is the client: it
 * uploads the model (PP-OCRv4 detection, from npm) and `--tasks` tiny inputs, then — inside the
 * measured window — submits `--jobs` jobs and waits for each to complete. A warm-up job of
 * `--warmup` tasks runs first, outside the window.
 *
 * Reported (`sqlite.*`): tasks/s over the window, and the coordinator's CPU (user + system, from
 * /proc/<pid>/stat) per task, with the driver's and the client's beside it and assignments per task
 * (audits add executions). `--store URL` is handed to the coordinator as `--store` (for stores other
 * than the default SQLite file; the field name then follows the URL's scheme). `--cpu-prof DIR`
 * writes the coordinator's V8 CPU profile there.
 *
 * `--replicas N` (with `--store postgres://…`): N coordinator replicas on that database, the
 * providers split over them (one driver process each), the client on the first; reported as
 * `replicasN.*`, CPU summed over the replicas.
 *
 * Options: --providers N --tasks N --jobs N --warmup N --store URL --replicas N --cpu-prof DIR
 * --verification none|audit|redundant (default: the network's, adaptive audit)
 * --coordinator-bin PATH (run another tree's `bin/plexus.mjs` as the coordinator: before/after)
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { WebSocket } from 'ws';
import { createClient } from '../src/client/createClient.ts';
import { ppocrDetectionModelPath } from '../src/devnet/runDemo.ts';
import { type NodeChild, spawnNode, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { capabilitiesHash } from '../src/protocol/capabilities.ts';
import { privateKeyToNativeAccount, signBlobAuth, signPlexusMessage } from '../src/protocol/eip712.ts';
import { cidOf, cidToBytes32 } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { createBlobHttp } from '../src/provider/agent/blobHttp.ts';

const THIS_FILE = fileURLToPath(import.meta.url);
const CHAIN_ID = 31337;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}
const num = (args: string[], name: string, dflt: number) => Number(arg(args, name) ?? dflt);

/** CPU milliseconds (user + system) a process has used so far, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** A tiny input tensor file for task `i` (the model's input name, a small image). */
function inputFor(i: number): Uint8Array {
  const data = new Float32Array(3 * 32 * 32);
  for (let k = 0; k < data.length; k++) data[k] = ((i * 2654435761 + k * 40503) % 1000) / 1000;
  return encodeSafetensors({ x: { dtype: 'float32', shape: [1, 3, 32, 32], data } });
}

/** The output a driver session returns for an input: a function of the input's content id. */
function outputFor(inputCid: string): Uint8Array {
  const h = createHash('sha256').update(inputCid).digest();
  const data = new Float32Array(8);
  for (let k = 0; k < 8; k++) data[k] = h[k]! / 255;
  return encodeSafetensors({ y: { dtype: 'float32', shape: [8], data } });
}

/** `plexus_assignments_total` from the coordinator's /metrics. */
async function assignmentsOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^plexus_assignments_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const nProviders = num(args, 'providers', 500);
  const nTasks = num(args, 'tasks', 3000);
  const nJobs = num(args, 'jobs', 3);
  const nWarmup = num(args, 'warmup', 500);
  const store = arg(args, 'store');
  const profDir = arg(args, 'cpu-prof');
  const otherBin = arg(args, 'coordinator-bin');
  const verification = arg(args, 'verification'); // absent: the network default (adaptive audit)
  const nReplicas = num(args, 'replicas', 1);
  if (nReplicas > 1 && !store?.startsWith('postgres'))
    throw new Error('--replicas needs --store postgres://… (replicas share one database)');
  const storeName =
    nReplicas > 1
      ? `replicas${nReplicas}`
      : store
        ? (/^([a-z][a-z0-9+.-]*):/i.exec(store)?.[1] ?? 'store').toLowerCase()
        : 'sqlite';
  const dataDir = await mkdtemp(join(tmpdir(), 'plexus-coordinator-load-'));
  const children: NodeChild[] = [];
  const quiet = { print: (l: string) => process.stderr.write(`${l}\n`), showLevel: 50 };
  try {
    console.log(
      `coordinator-load: ${nProviders} providers (one driver process), ${nTasks} tasks in ${nJobs} jobs (+${nWarmup} warm-up), store ${store ?? 'SQLite (default)'}`,
    );
    // PLEXUS_CPU_PROF_DIR is read by spawnNode for the child it starts: set for the coordinator only.
    if (profDir) process.env.PLEXUS_CPU_PROF_DIR = profDir;
    const coordinators: NodeChild[] = [];
    const urls: string[] = [];
    for (let r = 0; r < nReplicas; r++) {
      const coordinatorArgs = [
        'coordinator',
        '--port',
        '0',
        '--data-dir',
        nReplicas > 1 ? join(dataDir, `replica-${r + 1}`) : dataDir,
        '--log-level',
        'warn',
        '--rate-limit-per-minute',
        '100000000',
        ...(store ? ['--store', store] : []),
      ];
      // --coordinator-bin: another tree's bin/plexus.mjs (a before/after comparison on one machine).
      const coordinator = otherBin
        ? spawnNode(`coordinator-${r + 1}`, [otherBin, ...coordinatorArgs], quiet)
        : spawnPlexus(`coordinator-${r + 1}`, coordinatorArgs, quiet);
      children.push(coordinator);
      coordinators.push(coordinator);
      urls.push((await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000)).url);
    }
    delete process.env.PLEXUS_CPU_PROF_DIR;
    const url = urls[0]!;
    const drivers: NodeChild[] = [];
    for (const [r, u] of urls.entries()) {
      const share = Math.floor(nProviders / nReplicas) + (r < nProviders % nReplicas ? 1 : 0);
      const driver = spawnNode(
        `providers-${r + 1}`,
        ['--import', 'tsx', THIS_FILE, '--driver', u, String(share)],
        quiet,
      );
      children.push(driver);
      drivers.push(driver);
    }
    // All waited on at once: waitFor sees only lines printed after it is called.
    await Promise.all(drivers.map((driver) => driver.waitFor('PLEXUS_PROVIDERS_READY', 600_000)));
    console.log(`${nProviders} provider sessions connected to ${nReplicas} coordinator(s)`);

    const client = createClient({ url, account: privateKeyToNativeAccount(generatePrivateKey()) });
    const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    const upload = async (from: number, count: number): Promise<string[]> => {
      const cids: string[] = [];
      for (let i = from; i < from + count; i += 50) {
        const batch = Array.from({ length: Math.min(50, from + count - i) }, (_, k) => inputFor(i + k));
        cids.push(...(await Promise.all(batch.map(async (b) => (await client.uploadBlob(b)).cid))));
      }
      return cids;
    };
    const runJobs = async (inputs: string[], jobs: number): Promise<void> => {
      const per = Math.ceil(inputs.length / jobs);
      const ids: string[] = [];
      for (let j = 0; j < jobs; j++) {
        const { jobId } = await client.submitJob({
          kind: 'onnx.infer',
          model: model.cid,
          inputs: inputs.slice(j * per, (j + 1) * per),
          deadline: Math.floor(Date.now() / 1000) + 3600,
          label: `coordinator-load ${j + 1}/${jobs}`,
          ...(verification ? { verification: { policy: verification as 'none' } } : {}),
        });
        ids.push(jobId);
      }
      // Followed on the job's event stream (not polled: a poll of a big job costs the coordinator
      // CPU that would count per task), again after a refused or timed-out request: on a saturated
      // machine the coordinator can be too slow to accept a connection for a while.
      for (const id of ids) {
        for (let tries = 0; ; tries++) {
          const job = await client.waitForJob(id).catch((err: unknown) => {
            if (tries >= 30) throw err;
            return undefined;
          });
          if (job) {
            if (job.status !== 'completed') throw new Error(`job ${id} ended ${job.status}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    };
    if (nWarmup > 0) {
      await runJobs(await upload(1_000_000, nWarmup), 1);
      console.log(`warm-up: ${nWarmup} tasks done`);
    }
    const inputs = await upload(0, nTasks);
    console.log(`uploaded ${nTasks} inputs; measuring`);

    const cpuOf = (list: NodeChild[]) => list.reduce((sum, c) => sum + cpuMsOf(c.proc.pid!), 0);
    const assignmentsOfAll = async () => {
      let sum = 0;
      for (const u of urls) sum += await assignmentsOf(u);
      return sum;
    };
    const a0 = await assignmentsOfAll();
    const c0 = cpuOf(coordinators);
    const d0 = cpuOf(drivers);
    const me0 = process.cpuUsage();
    const t0 = performance.now();
    const mono0 = process.hrtime.bigint() / 1000n;
    await runJobs(inputs, nJobs);
    const seconds = (performance.now() - t0) / 1000;
    // The window on the profile's clock (V8 profiles stamp samples in monotonic microseconds; so
    // does anything else that times the coordinator from inside, such as a statement trace).
    console.log(`cpu-prof window (monotonic µs): ${mono0}-${process.hrtime.bigint() / 1000n}`);
    const coordinatorCpuMs = cpuOf(coordinators) - c0;
    const driverCpuMs = cpuOf(drivers) - d0;
    const me = process.cpuUsage(me0);
    const assignments = (await assignmentsOfAll()) - a0;

    const figures = {
      tasks: nTasks,
      jobs: nJobs,
      providers: nProviders,
      seconds: Number(seconds.toFixed(2)),
      tasksPerSec: Number((nTasks / seconds).toFixed(1)),
      coordinatorCpuMsPerTask: Number((coordinatorCpuMs / nTasks).toFixed(2)),
      /** Share of one core the coordinator used over the window. */
      coordinatorCores: Number((coordinatorCpuMs / 1000 / seconds).toFixed(2)),
      driverCpuMsPerTask: Number((driverCpuMs / nTasks).toFixed(2)),
      clientCpuMsPerTask: Number(((me.user + me.system) / 1000 / nTasks).toFixed(2)),
      assignmentsPerTask: Number((assignments / nTasks).toFixed(3)),
    };
    console.log(`${storeName}:`, figures);
    return { [storeName]: figures };
  } finally {
    for (const c of children.reverse()) await c.stop(30_000);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The driver process: `nProviders` scripted sessions on one event loop. Prints
 * `PLEXUS_PROVIDERS_READY` once every session is welcomed, then serves assignments until killed.
 */
async function driver(url: string, nProviders: number): Promise<void> {
  const claim = {
    hardware: {
      cpuModel: 'bench cpu',
      cpuCores: 2,
      memoryBytes: 8 * 1024 ** 3,
      gpus: [] as { name: string; memoryMiB: number }[],
      executionProviders: ['cpu'],
    },
    slots: 1,
    region: 'eu-west',
    agentVersion: 'coordinator-load',
  };
  const claimHash = capabilitiesHash(claim);
  let served = 0;
  let failed = 0;

  async function session(): Promise<void> {
    const key = generatePrivateKey();
    const account = privateKeyToNativeAccount(key);
    const address = privateKeyToAccount(key).address;
    const blobs = createBlobHttp(url, {
      auth: (cid, size) => signBlobAuth(account, CHAIN_ID, size === undefined ? { cid } : { cid, size }),
    });
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/providers/ws`);
    let welcomed: () => void = () => {};
    /** Outputs up to this size go inside the result (the coordinator's welcome says; -1: none). */
    let inlineOutputBytes = -1;
    const welcome = new Promise<void>((r) => {
      welcomed = r;
    });
    const work = async (m: Record<string, unknown>): Promise<void> => {
      const input = m.input as string;
      if (typeof m.readToken === 'string') blobs.grant([m.input as string], m.readToken, Number(m.timeoutMs));
      // As the agent does: a tiny input sent inside the assignment is not downloaded.
      if (typeof m.inputBytes === 'string')
        blobs.preload(input, Buffer.from(m.inputBytes, 'base64'), Number(m.timeoutMs));
      const res = await blobs.get(input);
      for await (const _ of res) {
        // the agent reads the whole input; so does this
      }
      const out = outputFor(input);
      const outputCid = cidOf(out);
      // As the agent does: a tiny output rides inside the result where the coordinator offers it.
      const inline = out.byteLength <= inlineOutputBytes;
      if (!inline) await blobs.put(outputCid, out);
      const issuedAt = Math.floor(Date.now() / 1000);
      const usage = { wallMs: 1, cpuMs: 1, peakRssBytes: 1000 };
      const signature = await signPlexusMessage(account, CHAIN_ID, 'TaskResult', {
        provider: address,
        assignmentId: m.assignmentId as Hex,
        taskId: m.taskId as Hex,
        outputCid: cidToBytes32(outputCid),
        wallMs: BigInt(usage.wallMs),
        cpuMs: BigInt(usage.cpuMs),
        peakRssBytes: BigInt(usage.peakRssBytes),
        issuedAt: BigInt(issuedAt),
      });
      ws.send(
        JSON.stringify({
          type: 'result',
          assignmentId: m.assignmentId,
          taskId: m.taskId,
          outputCid,
          usage,
          issuedAt,
          signature,
          ...(inline ? { output: Buffer.from(out).toString('base64') } : {}),
        }),
      );
    };
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as Record<string, unknown>;
      if (m.type === 'hello') {
        const issuedAt = Math.floor(Date.now() / 1000);
        void signPlexusMessage(account, CHAIN_ID, 'SessionAuth', {
          provider: address,
          challenge: m.challenge as Hex,
          capabilitiesHash: claimHash,
          issuedAt: BigInt(issuedAt),
        }).then((signature) =>
          ws.send(JSON.stringify({ type: 'auth', provider: address, issuedAt, signature, ...claim })),
        );
      } else if (m.type === 'welcome') {
        inlineOutputBytes = typeof m.inlineOutputBytes === 'number' ? m.inlineOutputBytes : -1;
        welcomed();
      } else if (m.type === 'assign') {
        work(m).then(
          () => served++,
          (err: unknown) => {
            failed++;
            process.stderr.write(`${JSON.stringify({ level: 50, msg: `task failed: ${String(err)}` })}\n`);
          },
        );
      } else if (m.type === 'error') {
        process.stderr.write(
          `${JSON.stringify({ level: 50, msg: `coordinator error ${m.code}: ${m.message}` })}\n`,
        );
      }
    });
    await welcome;
  }

  for (let i = 0; i < nProviders; i += 25) {
    await Promise.all(Array.from({ length: Math.min(25, nProviders - i) }, () => session()));
  }
  console.log(`PLEXUS_PROVIDERS_READY ${JSON.stringify({ connected: nProviders })}`);
  const stop = () => {
    console.log(`PLEXUS_PROVIDERS_DONE ${JSON.stringify({ served, failed })}`);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (
  process.argv[1] &&
  import.meta.url === pathToFileURL(process.argv[1]).href &&
  process.argv[2] === '--driver'
) {
  await driver(process.argv[3]!, Number(process.argv[4]));
}
