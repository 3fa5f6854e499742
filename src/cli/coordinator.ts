import { Command } from 'commander';
import { startCoordinator } from '../coordinator/createCoordinator.ts';
import { intOption, plxAmountOption } from './options.ts';

/**
 * What `startCoordinator` takes besides its config: `plexus` passes nothing; a test entry script
 * passes its hooks (test/helpers/crashingCoordinator.ts), so it runs exactly the CLI's command.
 */
export type CoordinatorHooks = NonNullable<Parameters<typeof startCoordinator>[1]>;

/**
 * `plexus coordinator`: runs a coordinator until SIGINT/SIGTERM.
 *
 * @example
 * await coordinatorCommand().parseAsync(['--port', '0'], { from: 'user' });
 */
export function coordinatorCommand(hooks: CoordinatorHooks = {}): Command {
  return new Command('coordinator')
    .description('run a coordinator (HTTP API, provider WebSocket, scheduler, store)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', intOption(0, 65535), 8080)
    .option('--data-dir <dir>', 'folder for the SQLite store and blobs', '.plexus/coordinator')
    .option(
      '--store <url>',
      'store: postgres://… for a PostgreSQL database (default: the SQLite file in --data-dir; docs/scaling.md)',
    )
    .option('--chain-id <id>', 'chain id of the EIP-712 domain', intOption(1, 2 ** 31), 31337)
    .option(
      '--scheduler <name>',
      'predictive (learns provider speed) or least-loaded (O(log n), huge fleets)',
      'predictive',
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug', 'info')
    .option(
      '--deployment <file>',
      'deployment JSON (the devnet writes dataDir/deployment.json); enables settlement',
    )
    .option('--rpc-url <url>', "chain RPC (default: the deployment file's rpcUrl)")
    .option(
      '--block-explorer-url <url>',
      'a block explorer of the chain: the explorer links transaction hashes to URL/tx/HASH (e.g. https://etherscan.io)',
    )
    .option(
      '--validator-url <urls...>',
      'independent validators (plexus validator start) to collect epoch signatures from; the coordinator then holds no validator key',
    )
    .option(
      '--submitter-keystore <file>',
      'with --validator-url: the key that sends finalize transactions (gas only; password as below)',
    )
    .option(
      '--validator-keystore <files...>',
      'legacy, tests only: validator keystores this process signs with itself (password: $PLEXUS_VALIDATOR_PASSWORD or $PLEXUS_KEYSTORE_PASSWORD)',
    )
    .option(
      '--epoch-seconds <n>',
      "epoch length; must equal the deployment's",
      intOption(1, 30 * 86400),
      3600,
    )
    .option(
      '--emission-per-epoch <amount>',
      'PLX minted per epoch for online providers, e.g. 100PLX',
      plxAmountOption,
    )
    .option(
      '--mqtt-url <url>',
      'MQTT broker for sensor ingestion (e.g. mqtt://127.0.0.1:1883); off without it',
    )
    .option(
      '--sensor-emission-per-epoch <amount>',
      'PLX minted per epoch for sensor device owners by quality (default 50PLX)',
      plxAmountOption,
    )
    .option(
      '--sensor-price-per-reading <amount>',
      'price of one dataset reading (default 0.000001PLX)',
      plxAmountOption,
    )
    .option(
      '--sensor-readings-per-sec <n>',
      'per-device ingest limit, readings/s sustained',
      intOption(1, 10_000_000),
    )
    .option('--rate-limit-per-minute <n>', 'HTTP requests per minute from one IP', intOption(1, 100_000_000))
    .option(
      '--max-event-streams-per-ip <n>',
      'open event streams (SSE) from one IP (default 64)',
      intOption(1, 1000),
    )
    .option('--storage-window-ms <n>', 'storage challenge window (docs/storage.md)', intOption(100, 2 ** 31))
    .option('--storage-deadline-ms <n>', 'storage challenge answer deadline', intOption(10, 2 ** 31))
    .option(
      '--storage-offline-grace-ms <n>',
      'how long a holder offline at a window opening has to come back and answer (default 120000)',
      intOption(0, 2 ** 31),
    )
    .option(
      '--storage-local-serve-addresses',
      'accept loopback, private and named --serve-address hosts from providers (a local network; default: only when --host is loopback)',
    )
    .option(
      '--storage-price <amount>',
      'price of one GiB of pieces kept one epoch (default 0.001PLX; docs/storage.md, "Money")',
      plxAmountOption,
    )
    .action(
      async (o: {
        host: string;
        port: number;
        dataDir: string;
        store?: string;
        chainId: number;
        scheduler: string;
        logLevel: string;
        deployment?: string;
        rpcUrl?: string;
        blockExplorerUrl?: string;
        validatorKeystore?: string[];
        validatorUrl?: string[];
        submitterKeystore?: string;
        epochSeconds: number;
        emissionPerEpoch?: bigint;
        mqttUrl?: string;
        sensorEmissionPerEpoch?: bigint;
        sensorPricePerReading?: bigint;
        sensorReadingsPerSec?: number;
        rateLimitPerMinute?: number;
        maxEventStreamsPerIp?: number;
        storageWindowMs?: number;
        storageDeadlineMs?: number;
        storageOfflineGraceMs?: number;
        storagePrice?: bigint;
        storageLocalServeAddresses?: boolean;
      }) => {
        const c = await startCoordinator(
          {
            host: o.host,
            port: o.port,
            dataDir: o.dataDir,
            ...(o.store ? { store: o.store } : {}),
            chainId: o.chainId,
            scheduler: o.scheduler as 'predictive',
            logLevel: o.logLevel as 'info',
            epochSeconds: o.epochSeconds,
            validatorKeystores: o.validatorKeystore ?? [],
            validatorUrls: o.validatorUrl ?? [],
            ...(o.submitterKeystore ? { submitterKeystore: o.submitterKeystore } : {}),
            validatorPassword:
              process.env.PLEXUS_VALIDATOR_PASSWORD ?? process.env.PLEXUS_KEYSTORE_PASSWORD ?? '',
            ...(o.deployment ? { deployment: o.deployment } : {}),
            ...(o.rpcUrl ? { rpcUrl: o.rpcUrl } : {}),
            ...(o.blockExplorerUrl ? { blockExplorerUrl: o.blockExplorerUrl.replace(/\/+$/, '') } : {}),
            ...(o.emissionPerEpoch !== undefined ? { emissionPerEpoch: o.emissionPerEpoch.toString() } : {}),
            ...(o.mqttUrl ? { mqttUrl: o.mqttUrl } : {}),
            ...(o.sensorEmissionPerEpoch !== undefined
              ? { sensorEmissionPerEpoch: o.sensorEmissionPerEpoch.toString() }
              : {}),
            ...(o.sensorPricePerReading !== undefined
              ? { sensorPricePerReading: o.sensorPricePerReading.toString() }
              : {}),
            ...(o.sensorReadingsPerSec !== undefined ? { sensorReadingsPerSec: o.sensorReadingsPerSec } : {}),
            ...(o.rateLimitPerMinute !== undefined ? { rateLimitPerMinute: o.rateLimitPerMinute } : {}),
            ...(o.maxEventStreamsPerIp !== undefined ? { maxEventStreamsPerIp: o.maxEventStreamsPerIp } : {}),
            storage: {
              ...(o.storageWindowMs !== undefined ? { windowMs: o.storageWindowMs } : {}),
              ...(o.storageDeadlineMs !== undefined ? { deadlineMs: o.storageDeadlineMs } : {}),
              ...(o.storageOfflineGraceMs !== undefined ? { offlineGraceMs: o.storageOfflineGraceMs } : {}),
              ...(o.storagePrice !== undefined ? { pricePerGiBEpoch: o.storagePrice.toString() } : {}),
              ...(o.storageLocalServeAddresses ? { localServeAddresses: true } : {}),
            },
          },
          hooks,
        );
        // One machine-readable line on stdout so a supervisor (the devnet) learns the URL.
        console.log(`PLEXUS_COORDINATOR_READY ${JSON.stringify({ url: c.url })}`);
        let stopping = false;
        const stop = async () => {
          if (stopping) return;
          stopping = true;
          await c.stop();
          process.exit(0);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );
}
