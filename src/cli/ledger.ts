import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { connectPlexus } from '../chain/connectPlexus.ts';
import type { PlexusReader } from '../chain/types.ts';
import { verifyLedger } from '../coordinator/ledger/verifyLedger.ts';
import { reopenEpochs } from '../coordinator/settlement/reopenEpochs.ts';
import { openStore } from '../coordinator/store/openStore.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { readDeploymentFile } from '../protocol/deployment.ts';
import { intOption } from './options.ts';

const LEDGER_DESCRIPTION = "inspect a coordinator's ledger, or reopen disputed epochs";

/**
 * `plexus ledger verify`: proves a coordinator's books balance and agree with the chain.
 * `plexus ledger reopen`: puts disputed epochs back to open, to be closed again (reopenEpochs.ts).
 */
export function ledgerCommand(): Command {
  const cmd = new Command('ledger').description(LEDGER_DESCRIPTION);
  cmd
    .command('verify')
    .description('check that every entry balances and that settled epochs agree with the chain')
    .option('--data-dir <dir>', "the coordinator's data folder (its SQLite store)")
    .option('--store <url>', "the coordinator's PostgreSQL store (postgres://…) instead of --data-dir")
    .option('--deployment <file>', 'deployment JSON: also check every settled epoch against the chain')
    .option('--rpc-url <url>', "chain RPC (default: the deployment file's rpcUrl)")
    .option('--json', 'print the report as JSON', false)
    .action(
      async (o: {
        dataDir?: string;
        store?: string;
        deployment?: string;
        rpcUrl?: string;
        json: boolean;
      }) => {
        if (!o.store && !o.dataDir) throw new PlexusError('PLX_USAGE', 'give --data-dir or --store');
        const store = o.store
          ? await openStore({ url: o.store, readonly: true })
          : await openStore({ path: join(o.dataDir ?? '', 'plexus.db'), readonly: true });
        try {
          let chain: PlexusReader | undefined;
          if (o.deployment) {
            const d = await readDeploymentFile(o.deployment, '--deployment');
            const rpcUrl = o.rpcUrl ?? d.rpcUrl;
            if (!rpcUrl) {
              throw new PlexusError('PLX_VALIDATION', `${o.deployment} names no rpcUrl: give --rpc-url`);
            }
            const { token, registry, escrow, settlement } = d;
            chain = connectPlexus({
              rpcUrl,
              chainId: d.chainId,
              addresses: { token, registry, escrow, settlement },
            });
          }
          const r = await verifyLedger(store.db, chain);
          if (o.json) console.log(JSON.stringify(r));
          else {
            console.log(
              `${r.entries} entries, ${r.postings} postings, ${r.settledEpochs} settled epochs${r.checkedOnChain ? ' (checked against the chain)' : ''}`,
            );
            for (const p of r.problems) console.log(`  ✗ [${p.check}] ${p.message}`);
            console.log(
              r.problems.length === 0 ? 'the books balance and agree' : `${r.problems.length} problem(s)`,
            );
          }
          process.exitCode = r.problems.length === 0 ? 0 : 1;
        } finally {
          await store.close();
        }
      },
    );
  cmd
    .command('reopen')
    .description(
      'after validators disputed an epoch and the coordinator was fixed: reopen it and every later epoch, to be closed again (stop the coordinator first)',
    )
    .option('--data-dir <dir>', "the coordinator's data folder (its SQLite store)")
    .option('--store <url>', "the coordinator's PostgreSQL store (postgres://…) instead of --data-dir")
    .requiredOption('--from <epoch>', 'the first disputed epoch', intOption(1, 2 ** 31))
    .option('--json', 'print the reopened epochs as JSON', false)
    .action(async (o: { dataDir?: string; store?: string; from: number; json: boolean }) => {
      if (!o.store && !o.dataDir) throw new PlexusError('PLX_USAGE', 'give --data-dir or --store');
      const path = join(o.dataDir ?? '', 'plexus.db');
      if (!o.store && !existsSync(path))
        throw new PlexusError('PLX_NOT_FOUND', `no coordinator store at ${path}: check --data-dir`);
      const store = o.store ? await openStore({ url: o.store }) : await openStore({ path });
      try {
        const epochs = await reopenEpochs(store.db, { from: o.from, now: Date.now() });
        if (o.json) console.log(JSON.stringify({ reopened: epochs }));
        else
          console.log(
            `reopened epoch${epochs.length === 1 ? '' : 's'} ${epochs.join(', ')}: the coordinator closes ${epochs.length === 1 ? 'it' : 'them'} again when it starts`,
          );
      } finally {
        await store.close();
      }
    });
  return cmd;
}
