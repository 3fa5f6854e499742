/**
 * Children started by a supervisor (a devnet, a test: src/devnet/spawnNode.ts) must not outlive it.
 * The supervisor kills them when it exits normally, but a supervisor killed by a signal (a test
 * runner's timeout, `kill -9`) runs no exit handler, and the orphans keep ports, CPU and files.
 * spawnNode passes its pid in PLEXUS_PARENT_PID; this polls it and ends the process gracefully
 * (SIGTERM: the command's own shutdown) once that pid is gone. Nothing happens without the
 * variable, so a provider started by a user's shell or systemd is never tied to its parent.
 */

/** How often the parent's pid is checked (ms). */
const CHECK_EVERY_MS = 2000;

/**
 * Starts the watch when `env.PLEXUS_PARENT_PID` names a process; the timer never keeps the process
 * alive on its own.
 *
 * @example
 * exitWithParent(); // in the CLI entry, before the command runs
 */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env): void {
  const pid = Number(env.PLEXUS_PARENT_PID);
  if (!Number.isSafeInteger(pid) || pid <= 1 || pid === process.pid) return;
  const timer = setInterval(() => {
    try {
      process.kill(pid, 0); // signal 0: only asks whether the process exists
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') return; // exists, owned by someone else
      clearInterval(timer);
      process.kill(process.pid, 'SIGTERM');
    }
  }, CHECK_EVERY_MS);
  timer.unref();
}
