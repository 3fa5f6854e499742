/**
 * The all-in-one local network: one coordinator and several provider agents, each a separate OS
 * process with its own key, plus an optional demo job through the whole loop.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createClient } from '../client/createClient.ts';
import { createLogger } from '../logger.ts';
import { loadOrCreateKeystore } from '../provider/keystore/loadOrCreateKeystore.ts';
import { type DemoSummary, runDemo } from './runDemo.ts';
import { type NodeChild, spawnPlexus } from './spawnNode.ts';

/**
 * Password of the devnet's throwaway keys. The devnet is a local playground: never reuse its keys
 * (or this password) on a real network.
 */
export const DEVNET_PASSWORD = 'plexus-devnet-only';
/** Cheaper scrypt for the devnet's throwaway keys, so start-up stays quick on small machines. */
const DEVNET_SCRYPT = { n: 2 ** 14, r: 8, p: 1 };
const REGIONS = ['eu-west', 'us-east', 'ap-south', 'sa-east', 'af-south'];

export type Devnet = {
  coordinatorUrl: string;
  children: NodeChild[];
  runDemo(images?: number): Promise<DemoSummary>;
  stop(): Promise<void>;
};

/**
 * Starts a devnet.
 *
 * @example
 * const net = await startDevnet({ dataDir: '.plexus/devnet', providers: 3 });
 * const summary = await net.runDemo();
 * await net.stop();
 */
export async function startDevnet(opts: {
  dataDir: string;
  providers?: number;
  port?: number;
  print?: (line: string) => void;
  logLevel?: string;
}): Promise<Devnet> {
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const dataDir = resolve(opts.dataDir);
  const n = opts.providers ?? 3;
  await mkdir(dataDir, { recursive: true });
  const quiet = createLogger('devnet', { level: 'warn' });
  const env = { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: opts.logLevel ?? 'info' };
  const children: NodeChild[] = [];
  const stop = async () => {
    // Providers drain first (they finish and report running tasks), then the coordinator stops.
    await Promise.all(children.filter((c) => c.name !== 'coordinator').map((c) => c.stop()));
    await Promise.all(children.filter((c) => c.name === 'coordinator').map((c) => c.stop()));
  };
  try {
    const coordinator = spawnPlexus(
      'coordinator',
      ['coordinator', '--port', String(opts.port ?? 8080), '--data-dir', join(dataDir, 'coordinator')],
      { env, print },
    );
    children.push(coordinator);
    const { url } = await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 60_000);
    print(`coordinator  ${url}  (API /v1, OpenAPI ${url}/docs, metrics ${url}/metrics)`);

    for (let i = 1; i <= n; i++) {
      const dir = join(dataDir, `provider-${i}`);
      await loadOrCreateKeystore(join(dir, 'key.json'), DEVNET_PASSWORD, {
        scrypt: DEVNET_SCRYPT,
        logger: quiet,
      });
      const p = spawnPlexus(
        `provider-${i}`,
        [
          'provider',
          'start',
          '--coordinator',
          url,
          '--data-dir',
          dir,
          '--region',
          REGIONS[(i - 1) % REGIONS.length]!,
        ],
        { env, print },
      );
      children.push(p);
    }
    const started = await Promise.all(
      children.slice(1).map((c) => c.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', 60_000)),
    );
    for (const [i, s] of started.entries()) print(`provider-${i + 1}   ${s.address}`);
    const client = createClient({ url });
    const deadline = Date.now() + 60_000;
    while ((await client.health()).providersOnline < n) {
      if (Date.now() > deadline)
        throw new Error(`only ${(await client.health()).providersOnline}/${n} providers connected`);
      await new Promise((r) => setTimeout(r, 100));
    }
    print(`${n} providers online`);
    const clientAccount = await loadOrCreateKeystore(join(dataDir, 'client', 'key.json'), DEVNET_PASSWORD, {
      scrypt: DEVNET_SCRYPT,
      logger: quiet,
    });
    const signer = createClient({ url, account: clientAccount });
    return {
      coordinatorUrl: url,
      children,
      runDemo: (images?: number) => runDemo(signer, { ...(images ? { images } : {}), print }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
