/**
 * Spawns test/helpers/crashingCoordinator.ts as its own OS process, with the same handle
 * (`NodeChild`) that `spawnPlexus` gives for `plexus coordinator`, so a test swaps one for the other.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SettlementStep } from '../../src/coordinator/settlement/createSettlement.ts';
import type { NodeChild } from '../../src/devnet/spawnNode.ts';

const SCRIPT = fileURLToPath(new URL('./crashingCoordinator.ts', import.meta.url));

/**
 * Runs a coordinator that kills itself (SIGKILL) right after settlement step `crashAt` of the
 * first epoch that charges a client. `args` are `plexus coordinator`'s options (without the
 * command name). Its pino logs (stderr) go to `print` at or above `showLevel` (40 = warn).
 *
 * @example
 * const c = spawnCrashingCoordinator('sent', ['--port', '8080', '--deployment', file], { env, print });
 * await c.waitFor('PLEXUS_COORDINATOR_READY', 60_000);
 * assert.equal(await c.exited, null); // killed by the signal
 */
export function spawnCrashingCoordinator(
  crashAt: SettlementStep | 'raise-earnings',
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; showLevel?: number; print?: (line: string) => void } = {},
): NodeChild {
  const name =
    crashAt === 'raise-earnings' ? 'coordinator (dishonest)' : `coordinator (crashes after ${crashAt})`;
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const showLevel = opts.showLevel ?? 40;
  const proc = spawn(process.execPath, ['--import', 'tsx', SCRIPT, crashAt, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const waiters: { marker: string; resolve: (v: unknown) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const w = waiters.find((x) => line.startsWith(x.marker));
    if (!w) return;
    waiters.splice(waiters.indexOf(w), 1);
    w.resolve(JSON.parse(line.slice(w.marker.length).trim() || 'null'));
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    try {
      if (((JSON.parse(line) as { level?: number }).level ?? 0) >= showLevel) print(`[${name}] ${line}`);
    } catch {
      print(`[${name}] ${line}`);
    }
  });
  // Never outlive the test runner.
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }),
  );
  return {
    name,
    proc,
    exited,
    waitFor<T>(marker: string, timeoutMs: number): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name} did not print ${marker} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        void exited.then((code) => reject(new Error(`${name} exited (${code}) before printing ${marker}`)));
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
