/**
 * The `plexus` command line: parses the arguments, runs the command, and turns any failure into
 * one `error PLX_…: sentence` line with exit code 2 (wrong command line) or 1 (failure).
 */
import { printFailure } from './cliErrors.ts';
import { exitWithParent } from './exitWithParent.ts';
import { buildProgram, commandPath } from './program.ts';

exitWithParent();
const args = process.argv.slice(2);
const json = args.includes('--json');
const debug = args.includes('--debug') || process.env.PLEXUS_DEBUG === '1';
const at = args.indexOf('--coordinator');
const coordinatorUrl =
  (at >= 0 ? args[at + 1] : undefined) ?? process.env.PLEXUS_COORDINATOR ?? 'http://127.0.0.1:8080';
let path = 'plexus';
try {
  const program = await buildProgram(args);
  path = commandPath(program, args);
  await program.parseAsync(args, { from: 'user' });
} catch (err) {
  const e = err as { code?: unknown; exitCode?: unknown };
  // --help and --version end by throwing with exit code 0 once exitOverride is on.
  if (typeof e.code === 'string' && e.code.startsWith('commander.') && e.exitCode === 0) process.exit(0);
  // A command group without its subcommand: commander printed the group's help on stderr.
  if (e.code === 'commander.help') {
    process.stderr.write(`error PLX_USAGE: ${path} needs a subcommand (listed above)\n`);
    process.exit(2);
  }
  process.exit(printFailure(err, { json, debug, commandPath: path, coordinatorUrl }));
}
