/**
 * The all-in-one local network: a local chain (anvil) with the Plexus contracts deployed, one
 * coordinator and several provider agents, each a separate OS process with its own key, plus an
 * optional demo job through the whole loop.
 */

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { createPublicClient, createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployPlexus, type PlexusDeployment } from '../chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../chain/startAnvil.ts';
import { createClient } from '../client/createClient.ts';
import { createKeystore } from '../keystore/createKeystore.ts';
import { loadOrCreateKeystore } from '../keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../logger.ts';
import { deploymentFileJson } from '../protocol/deployment.ts';
import { checkSettlement, type SettlementCheck } from './checkSettlement.ts';
import { fundDevnetAccounts } from './fundDevnetAccounts.ts';
import { type DemoSummary, runDemo } from './runDemo.ts';
import { type RenderDemoSummary, runRenderDemo } from './runRenderDemo.ts';
import type { TrainDemoSummary } from './runTrainDemo.ts';
import { type NodeChild, spawnPlexus } from './spawnNode.ts';

/**
 * How long a devnet waits for each process to start and for the providers to connect. A deadline,
 * not a delay: on a busy 2-core machine a start (TypeScript load, keystore scrypt, onnxruntime)
 * has taken over a minute, and a deadline only matters when something is really stuck.
 */
const START_TIMEOUT_MS = 180_000;

/**
 * Password of the devnet's throwaway keys. The devnet is a local playground: never reuse its keys
 * (or this password) on a real network.
 */
export const DEVNET_PASSWORD = 'plexus-devnet-only';
/** Cheaper scrypt for the devnet's throwaway keys, so start-up stays quick on small machines. */
const DEVNET_SCRYPT = { n: 2 ** 14, r: 8, p: 1 };
const REGIONS = ['eu-west', 'us-east', 'ap-south', 'sa-east', 'af-south'];
/**
 * Devnet epoch length in seconds: short, so an epoch settles within a demo. The escrow's withdrawal
 * delay is two epochs (the contract wants at least one) and the unbonding period three, so both can
 * be tried by hand in a minute.
 */
export const DEVNET_EPOCH_SECONDS = 20;

export type Devnet = {
  /** The coordinator's URL; with `replicas`, every replica's, separated by commas (the SDK takes that). */
  coordinatorUrl: string;
  /** The three independent validators' APIs (signatures, disputes, metrics). */
  validatorUrls: string[];
  /** The local chain (anvil) and the Plexus contracts deployed on it. */
  chain: {
    rpcUrl: string;
    deployment: PlexusDeployment;
    /** Epoch length in seconds (also `deployment.epochDuration`, as a bigint). */
    epochDuration: number;
  };
  children: NodeChild[];
  /** The three validator processes (their logs, for a test's failure message). */
  validators: NodeChild[];
  /**
   * Funds a provider key (created if missing) from the treasury and registers it on chain with the
   * minimum stake, as the devnet does for its own providers: a provider started later with this key
   * takes work (the coordinator gives work only to providers active on chain).
   */
  registerProvider(keystore: string, region: string): Promise<void>;
  runDemo(images?: number): Promise<DemoSummary>;
  /** `--demo train`: MNIST CNN DiLoCo job, one worker per provider (runTrainDemo.ts). */
  runTrainDemo(rounds?: number): Promise<TrainDemoSummary>;
  /** The render demo (runRenderDemo.ts): its frames and video go to `dataDir/render-demo`. */
  runRenderDemo(frames?: number): Promise<RenderDemoSummary>;
  /** Waits for the demo's epoch to settle, claims for one provider and checks it against the ledger. */
  checkSettlement(timeoutMs?: number): Promise<SettlementCheck>;
  stop(): Promise<void>;
};

/** A TCP port free on 127.0.0.1 now (for a validator's API). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts anvil on a free port and deploys the Plexus contracts with a 2-of-3 validator set made of
 * anvil's funded dev accounts 1–3 (account 0 deploys and holds the genesis supply), with
 * `epochSeconds`-long epochs. The deployment is written to `dataDir/deployment.json` for other tools
 * (`plexus provider|client … --deployment FILE`).
 */
async function startLocalChain(
  dataDir: string,
  epochSeconds: number,
): Promise<{
  anvil: AnvilInstance;
  deployment: PlexusDeployment;
  validatorKeystores: string[];
  submitterKeystore: string;
  /** The submitter's address: the network's identity, which signs every epoch claim. */
  submitterAddress: string;
}> {
  // Blocks every second besides one per transaction: the chain's clock must follow the wall
  // clock for epochs to end on time.
  const anvil = await startAnvil({ port: 0, blockTime: 1, mixedMining: true });
  try {
    const [deployerKey, ...rest] = anvil.privateKeys;
    const deployer = privateKeyToAccount(deployerKey!);
    const transport = http(anvil.rpcUrl);
    const publicClient = createPublicClient({ chain: anvil.chain, transport });
    const walletClient = createWalletClient({ account: deployer, chain: anvil.chain, transport });
    const validators = rest.slice(0, 3).map((k) => privateKeyToAccount(k).address);
    const epochDuration = BigInt(epochSeconds);
    const deployment = await deployPlexus({
      publicClient,
      walletClient,
      validators,
      threshold: 2,
      epochDuration,
      withdrawalDelay: 2n * epochDuration,
      unbondingPeriod: 3n * epochDuration,
    });
    // Each of the three validator processes gets its own key (the 2-of-3 quorum), kept in an
    // encrypted keystore like every other devnet key; the coordinator holds none of them; it sends
    // finalize transactions from a fourth dev account that signs nothing.
    const validatorKeystores: string[] = [];
    for (const [i, key] of rest.slice(0, 3).entries()) {
      const path = join(dataDir, 'validators', `validator-${i + 1}.json`);
      await rm(path, { force: true });
      await createKeystore(path, DEVNET_PASSWORD, { privateKey: key, scrypt: DEVNET_SCRYPT });
      validatorKeystores.push(path);
    }
    const submitterKeystore = join(dataDir, 'submitter.json');
    await rm(submitterKeystore, { force: true });
    await createKeystore(submitterKeystore, DEVNET_PASSWORD, { privateKey: rest[3]!, scrypt: DEVNET_SCRYPT });
    await writeFile(
      join(dataDir, 'deployment.json'),
      deploymentFileJson({ rpcUrl: anvil.rpcUrl, ...deployment }),
    );
    const submitterAddress = privateKeyToAccount(rest[3]!).address;
    return { anvil, deployment, validatorKeystores, submitterKeystore, submitterAddress };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

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
  /** Epoch length in seconds (default DEVNET_EPOCH_SECONDS). */
  epochSeconds?: number;
  /**
   * Coordinator replicas (default 1), all on `store`, each with its own data folder and port
   * (`port`, `port + 1`, …); providers get every replica's URL, each starting at a different one.
   */
  replicas?: number;
  /** The coordinators' store (`postgres://…`, an empty database); required with replicas > 1. */
  store?: string;
  /**
   * The whole start's deadline in ms (default: START_TIMEOUT_MS for each step): a test that must
   * finish within its own budget fails with the step that was late instead of outrunning it.
   */
  startWithin?: number;
}): Promise<Devnet> {
  const epochSeconds = opts.epochSeconds ?? DEVNET_EPOCH_SECONDS;
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const dataDir = resolve(opts.dataDir);
  const n = opts.providers ?? 3;
  const replicas = opts.replicas ?? 1;
  const startDeadline = opts.startWithin === undefined ? undefined : Date.now() + opts.startWithin;
  /** How long the next start step may take: its own bound, or what is left of `startWithin`. */
  const startWait = () =>
    startDeadline === undefined
      ? START_TIMEOUT_MS
      : Math.max(1, Math.min(START_TIMEOUT_MS, startDeadline - Date.now()));
  if (replicas > 1 && !opts.store?.startsWith('postgres'))
    throw new Error('--replicas needs --store postgres://… (replicas share one PostgreSQL database)');
  await mkdir(dataDir, { recursive: true });
  const quiet = createLogger('devnet', { level: 'warn' });
  const env = { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: opts.logLevel ?? 'info' };
  const children: NodeChild[] = [];
  /** The validator processes, apart from `children` (coordinator first, then providers). */
  const validatorChildren: NodeChild[] = [];
  let anvil: AnvilInstance | undefined;
  const stop = async () => {
    // Providers drain first (they finish and report running tasks), then the coordinator stops.
    const isCoordinator = (c: NodeChild) => c.name.startsWith('coordinator');
    await Promise.all(children.filter((c) => !isCoordinator(c)).map((c) => c.stop()));
    await Promise.all(validatorChildren.map((c) => c.stop()));
    await Promise.all(children.filter(isCoordinator).map((c) => c.stop()));
    await anvil?.stop();
  };
  try {
    const chain = await startLocalChain(dataDir, epochSeconds);
    anvil = chain.anvil;
    print(`chain        ${anvil.rpcUrl} (anvil, chain id ${anvil.chain.id})`);
    print(
      `contracts    token ${chain.deployment.token}, registry ${chain.deployment.registry}, escrow ${chain.deployment.escrow}, settlement ${chain.deployment.settlement} (${chain.deployment.threshold}-of-${chain.deployment.validators.length} validators, ${epochSeconds} s epochs)`,
    );
    await fundDevnetAccounts({
      rpcUrl: anvil.rpcUrl,
      deployment: chain.deployment,
      treasuryKey: anvil.privateKeys[0]!,
      providers: Array.from({ length: n }, (_, i) => ({
        keystore: join(dataDir, `provider-${i + 1}`, 'key.json'),
        region: REGIONS[i % REGIONS.length]!,
      })),
      client: { keystore: join(dataDir, 'client', 'key.json') },
      password: DEVNET_PASSWORD,
      scrypt: DEVNET_SCRYPT,
      logger: quiet,
      print,
    });
    // Validator ports first: the coordinator is told where to pull signatures from at start.
    const validatorPorts: number[] = [];
    for (let i = 0; i < chain.validatorKeystores.length; i++) validatorPorts.push(await freePort());
    const validatorUrls = validatorPorts.map((p) => `http://127.0.0.1:${p}`);
    const replicaUrls: string[] = [];
    const basePort = opts.port ?? 8080;
    const startReplica = async (r: number) => {
      const name = replicas === 1 ? 'coordinator' : `coordinator-${r + 1}`;
      const coordinator = spawnPlexus(
        name,
        [
          'coordinator',
          '--port',
          String(basePort === 0 ? 0 : basePort + r),
          '--data-dir',
          join(dataDir, name),
          '--chain-id',
          String(anvil!.chain.id),
          '--deployment',
          join(dataDir, 'deployment.json'),
          '--epoch-seconds',
          String(epochSeconds),
          '--validator-url',
          ...validatorUrls,
          '--submitter-keystore',
          chain.submitterKeystore,
          ...(opts.store ? ['--store', opts.store] : []),
        ],
        { env, print },
      );
      children[r] = coordinator;
      const ready = await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', startWait());
      return { name, url: ready.url };
    };
    // The first replica creates the schema; the others then start together.
    const up = [await startReplica(0)];
    up.push(...(await Promise.all(Array.from({ length: replicas - 1 }, (_, r) => startReplica(r + 1)))));
    for (const { name, url } of up) {
      replicaUrls.push(url);
      print(`${name.padEnd(12)} ${url}  (API /v1, OpenAPI ${url}/docs, metrics ${url}/metrics)`);
    }
    const url = replicaUrls.join(',');
    // Validators follow the replicas as one network (a comma-separated list: each epoch decided
    // once, from whichever replica answers; one that stops answering is left for the next).
    const validatorCoordinator = replicaUrls[0]!;
    // Three independent validators (docs/validators.md): each its own key and store, each re-running
    // every epoch from the coordinator's evidence before it signs.
    for (const [i, keystore] of chain.validatorKeystores.entries()) {
      const v = spawnPlexus(
        `validator-${i + 1}`,
        [
          'validator',
          'start',
          '--keystore',
          keystore,
          '--deployment',
          join(dataDir, 'deployment.json'),
          '--coordinator',
          replicaUrls.join(','),
          // Only claims the network's key signed are acted on (docs/validators.md, "Whose claim").
          '--coordinator-key',
          chain.submitterAddress,
          '--data-dir',
          join(dataDir, `validator-${i + 1}`),
          '--port',
          String(validatorPorts[i]),
        ],
        { env, print },
      );
      validatorChildren.push(v);
    }
    // Providers start while the validators do (they need only the coordinator): a provider's start
    // (Blender's probe, onnxruntime's workers) is the longest step of a devnet's.
    const validatorsReady = Promise.all(
      validatorChildren.map((v) => v.waitFor('PLEXUS_VALIDATOR_READY', startWait())),
    );
    validatorsReady.catch(() => {});

    const clientAccount = await loadOrCreateKeystore(join(dataDir, 'client', 'key.json'), DEVNET_PASSWORD, {
      scrypt: DEVNET_SCRYPT,
      logger: quiet,
      role: 'client',
    });
    // The providers share this machine's cores with each other and the coordinator: each gets its
    // share rather than onnxruntime's one thread per core, which n providers running at once would
    // oversubscribe n times (measured in docs/benchmarks.md, "e2e-overhead").
    const cores = Math.max(1, Math.floor(availableParallelism() / n));
    for (let i = 1; i <= n; i++) {
      const dir = join(dataDir, `provider-${i}`);
      const p = spawnPlexus(
        `provider-${i}`,
        [
          'provider',
          'start',
          '--coordinator',
          // Every replica, starting at a different one per provider (they spread over replicas).
          [...replicaUrls.slice((i - 1) % replicas), ...replicaUrls.slice(0, (i - 1) % replicas)].join(','),
          '--data-dir',
          dir,
          '--region',
          REGIONS[(i - 1) % REGIONS.length]!,
          '--cores',
          String(cores),
        ],
        { env, print },
      );
      children.push(p);
    }
    const started = await Promise.all(
      children
        .slice(replicas)
        .map((c) => c.waitFor<{ address: string }>('PLEXUS_PROVIDER_STARTED', startWait())),
    );
    await validatorsReady;
    print(`validators   ${validatorUrls.join(', ')}  (2 of 3 sign; disputes at /v1/disputes)`);
    for (const [i, s] of started.entries()) print(`provider-${i + 1}   ${s.address}`);
    // Each replica counts the providers connected to it.
    const online = async () => {
      let sum = 0;
      for (const u of replicaUrls) sum += (await createClient({ url: u }).health()).providersOnline;
      return sum;
    };
    const deadline = Date.now() + startWait();
    while ((await online()) < n) {
      if (Date.now() > deadline) throw new Error(`only ${await online()}/${n} providers connected in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
    print(`${n} provider${n === 1 ? '' : 's'} online`);
    const signer = createClient({ url, account: clientAccount });
    return {
      coordinatorUrl: url,
      validatorUrls,
      chain: { rpcUrl: anvil.rpcUrl, deployment: chain.deployment, epochDuration: epochSeconds },
      children,
      validators: validatorChildren,
      registerProvider: async (keystore: string, region: string) => {
        await fundDevnetAccounts({
          rpcUrl: anvil!.rpcUrl,
          deployment: chain.deployment,
          treasuryKey: anvil!.privateKeys[0]!,
          providers: [{ keystore, region }],
          password: DEVNET_PASSWORD,
          scrypt: DEVNET_SCRYPT,
          logger: quiet,
        });
      },
      runDemo: (images?: number) => runDemo(signer, { ...(images ? { images } : {}), print }),
      runTrainDemo: async (rounds?: number) => {
        // Loaded only for this demo: TF.js and the `mnist` digits.
        const { runTrainDemo } = await import('./runTrainDemo.ts');
        return runTrainDemo(signer, { workers: n, ...(rounds ? { rounds } : {}), print });
      },
      runRenderDemo: (frames?: number) =>
        runRenderDemo(signer, { outDir: join(dataDir, 'render-demo'), ...(frames ? { frames } : {}), print }),
      checkSettlement: (timeoutMs?: number) =>
        checkSettlement({
          url: validatorCoordinator,
          rpcUrl: anvil!.rpcUrl,
          deployment: chain.deployment,
          dbPath: opts.store ?? join(dataDir, 'coordinator', 'plexus.db'),
          relayerKey: anvil!.privateKeys[0]!,
          ...(timeoutMs ? { timeoutMs } : {}),
        }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
