/**
 * Test-only entry script: a real coordinator, started as `plexus coordinator` starts one (the
 * CLI's own option parsing, the same config, the same READY line and signal handling), plus a
 * settlement hook that kills the process with SIGKILL right after the named step of the first
 * epoch that charges a client. test/settlement.test.ts uses it to prove crash recovery; production
 * code carries no crash switch.
 *
 * With `raise-earnings` instead of a step it never crashes but is dishonest: every epoch it closes
 * claims the first rewards leaf (one provider's cumulative earnings) 1 base unit higher than the
 * evidence gives, which independent validators must refuse (test/settlement.test.ts).
 *
 * Usage: node --import tsx test/helpers/crashingCoordinator.ts <closing|signed|sent|submitted|raise-earnings> [coordinator options…]
 */
import { coordinatorCommand } from '../../src/cli/coordinator.ts';
import { rewardsOf } from '../../src/coordinator/ledger/rewardsTree.ts';
import type { SettlementStep } from '../../src/coordinator/settlement/createSettlement.ts';
import type { EpochOutcome } from '../../src/coordinator/settlement/epochComputation.ts';

/** The dishonest outcome: the first leaf of the rewards tree + 1 base unit, root and total rebuilt. */
function raiseFirstLeaf(outcome: EpochOutcome): EpochOutcome {
  if (!outcome.tree) return outcome;
  const dump = JSON.parse(outcome.tree) as { values: { value: [string, string] }[] };
  const earned = new Map(dump.values.map((v) => [v.value[0].toLowerCase(), BigInt(v.value[1])]));
  const [first] = earned.keys();
  earned.set(first!, earned.get(first!)! + 1n);
  const r = rewardsOf(earned);
  return {
    ...outcome,
    tree: r.dump,
    payload: { ...outcome.payload, rewardsRoot: r.root, totalEarned: r.totalEarned },
  };
}

const STEPS: readonly SettlementStep[] = ['closing', 'signed', 'sent', 'submitted'];
const [crashAt, ...args] = process.argv.slice(2);
if (!STEPS.includes(crashAt as SettlementStep) && crashAt !== 'raise-earnings') {
  console.error(`usage: crashingCoordinator.ts <${STEPS.join('|')}|raise-earnings> [coordinator options…]`);
  process.exit(2);
}

// The CLI's own command (its option parsing, config, READY line and signal handling), with the
// hook added.
await coordinatorCommand({
  ...(crashAt === 'raise-earnings' ? { tamperEpoch: raiseFirstLeaf } : {}),
  // Only an epoch that charges a client: the test submits a job and expects its epoch to be the
  // one interrupted.
  onSettlementStep: (step, { payload }) => {
    if (step === crashAt && payload.charges.length > 0) process.kill(process.pid, 'SIGKILL');
  },
}).parseAsync(args, { from: 'user' });
