import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { type Address, getAddress, type Hex, isAddress } from 'viem';
import { plexusAbis } from '../chain/abis.ts';
import { connectPlexus } from '../chain/connectPlexus.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { openKeystore } from '../keystore/openKeystore.ts';
import { createLogger } from '../logger.ts';
import { readDeploymentFile } from '../protocol/deployment.ts';
import { auditHistory } from '../validator/auditHistory.ts';
import { createValidator } from '../validator/createValidator.ts';
import { openValidatorStore } from '../validator/validatorStore.ts';
import { intOption, numberOption } from './options.ts';

/**
 * `plexus validator start`: an independent validator (docs/validators.md) with its own keystore
 * and store, following one or more coordinators and signing only epochs it recomputed.
 *
 * @example
 * program.addCommand(validatorCommand()); // plexus validator start --keystore v.json --deployment d.json --coordinator URL1,URL2
 */
export function validatorCommand(): Command {
  const cmd = new Command('validator').description(
    'an independent validator that re-runs every epoch before signing',
  );
  cmd
    .command('start')
    .description('follow coordinators, recompute each epoch from its evidence, sign only what matches')
    .requiredOption(
      '--keystore <file>',
      'the validator key (password: $PLEXUS_VALIDATOR_PASSWORD or $PLEXUS_KEYSTORE_PASSWORD)',
    )
    .requiredOption('--deployment <file>', 'deployment JSON: the chain and settlement contract to sign for')
    .requiredOption(
      '--coordinator <urls...>',
      "coordinators to follow; URL1,URL2 (commas) names one network's replicas: the validator moves to the next when one stops answering",
    )
    .requiredOption('--data-dir <dir>', "the validator's own data folder (its SQLite store)")
    .option('--host <host>', 'HTTP host', '127.0.0.1')
    .option('--port <n>', 'HTTP port (0: any free port)', intOption(0, 65_535), 7300)
    .option('--poll-ms <n>', 'how often to look for closed epochs', intOption(50, 600_000), 1000)
    .option(
      '--recheck-rate <share>',
      "share of each epoch's accepted executions this validator re-runs itself (0 to 1)",
      numberOption(0, 1),
      0.03,
    )
    .option(
      '--coordinator-key <address>',
      "the followed network's identity: only epoch claims signed by this address are acted on (default: the deployment file's `coordinator`)",
    )
    .option(
      '--rpc-url <url>',
      "chain RPC a late joiner bootstraps its replay through (evidenceHashOf; default: the deployment file's rpcUrl)",
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug', 'info')
    .action(
      async (o: {
        coordinatorKey?: string;
        rpcUrl?: string;
        keystore: string;
        deployment: string;
        coordinator: string[];
        dataDir: string;
        host: string;
        port: number;
        pollMs: number;
        recheckRate: number;
        logLevel: string;
      }) => {
        const log = createLogger('validator', { level: process.env.PLEXUS_LOG_LEVEL ?? o.logLevel });
        const d = await readDeploymentFile(o.deployment, '--deployment');
        const password = process.env.PLEXUS_VALIDATOR_PASSWORD ?? process.env.PLEXUS_KEYSTORE_PASSWORD ?? '';
        const account = await openKeystore(o.keystore, password, { logger: log });
        // Signing with a key the contract does not know would only produce useless signatures.
        if (d.validators && !d.validators.some((v) => v.toLowerCase() === account.address.toLowerCase()))
          throw new PlexusError(
            'PLX_EPOCH_CONFIG',
            `${account.address} is not a validator of this deployment`,
          );
        const coordinatorKey = networkIdentity(o.coordinatorKey, d);
        if (!coordinatorKey)
          log.warn(
            'no --coordinator-key and no `coordinator` in the deployment: claims are acted on whichever listed URL serves them',
          );
        await mkdir(o.dataDir, { recursive: true });
        const store = openValidatorStore(join(o.dataDir, 'validator.db'));
        // A late joiner's replay from epoch 1, each bundle checked against evidenceHashOf.
        const rpcUrl = o.rpcUrl ?? d.rpcUrl;
        const reader = rpcUrl
          ? connectPlexus({
              rpcUrl,
              chainId: d.chainId,
              addresses: { token: d.token, registry: d.registry, escrow: d.escrow, settlement: d.settlement },
            }).publicClient
          : undefined;
        const read = (functionName: 'lastFinalizedEpoch' | 'evidenceHashOf', args?: [bigint]) =>
          reader!.readContract({
            address: d.settlement,
            abi: plexusAbis.settlement,
            functionName,
            ...(args ? { args } : {}),
          } as never);
        const chain = reader
          ? {
              lastFinalized: async () => Number(await read('lastFinalizedEpoch')),
              evidenceHashOf: async (e: number) => (await read('evidenceHashOf', [BigInt(e)])) as Hex,
            }
          : undefined;
        const v = await createValidator({
          account,
          target: { chainId: d.chainId, settlement: d.settlement },
          coordinators: o.coordinator,
          store,
          log,
          host: o.host,
          port: o.port,
          pollMs: o.pollMs,
          recheckRate: o.recheckRate,
          ...(coordinatorKey ? { coordinatorKey } : {}),
          ...(chain ? { chain } : {}),
        });
        console.log(`PLEXUS_VALIDATOR_READY ${JSON.stringify({ url: v.url, address: account.address })}`);
        let stopping = false;
        const stop = async () => {
          if (stopping) return;
          stopping = true;
          await v.stop();
          store.close();
          process.exit(0);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );
  cmd
    .command('audit')
    .description(
      "read-only: replay a coordinator's history and check every finalized epoch against the chain",
    )
    .requiredOption(
      '--coordinator <urls>',
      'the coordinator to audit (URL1,URL2: its replicas, the first that answers)',
    )
    .requiredOption('--deployment <file>', 'deployment JSON: the chain and settlement contract')
    .option('--rpc-url <url>', "chain RPC (default: the deployment file's rpcUrl)")
    .option('--from <epoch>', 'first epoch to replay', intOption(1, 2 ** 31), 1)
    .option('--json', 'print the report as JSON', false)
    .option(
      '--coordinator-key <address>',
      "the network's identity: every claim must be signed by it (default: the deployment file's `coordinator`)",
    )
    .action(
      async (o: {
        coordinatorKey?: string;
        coordinator: string;
        deployment: string;
        rpcUrl?: string;
        from: number;
        json: boolean;
      }) => {
        const d = await readDeploymentFile(o.deployment, '--deployment');
        const rpcUrl = o.rpcUrl ?? d.rpcUrl;
        if (!rpcUrl)
          throw new PlexusError('PLX_VALIDATION', `${o.deployment} names no rpcUrl: give --rpc-url`);
        const { token, registry, escrow, settlement } = d;
        const chain = connectPlexus({
          rpcUrl,
          chainId: d.chainId,
          addresses: { token, registry, escrow, settlement },
        });
        const coordinatorKey = networkIdentity(o.coordinatorKey, d);
        const report = await auditHistory({
          coordinator: o.coordinator,
          chain,
          chainId: d.chainId,
          from: o.from,
          ...(coordinatorKey ? { coordinatorKey } : {}),
        });
        const bad = report.filter((e) => e.problems.length > 0);
        if (o.json) console.log(JSON.stringify({ epochs: report, problems: bad.length }));
        else {
          for (const e of report)
            console.log(
              `epoch ${e.epoch} ${e.finalized ? 'finalized' : 'not finalized'} ${e.problems.length ? `✖ ${e.problems.join('; ')}` : '✔'}`,
            );
          console.log(
            bad.length
              ? `${bad.length} of ${report.length} epochs differ from their evidence or the chain`
              : `${report.length} epochs replayed: every claim equals its evidence and the chain`,
          );
        }
        process.exitCode = bad.length ? 1 : 0;
      },
    );
  return cmd;
}

/**
 * The followed network's identity (the address that signs its epoch claims): `--coordinator-key`,
 * else the deployment file's `coordinator` field; undefined when neither names one.
 *
 * @example const key = networkIdentity(o.coordinatorKey, deployment);
 */
function networkIdentity(option: string | undefined, d: Record<string, unknown>): Address | undefined {
  const given = option ?? (typeof d.coordinator === 'string' ? d.coordinator : undefined);
  if (given === undefined) return undefined;
  if (!isAddress(given, { strict: false }))
    throw new PlexusError('PLX_VALIDATION', `the coordinator key ${given} is not an address`);
  return getAddress(given);
}
