/**
 * The `plexus` command tree. Each top-level command lives in its own module and is imported only
 * when it runs (or for `--help` of that command): `plexus --version` loads no chain, HTTP server
 * or ONNX code, and `plexus job status` none of the provider's.
 */
import { Command } from 'commander';
import { formatPlx } from './format.ts';

/** The package version, printed by `plexus --version`. */
export const VERSION = '0.1.0';

type Entry = { name: string; description: string; load: () => Promise<Command> };

/**
 * The top-level commands. `description` is repeated here so that `plexus --help` lists them
 * without loading them (a test checks that it equals each command's own).
 */
export const TOP_LEVEL_COMMANDS: readonly Entry[] = [
  {
    name: 'coordinator',
    description: 'run a coordinator (HTTP API, provider WebSocket, scheduler, store)',
    load: async () => (await import('./coordinator.ts')).coordinatorCommand(),
  },
  {
    name: 'provider',
    description: 'run and manage a provider agent',
    load: async () => (await import('./provider.ts')).providerCommand(),
  },
  {
    name: 'job',
    description: 'submit jobs, price them, follow them and fetch their results',
    load: async () => (await import('./job.ts')).jobCommand(),
  },
  {
    name: 'store',
    description: 'keep files on the storage network: put, get, ls, status, rm',
    load: async () => (await import('./store.ts')).storeCommand(),
  },
  {
    name: 'client',
    description: "manage a client's PLX escrow on chain",
    load: async () => (await import('./client.ts')).clientCommand(),
  },
  {
    name: 'devnet',
    description: 'run a local network (coordinator, chain, providers), or fund an address on it',
    load: async () => (await import('./devnet.ts')).devnetCommand(),
  },
  {
    name: 'ledger',
    description: "inspect a coordinator's ledger, or reopen disputed epochs",
    load: async () => (await import('./ledger.ts')).ledgerCommand(),
  },
  {
    name: 'sensors',
    description: 'sensor devices: keys, registration, readings, datasets',
    load: async () => (await import('./sensors.ts')).sensorsCommand(),
  },
  {
    name: 'validator',
    description: 'an independent validator that re-runs every epoch before signing',
    load: async () => (await import('./validator.ts')).validatorCommand(),
  },
];

/** Environment variables the CLI reads, shown at the end of every `--help`. */
export const ENVIRONMENT_HELP = `
Environment:
  PLEXUS_COORDINATOR         default --coordinator (http://127.0.0.1:8080; replicas: URL1,URL2)
  PLEXUS_KEYSTORE_PASSWORD   keystore password (else a hidden prompt on a terminal)
  PLEXUS_CLIENT_KEYSTORE     default client key file (.plexus/client/key.json)
  PLEXUS_DEPLOYMENT          default --deployment file of on-chain commands
  PLEXUS_RPC_URL             default --rpc-url of on-chain commands
  PLEXUS_LOG_LEVEL           fatal|error|warn|info|debug (default info)
  PLEXUS_LOG_FORMAT          pretty or json (default: pretty on a terminal, JSON otherwise)
  PLEXUS_VALIDATOR_PASSWORD  validator keystore password of plexus coordinator
Add --debug to any command to print stack traces. Errors: docs/errors.md.`;

/** The name of the top-level command `argv` (without node and script) runs, if any. */
function wantedCommand(args: readonly string[]): string | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  return words[0] === 'help' ? words[1] : words[0];
}

/** Applies what every command shares: errors thrown instead of printed, the environment help. */
function configure(cmd: Command): void {
  cmd.exitOverride();
  // Commander would print its own `error: …`; the caller prints one `error PLX_USAGE: …` line.
  cmd.configureOutput({ outputError: () => {} });
  cmd.addHelpText('after', ENVIRONMENT_HELP);
  // Help prints defaults with JSON.stringify, which throws on a bigint: every PLX default shows in PLX.
  for (const opt of cmd.options)
    if (typeof opt.defaultValue === 'bigint' && opt.defaultValueDescription === undefined)
      opt.defaultValueDescription = formatPlx(opt.defaultValue);
  for (const sub of cmd.commands) configure(sub);
}

/**
 * Builds the command tree for `args` (process.argv without node and the script): the command it
 * names is loaded, the others are listed by name and description only; `{ all: true }` loads
 * every command (the CLI harness walks them all).
 *
 * @example
 * const program = await buildProgram(['job', 'status', '0x…']);
 * await program.parseAsync(['job', 'status', '0x…'], { from: 'user' });
 */
export async function buildProgram(args: readonly string[], opts: { all?: boolean } = {}): Promise<Command> {
  const program = new Command('plexus')
    .description('Plexus: an open network for sharing AI hardware')
    .version(VERSION)
    .option('--debug', 'print stack traces of errors', false);
  const wanted = wantedCommand(args);
  for (const entry of TOP_LEVEL_COMMANDS) {
    if (opts.all || entry.name === wanted) program.addCommand(await entry.load());
    else program.command(entry.name).description(entry.description);
  }
  configure(program);
  return program;
}

/** The `plexus job submit` style path of the deepest command `args` names, for error hints. */
export function commandPath(program: Command, args: readonly string[]): string {
  const names = ['plexus'];
  let cmd = program;
  for (const a of args) {
    if (a.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}
