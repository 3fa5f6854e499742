/**
 * CLI start-up and install size (issue 22): `npm run bench -- cli [--json] [--runs N]`.
 *
 * - `versionSeconds`: median wall time of `plexus --version` over N fresh processes (default 10).
 * - `jobStatusSeconds`: median wall time of `plexus job status ID` against a coordinator this
 *   bench starts (a separate `plexus coordinator` process on a free port); the job id is unknown,
 *   so the command prints its one `error PLX_NOT_FOUND` line after a full HTTP round trip: the
 *   time to first output of a status read. `jobStatusDeadSeconds`: the same against a URL where
 *   nothing listens.
 * - `…FromSource`: the same with PLEXUS_FROM_SOURCE=1 (TypeScript transpiled by tsx at every start),
 *   to compare with the compiled dist/ on the same machine in the same run.
 * - `installMiB`: disk use of the dependency tree, measured from `npm ls --parseable` (the
 *   installed tree; no network): `provider` and `coordinator` are `--omit=dev` (one package.json
 *   serves both roles today, so they are equal), `full` includes dev dependencies.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Wall seconds from spawn to exit of `plexus ARGS`. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [PLEXUS_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    });
    p.on('error', reject);
    p.on('exit', () => resolve((performance.now() - t0) / 1000));
  });
}

async function medianOf(runs: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  await timeOnce(args, env); // warm the file cache; not counted
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await timeOnce(args, env));
  return Number(median(xs).toFixed(3));
}

async function freeUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return `http://127.0.0.1:${port}`;
}

/** MiB on disk of the packages `npm ls --parseable` lists (nested ones counted once). */
async function treeMiB(omitDev: boolean): Promise<number> {
  const { stdout } = await exec('npm', ['ls', '--all', '--parseable', ...(omitDev ? ['--omit=dev'] : [])], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })); // npm ls exits 1 on extraneous
  const dirs = [...new Set(stdout.split('\n').filter((l) => l.includes('node_modules')))].sort();
  const top = dirs.filter((d, i) => !dirs.slice(0, i).some((p) => d.startsWith(`${p}/`)));
  let kib = 0;
  for (let i = 0; i < top.length; i += 200) {
    const { stdout: du } = await exec('du', ['-skL', ...top.slice(i, i + 200)], {
      maxBuffer: 16 * 1024 * 1024,
    });
    for (const line of du.split('\n')) kib += Number(line.split('\t')[0] || 0);
  }
  return Math.round(kib / 1024);
}

function opt(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const runs = opt(args, '--runs', 10);
  const compiled = existsSync(join(root, 'dist', 'BUILT'));
  if (!compiled) console.log('no dist/: run npm run build first; the compiled figures are from source');
  const dir = await mkdtemp(join(tmpdir(), 'plexus-bench-cli-'));
  const coordinator = spawnPlexus('coordinator', ['coordinator', '--port', '0', '--data-dir', dir], {
    env: { PLEXUS_LOG_LEVEL: 'warn' },
  });
  try {
    const { url } = await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000);
    const dead = await freeUrl();
    const status = (u: string) => ['job', 'status', `0x${'00'.repeat(32)}`, '--coordinator', u];
    const src = { PLEXUS_FROM_SOURCE: '1' };
    const figures = {
      runs,
      compiled,
      versionSeconds: await medianOf(runs, ['--version']),
      jobStatusSeconds: await medianOf(runs, status(url)),
      jobStatusDeadSeconds: await medianOf(runs, status(dead)),
      versionSecondsFromSource: await medianOf(runs, ['--version'], src),
      jobStatusSecondsFromSource: await medianOf(runs, status(url), src),
      installMiB: {
        provider: await treeMiB(true),
        coordinator: await treeMiB(true),
        full: await treeMiB(false),
      },
    };
    console.log('CLI start-up (median wall seconds of fresh processes)');
    console.log(
      `  plexus --version          ${figures.versionSeconds} s (from source: ${figures.versionSecondsFromSource} s)`,
    );
    console.log(
      `  plexus job status (live)  ${figures.jobStatusSeconds} s (from source: ${figures.jobStatusSecondsFromSource} s)`,
    );
    console.log(`  plexus job status (dead)  ${figures.jobStatusDeadSeconds} s`);
    console.log(
      `install MiB: provider ${figures.installMiB.provider}, coordinator ${figures.installMiB.coordinator}, full ${figures.installMiB.full}`,
    );
    return figures;
  } finally {
    await coordinator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
