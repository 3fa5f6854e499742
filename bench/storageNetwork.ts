/**
 * The network half of `npm run bench -- storage`: put and get throughput through a local
 * coordinator and real `plexus provider start --storage-gib` processes on loopback (the devnet's
 * shape, without a chain: escrow is not checked), against a plain local copy of the same bytes
 * (`fs.copyFile`, file to file, same disk) measured in the same run.
 *
 * - put: the SDK uploads the file, the coordinator codes it into K + M pieces per segment and
 *   every holder fetches its piece, checks it against its root and reports it stored; the clock
 *   stops when the object is `stored` (every piece placed).
 * - get: the SDK fetches the fastest K pieces of each segment through the coordinator's relay of
 *   the holders' sessions, checks each against its root, decodes and checks the content id.
 *
 * Ratios are devnet throughput ÷ local-copy throughput (1 would be as fast as a copy).
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createStorageClient } from '../src/client/createStorageClient.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { freePort } from '../test/helpers/net.ts';

/** What the network half measured. */
export type NetworkFigures = {
  putRatio: number;
  getRatio: number;
  putMBps: number;
  getMBps: number;
  copyMBps: number;
  objectMiB: number;
  providers: number;
  dataPieces: number;
  parityPieces: number;
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Starts a coordinator and `k + m` storage providers, puts and gets one object of `mib` MiB
 * `rounds` times, and copies the same file locally as many times.
 *
 * @example const f = await measureStorageNetwork({ mib: 16, k: 4, m: 2, rounds: 3 });
 */
export async function measureStorageNetwork(o: {
  mib: number;
  k: number;
  m: number;
  rounds: number;
  /** Every provider also serves directly (`--serve-address` on loopback): gets skip the relay. */
  direct?: boolean;
}): Promise<NetworkFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-bench-storage-'));
  const env = { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'error' };
  const quiet = createLogger('bench', { level: 'silent' });
  const children: NodeChild[] = [];
  try {
    const port = await freePort();
    const coordinator = spawnPlexus(
      'coordinator',
      ['coordinator', '--port', String(port), '--data-dir', join(dir, 'coordinator')],
      { env },
    );
    children.push(coordinator);
    const { url } = await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000);
    const n = o.k + o.m;
    // Each holder keeps 1/K of the object per round (objects differ per round), with room to spare.
    const gib = Math.max(0.05, ((o.mib / o.k) * o.rounds * 2) / 1024);
    for (let i = 0; i < n; i++) {
      const pdir = join(dir, `provider-${i}`);
      await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
        scrypt: { n: 1024, r: 8, p: 1 },
        logger: quiet,
      });
      const args = ['provider', 'start', '--coordinator', url, '--data-dir', pdir, '--blender', 'none'];
      args.push('--cores', '1', '--region', `r${i % 3}`, '--storage-gib', String(gib));
      if (o.direct) args.push('--serve-address', `127.0.0.1:${await freePort()}`);
      const p = spawnPlexus(`provider-${i}`, args, { env });
      children.push(p);
      await p.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
    }
    const store = createStorageClient({ url, account: privateKeyToAccount(generatePrivateKey()) });
    const bytes = o.mib * 2 ** 20;
    const puts: number[] = [];
    const gets: number[] = [];
    const copies: number[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const file = new Uint8Array(randomBytes(bytes));
      const src = join(dir, `object-${r}.bin`);
      await writeFile(src, file);
      // The baseline: a plain local copy of the same bytes.
      let t = performance.now();
      await copyFile(src, join(dir, `copy-${r}.bin`));
      copies.push(performance.now() - t);
      // Put (retrying while storage sessions register), then get.
      let cid: string | undefined;
      const deadline = Date.now() + 120_000;
      while (cid === undefined) {
        t = performance.now();
        try {
          cid = (await store.put(src, { dataPieces: o.k, parityPieces: o.m, timeoutMs: 600_000 })).objectId;
        } catch (err) {
          if (!String(err).includes('PLX_STORAGE_NO_CAPACITY') || Date.now() > deadline) throw err;
          await new Promise((res) => setTimeout(res, 500));
        }
      }
      puts.push(performance.now() - t);
      t = performance.now();
      const back = await store.get(cid);
      gets.push(performance.now() - t);
      if (!Buffer.from(back).equals(Buffer.from(file))) throw new Error('get returned other bytes');
    }
    const mbps = (ms: number) => bytes / 1e6 / (ms / 1000);
    const putMBps = mbps(median(puts));
    const getMBps = mbps(median(gets));
    const copyMBps = mbps(median(copies));
    return {
      putRatio: putMBps / copyMBps,
      getRatio: getMBps / copyMBps,
      putMBps,
      getMBps,
      copyMBps,
      objectMiB: o.mib,
      providers: n,
      dataPieces: o.k,
      parityPieces: o.m,
    };
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop(5000).catch(() => undefined)));
    await rm(dir, { recursive: true, force: true });
  }
}
