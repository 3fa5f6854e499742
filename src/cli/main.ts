/**
 * The `plexus` command line: one file per command, wired here.
 */
import { Command } from 'commander';
import { PlexusError } from '../errors/PlexusError.ts';
import { clientCommand } from './client.ts';
import { coordinatorCommand } from './coordinator.ts';
import { devnetCommand } from './devnet.ts';
import { jobCommand } from './job.ts';
import { ledgerCommand } from './ledger.ts';
import { providerCommand } from './provider.ts';
import { sensorsCommand } from './sensors.ts';
import { validatorCommand } from './validator.ts';

const program = new Command('plexus')
  .description('Plexus: an open network for sharing AI hardware')
  .version('0.1.0')
  .showHelpAfterError();
program.addCommand(coordinatorCommand());
program.addCommand(providerCommand());
program.addCommand(jobCommand());
program.addCommand(clientCommand());
program.addCommand(devnetCommand());
program.addCommand(ledgerCommand());
program.addCommand(sensorsCommand());
program.addCommand(validatorCommand());

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof PlexusError) {
    // With --json a script gets the same error object the HTTP API sends.
    if (process.argv.includes('--json')) console.error(JSON.stringify(err.toJSON()));
    else console.error(`error ${err.code}: ${err.message}`);
    process.exit(1);
  }
  throw err;
}
