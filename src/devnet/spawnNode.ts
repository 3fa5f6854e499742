import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The `plexus` entry script, so child processes run exactly what a user runs. */
export const PLEXUS_BIN = fileURLToPath(new URL('../../bin/plexus.mjs', import.meta.url));

export type NodeChild = {
  name: string;
  proc: ChildProcess;
  /** Resolves with the first stdout line that starts with `marker`, parsed as JSON after it. */
  waitFor<T>(marker: string, timeoutMs: number): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
  /** Its last stderr lines (pino JSON, whatever their level), oldest first: for a failure message. */
  recentLines(): string[];
};

/** How a child's output is shown: its env, the least pino level printed (40 = warn), and where. */
export type SpawnOptions = { env?: NodeJS.ProcessEnv; showLevel?: number; print?: (line: string) => void };

/**
 * Runs `plexus <args>` as a separate OS process. Its pino logs (stderr) are shown prefixed with
 * its name when at or above `showLevel` (pino numbers: 40 = warn), so a devnet stays readable.
 *
 * @example const c = spawnPlexus('coordinator', ['coordinator', '--port', '0'], { env });
 */
export function spawnPlexus(name: string, args: string[], opts: SpawnOptions = {}): NodeChild {
  return spawnNode(name, [PLEXUS_BIN, ...args], opts);
}

/** Children still running; one `exit` listener kills them all (one per child hit Node's listener limit). */
const live = new Set<ChildProcess>();
function killLive(): void {
  for (const p of live) p.kill('SIGKILL');
}

/** Unmatched stdout lines a child keeps for later `waitFor` calls (the oldest are dropped). */
const MAX_KEPT_LINES = 1000;
/** Stderr lines a child keeps for its failure messages. */
const MAX_STDERR_LINES = 40;

/**
 * Runs `node <nodeArgs>` as a separate OS process with the same handle, log filtering and
 * never-outlive-the-parent rule as {@link spawnPlexus} (which is this with the `plexus` script);
 * tests run their own entry scripts with it (test/helpers/spawnCrashingCoordinator.ts).
 *
 * @example const c = spawnNode('coordinator (test)', ['--import', 'tsx', script, ...args], { env });
 */
export function spawnNode(name: string, nodeArgs: string[], opts: SpawnOptions = {}): NodeChild {
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  // PLEXUS_CPU_PROF_DIR=DIR: every child writes a V8 CPU profile there when it exits (Node refuses
  // --cpu-prof in NODE_OPTIONS, so it has to be an argument). For profiling benchmarks.
  const dir = process.env.PLEXUS_CPU_PROF_DIR;
  const prof = dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
  const proc = spawn(process.execPath, [...prof, ...nodeArgs], {
    // The child ends itself if this process dies without killing it (src/cli/exitWithParent.ts).
    env: { ...process.env, ...opts.env, PLEXUS_PARENT_PID: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const showLevel = opts.showLevel ?? Number(process.env.PLEXUS_SHOW_LEVEL ?? 40);
  const stdoutLines: string[] = [];
  const waiters: { marker: string; resolve: (v: unknown) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const w = waiters.find((x) => line.startsWith(x.marker));
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(JSON.parse(line.slice(w.marker.length).trim() || 'null'));
    } else {
      // Kept for a waitFor called after the line came (a marker printed before anyone waited).
      stdoutLines.push(line);
      if (stdoutLines.length > MAX_KEPT_LINES) stdoutLines.shift();
    }
  });
  /** The child's last stderr lines, whatever their level: named when it exits before a marker. */
  const stderrTail: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    stderrTail.push(line.slice(0, 2000));
    if (stderrTail.length > MAX_STDERR_LINES) stderrTail.shift();
    try {
      const rec = JSON.parse(line) as { level?: number; msg?: string };
      if ((rec.level ?? 0) >= showLevel) print(`[${name}] ${line}`);
    } catch {
      print(`[${name}] ${line}`);
    }
  });
  // Children never outlive their supervisor (a test runner or devnet that exits or crashes).
  live.add(proc);
  if (live.size === 1 && !process.listeners('exit').includes(killLive)) process.once('exit', killLive);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  return {
    name,
    proc,
    exited,
    recentLines: () => [...stderrTail],
    waitFor<T>(marker: string, timeoutMs: number): Promise<T> {
      const seen = stdoutLines.findIndex((l) => l.startsWith(marker));
      if (seen >= 0) {
        const [line] = stdoutLines.splice(seen, 1);
        return Promise.resolve(JSON.parse(line!.slice(marker.length).trim() || 'null') as T);
      }
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name} did not print ${marker} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        void exited.then((code) =>
          reject(
            new Error(
              `${name} exited (${code}) before printing ${marker}; its last stderr lines:\n${stderrTail.slice(-8).join('\n')}`,
            ),
          ),
        );
        waiters.push({
          marker,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
        });
      });
    },
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
