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
 * - `installMiB`: disk use of what package-lock.json installs, measured on the installed tree (no
 *   network): `provider` and `coordinator` are `--omit=dev` (one package.json serves both roles,
 *   so they are equal), `full` includes dev dependencies.
 * - `loadedMiB`: what each role actually loads: the packages its code imports at run time
 *   (test/helpers/roleClosure.ts, from `plexus provider` / `plexus coordinator`) with their
 *   dependencies, on disk: the size a role-specific install would have.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { roleClosure } from '../test/helpers/roleClosure.ts';

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

/**
 * MiB on disk of what package-lock.json installs (every `node_modules/…` entry; with `omitDev`, not
 * those marked `dev`), measured on the installed tree: entries not on disk (other platforms'
 * optional binaries) are skipped and counted in `absent`. Nested packages are inside their parent's
 * folder, so only top-level folders are summed.
 */
async function lockMiB(omitDev: boolean): Promise<{ mib: number; packages: number; absent: number }> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; devOptional?: boolean }>;
  };
  const paths = Object.entries(lock.packages)
    .filter(([k, v]) => k.startsWith('node_modules/') && !(omitDev && (v.dev || v.devOptional)))
    .map(([k]) => join(root, k));
  const present = paths.filter((p) => existsSync(p));
  return { mib: await duMiB(present), packages: paths.length, absent: paths.length - present.length };
}

/** MiB on disk of `dirs` (a folder inside another listed one is counted with it, once). */
async function duMiB(all: string[]): Promise<number> {
  const dirs = [...new Set(all)].sort();
  const top = dirs.filter((d, i) => !dirs.slice(0, i).some((p) => d.startsWith(`${p}/`)));
  let kib = 0;
  for (let i = 0; i < top.length; i += 200) {
    const { stdout } = await exec('du', ['-skL', ...top.slice(i, i + 200)], { maxBuffer: 16 * 1024 * 1024 });
    for (const line of stdout.split('\n')) kib += Number(line.split('\t')[0] || 0);
  }
  return Math.round(kib / 1024);
}

/** The folder of `name` as Node resolves it from `fromDir` (nested node_modules first). */
function packageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = join(dir, '..')) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === '/' || dir === root) return undefined;
  }
}

/** MiB on disk of `packages` and everything they depend on (dependencies and optional ones). */
async function loadedMiB(packages: Iterable<string>): Promise<number> {
  const seen = new Set<string>();
  const queue = [...packages].map((p) => packageDir(p, root)).filter((d): d is string => d !== undefined);
  while (queue.length > 0) {
    const dir = queue.pop()!;
    if (seen.has(dir)) continue;
    seen.add(dir);
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      const d = packageDir(dep, dir);
      if (d && !seen.has(d)) queue.push(d);
    }
  }
  return duMiB([...seen]);
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
    const prod = await lockMiB(true);
    const full = await lockMiB(false);
    const figures = {
      runs,
      compiled,
      versionSeconds: await medianOf(runs, ['--version']),
      jobStatusSeconds: await medianOf(runs, status(url)),
      jobStatusDeadSeconds: await medianOf(runs, status(dead)),
      versionSecondsFromSource: await medianOf(runs, ['--version'], src),
      jobStatusSecondsFromSource: await medianOf(runs, status(url), src),
      // One package.json serves both roles: `npm install --omit=dev` installs the same for each.
      installMiB: { provider: prod.mib, coordinator: prod.mib, full: full.mib },
      installPackages: { omitDev: prod.packages, full: full.packages, notOnThisPlatform: full.absent },
      loadedMiB: {
        provider: await loadedMiB(roleClosure(root, ['src/cli/provider.ts']).packages.keys()),
        coordinator: await loadedMiB(roleClosure(root, ['src/cli/coordinator.ts']).packages.keys()),
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
    console.log(
      `loaded MiB (packages each role imports, with their dependencies): provider ${figures.loadedMiB.provider}, coordinator ${figures.loadedMiB.coordinator}`,
    );
    return figures;
  } finally {
    await coordinator.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
