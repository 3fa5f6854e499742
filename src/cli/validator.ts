import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { PlexusError } from '../errors/PlexusError.ts';
import { openKeystore } from '../keystore/openKeystore.ts';
import { createLogger } from '../logger.ts';
import { readDeploymentFile } from '../protocol/deployment.ts';
import { createValidator } from '../validator/createValidator.ts';
import { openValidatorStore } from '../validator/validatorStore.ts';
import { intOption } from './options.ts';

/**
 * `plexus validator start`: an independent validator (docs/validators.md) with its own keystore
 * and store, following one or more coordinators and signing only epochs it recomputed.
 *
 * @example
 * program.addCommand(validatorCommand()); // plexus validator start --keystore v.json --deployment d.json --coordinator URL
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
    .requiredOption('--coordinator <urls...>', 'coordinators to follow')
    .requiredOption('--data-dir <dir>', "the validator's own data folder (its SQLite store)")
    .option('--host <host>', 'HTTP host', '127.0.0.1')
    .option('--port <n>', 'HTTP port (0: any free port)', intOption(0, 65_535), 7300)
    .option('--poll-ms <n>', 'how often to look for closed epochs', intOption(50, 600_000), 1000)
    .option('--log-level <level>', 'fatal|error|warn|info|debug', 'info')
    .action(
      async (o: {
        keystore: string;
        deployment: string;
        coordinator: string[];
        dataDir: string;
        host: string;
        port: number;
        pollMs: number;
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
        await mkdir(o.dataDir, { recursive: true });
        const store = openValidatorStore(join(o.dataDir, 'validator.db'));
        const v = await createValidator({
          account,
          target: { chainId: d.chainId, settlement: d.settlement },
          coordinators: o.coordinator,
          store,
          log,
          host: o.host,
          port: o.port,
          pollMs: o.pollMs,
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
  return cmd;
}
