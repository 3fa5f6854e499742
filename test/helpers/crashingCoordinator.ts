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
import { startCoordinator } from '../../src/coordinator/createCoordinator.ts';
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

// The CLI's command parses the options (defaults and validation included); only its action is
// replaced, by one that passes the same config and adds the hook.
const command = coordinatorCommand().action(
  async (o: {
    host: string;
    port: number;
    dataDir: string;
    chainId: number;
    scheduler: string;
    logLevel: string;
    deployment?: string;
    rpcUrl?: string;
    validatorKeystore?: string[];
    validatorUrl?: string[];
    submitterKeystore?: string;
    epochSeconds: number;
    emissionPerEpoch?: bigint;
    mqttUrl?: string;
    sensorEmissionPerEpoch?: bigint;
    sensorPricePerReading?: bigint;
    sensorReadingsPerSec?: number;
    rateLimitPerMinute?: number;
  }) => {
    const c = await startCoordinator(
      {
        host: o.host,
        port: o.port,
        dataDir: o.dataDir,
        chainId: o.chainId,
        scheduler: o.scheduler as 'predictive',
        logLevel: o.logLevel as 'info',
        epochSeconds: o.epochSeconds,
        validatorKeystores: o.validatorKeystore ?? [],
        validatorUrls: o.validatorUrl ?? [],
        ...(o.submitterKeystore ? { submitterKeystore: o.submitterKeystore } : {}),
        validatorPassword:
          process.env.PLEXUS_VALIDATOR_PASSWORD ?? process.env.PLEXUS_KEYSTORE_PASSWORD ?? '',
        ...(o.deployment ? { deployment: o.deployment } : {}),
        ...(o.rpcUrl ? { rpcUrl: o.rpcUrl } : {}),
        ...(o.emissionPerEpoch !== undefined ? { emissionPerEpoch: o.emissionPerEpoch.toString() } : {}),
        ...(o.mqttUrl ? { mqttUrl: o.mqttUrl } : {}),
        ...(o.sensorEmissionPerEpoch !== undefined
          ? { sensorEmissionPerEpoch: o.sensorEmissionPerEpoch.toString() }
          : {}),
        ...(o.sensorPricePerReading !== undefined
          ? { sensorPricePerReading: o.sensorPricePerReading.toString() }
          : {}),
        ...(o.sensorReadingsPerSec !== undefined ? { sensorReadingsPerSec: o.sensorReadingsPerSec } : {}),
        ...(o.rateLimitPerMinute !== undefined ? { rateLimitPerMinute: o.rateLimitPerMinute } : {}),
      },
      {
        ...(crashAt === 'raise-earnings' ? { tamperEpoch: raiseFirstLeaf } : {}),
        // Only an epoch that charges a client: the test submits a job and expects its epoch to be
        // the one interrupted.
        onSettlementStep: (step, { payload }) => {
          if (step === crashAt && payload.charges.length > 0) process.kill(process.pid, 'SIGKILL');
        },
      },
    );
    console.log(`PLEXUS_COORDINATOR_READY ${JSON.stringify({ url: c.url })}`);
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      await c.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
);
await command.parseAsync(args, { from: 'user' });
