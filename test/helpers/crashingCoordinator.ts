/**
 * Test-only entry script: a real coordinator, started as `plexus coordinator` starts one (the
 * CLI's own option parsing, the same config, the same READY line and signal handling), plus a
 * settlement hook that kills the process with SIGKILL right after the named step of the first
 * epoch that charges a client. test/settlement.test.ts uses it to prove crash recovery; production
 * code carries no crash switch.
 *
 * With `raise-earnings` instead of a step it never crashes but is dishonest, with books that agree
 * with themselves: every epoch it closes credits the first provider with earnings 1 base unit more
 * (and the protocol's fees 1 less) than its signed facts give, then computes, publishes and claims
 * the epoch from those books. Re-running the epoch computation finds nothing; independent
 * validators must refuse it from the facts (test/settlement.test.ts).
 *
 * With `hide-audits` it publishes every audit its charged tasks drew as not drawn.
 *
 * Usage: node --import tsx test/helpers/crashingCoordinator.ts <closing|signed|sent|submitted|raise-earnings|hide-audits> [coordinator options…]
 */
import { coordinatorCommand } from '../../src/cli/coordinator.ts';
import { exitWithParent } from '../../src/cli/exitWithParent.ts';
import type { EpochTamper } from '../../src/coordinator/settlement/closeEpoch.ts';
import type { SettlementStep } from '../../src/coordinator/settlement/createSettlement.ts';

/** The dishonest books: the first provider with earnings gets 1 base unit more, the fees 1 less. */
const raiseFirstEarnings: EpochTamper = (inputs) => {
  const first = inputs.providerBalances.find((b) => b.account.endsWith(':earnings'));
  if (!first) return;
  first.balance -= 1n; // credits are negative
  const inEpoch = inputs.epochBalances.find((b) => b.account === first.account);
  if (inEpoch) inEpoch.balance -= 1n;
  else inputs.epochBalances.push({ account: first.account, balance: -1n });
  const fees = inputs.epochBalances.find((b) => b.account === 'protocol:fees');
  if (fees) fees.balance += 1n;
  else inputs.epochBalances.push({ account: 'protocol:fees', balance: 1n });
};

/**
 * "We chose not to audit": every audit the epoch's charged tasks drew is published as not drawn
 * (the draw still under its rate, another provider online), as a coordinator that skipped the
 * audits it drew would have to publish them (test/validatorAudits.test.ts).
 */
const hideAudits: EpochTamper = (_inputs, facts) => {
  for (const d of facts.draws ?? []) if (d.audited) d.audited = false;
};

const STEPS: readonly SettlementStep[] = ['closing', 'signed', 'sent', 'submitted'];
const DISHONEST = { 'raise-earnings': raiseFirstEarnings, 'hide-audits': hideAudits } as const;
exitWithParent();
const [crashAt, ...args] = process.argv.slice(2);
if (!STEPS.includes(crashAt as SettlementStep) && !(crashAt! in DISHONEST)) {
  console.error(
    `usage: crashingCoordinator.ts <${STEPS.join('|')}|raise-earnings|hide-audits> [coordinator options…]`,
  );
  process.exit(2);
}

// The CLI's own command (its option parsing, config, READY line and signal handling), with the
// hook added.
await coordinatorCommand({
  ...(crashAt! in DISHONEST ? { tamperEpoch: DISHONEST[crashAt as keyof typeof DISHONEST] } : {}),
  // Only an epoch that charges a client: the test submits a job and expects its epoch to be the
  // one interrupted.
  onSettlementStep: (step, { payload }) => {
    if (step === crashAt && payload.charges.length > 0) process.kill(process.pid, 'SIGKILL');
  },
}).parseAsync(args, { from: 'user' });
