/**
 * Spawns test/helpers/crashingCoordinator.ts as its own OS process, with the same handle
 * (`NodeChild`) that `spawnPlexus` gives for `plexus coordinator`, so a test swaps one for the other.
 */
import { fileURLToPath } from 'node:url';
import type { SettlementStep } from '../../src/coordinator/settlement/createSettlement.ts';
import { type NodeChild, type SpawnOptions, spawnNode } from '../../src/devnet/spawnNode.ts';

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
  crashAt: SettlementStep | 'raise-earnings' | 'hide-audits',
  args: string[],
  opts: SpawnOptions = {},
): NodeChild {
  const name =
    crashAt === 'raise-earnings' || crashAt === 'hide-audits'
      ? 'coordinator (dishonest)'
      : `coordinator (crashes after ${crashAt})`;
  return spawnNode(name, ['--import', 'tsx', SCRIPT, crashAt, ...args], { showLevel: 40, ...opts });
}
