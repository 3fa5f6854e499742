/**
 * `plexus store put|get|ls|status|rm`: files on the storage network (issue 19, docs/storage.md),
 * erasure-coded onto providers' disks, challenged every window and repaired when pieces are lost.
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { DEFAULT_CLIENT_KEYSTORE, DEFAULT_COORDINATOR, intOption, plxAmountOption } from './options.ts';

type Common = { coordinator: string; keystore: string };

async function storageClient(o: Common) {
  const { loadOrCreateKeystore } = await import('../keystore/loadOrCreateKeystore.ts');
  const { readPassword } = await import('../keystore/readPassword.ts');
  const { createStorageClient } = await import('../client/createStorageClient.ts');
  const password = await readPassword({ prompt: 'Client keystore password: ' });
  const account = await loadOrCreateKeystore(o.keystore, password, { role: 'client' });
  return createStorageClient({ url: o.coordinator, account });
}

function common(cmd: Command): Command {
  return cmd
    .option('--coordinator <url>', 'coordinator base URL', DEFAULT_COORDINATOR)
    .option('--keystore <file>', 'client key file', DEFAULT_CLIENT_KEYSTORE);
}

/** `plexus store …`. */
export function storeCommand(): Command {
  const cmd = new Command('store').description('keep files on the storage network: put, get, ls, status, rm');
  common(cmd.command('put'))
    .description('store a file; prints its content id once every piece is placed')
    .argument('<file>')
    .option('--data <k>', 'data pieces K per segment (default 16)', intOption(1, 31))
    .option('--parity <m>', 'parity pieces M per segment, at most K (default 16)', intOption(1, 16))
    .option('--epochs <n>', 'epochs to keep it (default 24)', intOption(1, 1_000_000))
    .option('--max-price <plx>', 'most PLX per GiB-epoch you pay', plxAmountOption)
    .action(
      async (
        file: string,
        o: Common & { data?: number; parity?: number; epochs?: number; maxPrice?: bigint },
      ) => {
        const store = await storageClient(o);
        const out = await store.put(file, {
          ...(o.data ? { dataPieces: o.data } : {}),
          ...(o.parity ? { parityPieces: o.parity } : {}),
          ...(o.epochs ? { epochs: o.epochs } : {}),
          ...(o.maxPrice !== undefined ? { maxPricePerGiBEpoch: o.maxPrice } : {}),
        });
        console.log(out.objectId);
      },
    );
  common(cmd.command('get'))
    .description('fetch a stored file (the fastest K pieces per segment, each checked against its root)')
    .argument('<cid>')
    .requiredOption('--out <file>', 'where to write it')
    .action(async (cid: string, o: Common & { out: string }) => {
      const store = await storageClient(o);
      const tty = process.stderr.isTTY;
      const bytes = await store.get(cid, {
        onProgress: (done, total) => {
          if (tty)
            process.stderr.write(
              `\rpieces ${done}/${total} ${'#'.repeat(Math.round((20 * done) / total)).padEnd(20, '.')}`,
            );
        },
      });
      if (tty) process.stderr.write('\n');
      await writeFile(o.out, bytes);
      console.log(`${o.out}: ${bytes.length} bytes, sha256 ${cid}`);
    });
  common(cmd.command('ls'))
    .description('objects stored by this key')
    .option('--json', 'print JSON', false)
    .action(async (o: Common & { json: boolean }) => {
      const objects = await (await storageClient(o)).list();
      if (o.json) console.log(JSON.stringify(objects));
      else
        for (const x of objects)
          console.log(`${x.objectId}  ${x.bytes} bytes  K=${x.dataPieces} M=${x.parityPieces}  ${x.status}`);
    });
  common(cmd.command('status'))
    .description('where the pieces of an object are, their health, faults')
    .argument('<cid>')
    .option('--json', 'print JSON', false)
    .action(async (cid: string, o: Common & { json: boolean }) => {
      const s = await (await storageClient(o)).status(cid);
      if (o.json) {
        console.log(JSON.stringify(s));
        return;
      }
      console.log(
        `${s.objectId}: ${s.bytes} bytes, K=${s.dataPieces} M=${s.parityPieces}, ${s.status}, ${s.healthy} healthy pieces (repair at ${s.repairThreshold}), ${s.epochs} epochs, escrow ${s.escrow}`,
      );
      for (const p of s.pieces)
        console.log(`  ${p.segment}/${p.index}  ${p.status.padEnd(9)} ${p.holder ?? '-'}  ${p.root}`);
      for (const f of s.faults)
        console.log(`  fault: ${f.segment}/${f.index} ${f.provider} window ${f.window}: ${f.reason}`);
    });
  common(cmd.command('rm'))
    .description('remove an object (its holders drop their pieces)')
    .argument('<cid>')
    .action(async (cid: string, o: Common) => {
      const r = await (await storageClient(o)).remove(cid);
      console.log(
        `${cid} removed${r.refund && r.refund !== '0' ? `; ${r.refund} base units of escrow released` : ''}`,
      );
    });
  return cmd;
}
