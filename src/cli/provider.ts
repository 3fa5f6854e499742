import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { type AgentBehaviour, parseBehaviour } from '../provider/agent/behaviour.ts';
import { STORAGE_BEHAVIOURS, type StorageBehaviour } from '../provider/storage/storageCheats.ts';
import { DEFAULT_COORDINATOR, intOption, plxAmountOption } from './options.ts';
import { addProviderChainCommands } from './providerChain.ts';
import { addProviderDoctor } from './providerDoctor.ts';

/**
 * `plexus provider start`: runs a provider agent until SIGINT/SIGTERM (which drain first); and the
 * on-chain subcommands (register, stake, unbond, status, rewards, claim) from providerChain.ts.
 */
export function providerCommand(): Command {
  const cmd = new Command('provider').description('run and manage a provider agent');
  cmd
    .command('start')
    .description('connect to a coordinator and take work')
    .option(
      '--coordinator <url>',
      'coordinator base URL, or several replicas as URL1,URL2',
      DEFAULT_COORDINATOR,
    )
    .option('--data-dir <dir>', 'folder for the key and the blob cache', '.plexus/provider')
    .option('--keystore <file>', 'encrypted key file (created if missing; default DATA_DIR/key.json)')
    .option('--slots <n>', 'tasks run at once', intOption(1, 256), 1)
    .option(
      '--prefetch <n>',
      'tasks leased ahead of those running, so their inputs download meanwhile (default: 3 per slot)',
      intOption(0, 1024),
    )
    .option(
      '--cores <n>',
      'CPU cores inference may use, divided among the slots (default: all)',
      intOption(1, 1024),
    )
    .option('--region <code>', 'region code shown to clients (e.g. eu-west)', 'unknown')
    .option('--cache-budget-mib <n>', 'disk budget of the blob cache', intOption(16, 10_000_000), 10_240)
    .option('--no-gpu', 'do not offer the GPU even if there is one')
    .option(
      '--blender <path>',
      'Blender for render jobs (default: blender on the PATH; none: take no render work)',
    )
    .option('--no-warm-blender', 'start a Blender per render task instead of keeping one per scene warm')
    .option(
      '--floor-price <class=amount...>',
      'least price per unit you work for, e.g. cpu=0.00005PLX gpu:nvidia-h100-80gb-hbm3=0.001PLX',
      floorPriceOption,
    )
    .option(
      '--storage-gib <n>',
      'disk offered to the storage network, GiB (checked against free space)',
      parseGib,
    )
    .option('--storage-dir <dir>', 'folder for stored pieces (default DATA_DIR/storage)')
    .option(
      '--serve-address <host:port>',
      'a reachable address: serve stored pieces to readers directly there, not through the relay',
      parseServeAddress,
    )
    .addOption(
      new Option('--storage-behaviour <b>', 'TEST ONLY: a dishonest storage holder')
        .choices(STORAGE_BEHAVIOURS)
        .hideHelp(),
    )
    // Hidden test option: the adversary harness of the verification tests (docs/verification.md).
    .addOption(
      new Option('--behaviour <b>', 'TEST ONLY: misbehave (always-wrong, wrong:P, lazy-zeros, …)')
        .argParser(parseBehaviour)
        .hideHelp(),
    )
    .action(
      async (o: {
        coordinator: string;
        dataDir: string;
        keystore?: string;
        slots: number;
        prefetch?: number;
        cores?: number;
        region: string;
        cacheBudgetMib: number;
        gpu: boolean;
        blender?: string;
        warmBlender: boolean;
        behaviour?: AgentBehaviour;
        floorPrice?: Record<string, bigint>;
        storageGib?: number;
        storageDir?: string;
        serveAddress?: string;
        storageBehaviour?: StorageBehaviour;
      }) => {
        // Loaded here, not at the top: the agent pulls in onnxruntime, which other commands never need.
        const { loadOrCreateKeystore } = await import('../keystore/loadOrCreateKeystore.ts');
        const { readPassword } = await import('../keystore/readPassword.ts');
        const { startProvider } = await import('../provider/agent/startProvider.ts');
        const password = await readPassword({ prompt: 'Provider keystore password: ' });
        const account = await loadOrCreateKeystore(o.keystore ?? join(o.dataDir, 'key.json'), password, {
          role: 'provider',
        });
        const provider = await startProvider({
          coordinatorUrl: o.coordinator,
          account,
          dataDir: o.dataDir,
          slots: o.slots,
          ...(o.prefetch === undefined ? {} : { prefetch: o.prefetch }),
          ...(o.cores === undefined ? {} : { cores: o.cores }),
          region: o.region,
          cacheBudgetBytes: o.cacheBudgetMib * 1024 * 1024,
          useGpu: o.gpu,
          ...(o.behaviour ? { behaviour: o.behaviour } : {}),
          ...(o.blender ? { blenderPath: o.blender } : {}),
          ...(o.warmBlender ? {} : { warmBlender: false }),
          ...(o.floorPrice ? { floorPrices: o.floorPrice } : {}),
          ...(o.storageGib !== undefined
            ? {
                storage: {
                  capacityBytes: Math.floor(o.storageGib * 2 ** 30),
                  ...(o.storageDir ? { dir: o.storageDir } : {}),
                  ...(o.serveAddress ? { serveAddress: o.serveAddress } : {}),
                  ...(o.storageBehaviour ? { behaviour: o.storageBehaviour } : {}),
                },
              }
            : {}),
        });
        console.log(`PLEXUS_PROVIDER_STARTED ${JSON.stringify({ address: provider.address })}`);
        let stopping = false;
        const stop = async () => {
          if (stopping) return;
          stopping = true;
          await provider.drain();
          process.exit(0);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );
  addProviderChainCommands(cmd);
  addProviderDoctor(cmd);
  return cmd;
}

/** Collects `--floor-price class=amount` values (repeatable) into a map. */
function floorPriceOption(value: string, previous: Record<string, bigint> = {}): Record<string, bigint> {
  const m = /^(cpu|gpu:[a-z0-9-]{1,48})=(.+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('expected CLASS=AMOUNT, e.g. cpu=0.00005PLX');
  return { ...previous, [m[1]!]: plxAmountOption(m[2]!) };
}

/** `--serve-address`: HOST:PORT (an IPv6 host in brackets), the port 0 to 65535. */
function parseServeAddress(value: string): string {
  const m = /^([A-Za-z0-9.-]{1,200}|\[[0-9a-fA-F:]{2,45}\]):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65_535)
    throw new InvalidArgumentError('expected HOST:PORT, e.g. 203.0.113.7:7070');
  return value;
}

/** `--storage-gib`: a positive number of GiB (fractions allowed, e.g. 0.5). */
function parseGib(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 1_000_000)
    throw new InvalidArgumentError('expected GiB > 0, e.g. 10 or 0.5');
  return n;
}
