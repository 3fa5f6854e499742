/**
 * What every on-chain CLI command shares (`plexus provider register|stake|unbond|status|rewards|claim`,
 * `plexus client deposit|withdraw|balance`): the options that say which chain and contracts to use,
 * opening the participant's keystore, turning viem failures into `PLX_…` errors, and printing a
 * result for people or, with `--json`, as one JSON object for scripts.
 */
import { access } from 'node:fs/promises';
import type { Command } from 'commander';
import { BaseError, HttpRequestError, InsufficientFundsError, TimeoutError } from 'viem';
import type { PrivateKeyAccount } from 'viem/accounts';
import { z } from 'zod';
import { type ConnectPlexusParameters, connectPlexus } from '../chain/connectPlexus.ts';
import type { PlexusAddresses, PlexusReader, PlexusWriter } from '../chain/types.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import {
  type KeyRole,
  loadOrCreateKeystore,
  openExistingKeystore,
} from '../keystore/loadOrCreateKeystore.ts';
import { readPassword } from '../keystore/readPassword.ts';
import { readDeploymentFile } from '../protocol/deployment.ts';
import { chainInfoSchema } from '../protocol/http/chain.ts';
import { fetchCoordinator } from './fetchCoordinator.ts';
import { formatEth, localTime } from './format.ts';
import { DEFAULT_COORDINATOR } from './options.ts';

/** The options addChainOptions adds. */
export type ChainCliOptions = {
  coordinator: string;
  deployment?: string;
  rpcUrl?: string;
  json: boolean;
};

const httpUrlSchema = z.url({ protocol: /^https?$/ });

/**
 * Adds `--coordinator`, `--deployment`, `--rpc-url` and `--json` to a command.
 *
 * @example
 * addChainOptions(cmd.command('balance')).action(async (o: ChainCliOptions) => { … });
 */
export function addChainOptions(cmd: Command): Command {
  return cmd
    .option(
      '--coordinator <url>',
      'coordinator base URL: the chain comes from its GET /v1/chain unless --deployment is given',
      DEFAULT_COORDINATOR,
    )
    .option(
      '--deployment <file>',
      'deployment JSON with chainId and contract addresses (the devnet writes DATA_DIR/deployment.json)',
      process.env.PLEXUS_DEPLOYMENT,
    )
    .option(
      '--rpc-url <url>',
      'chain JSON-RPC URL (default: the one in the deployment file or in GET /v1/chain)',
      process.env.PLEXUS_RPC_URL,
    )
    .option('--json', 'print one JSON object (amounts as decimal strings of base units)', false);
}

/**
 * Where the chain and the contracts are: from `--deployment FILE` when given, else from the
 * coordinator's `GET /v1/chain`; `--rpc-url` overrides the RPC URL either names.
 *
 * @example
 * const params = await resolveChain({ coordinator: 'http://127.0.0.1:8080', json: false });
 */
export async function resolveChain(o: ChainCliOptions): Promise<ConnectPlexusParameters> {
  const found: { chainId: number; rpcUrl?: string | undefined } & PlexusAddresses =
    o.deployment !== undefined
      ? await readDeploymentFile(o.deployment, '--deployment')
      : await fetchCoordinator(o.coordinator, '/v1/chain', chainInfoSchema);
  const rpcUrl = o.rpcUrl ?? found.rpcUrl;
  if (rpcUrl === undefined)
    throw new PlexusError('PLX_VALIDATION', `${o.deployment} names no rpcUrl: give --rpc-url`);
  if (!httpUrlSchema.safeParse(rpcUrl).success)
    throw new PlexusError(
      'PLX_VALIDATION',
      `--rpc-url must be an http(s) URL, got ${JSON.stringify(rpcUrl)}`,
    );
  const { chainId, token, registry, escrow, settlement } = found;
  return { rpcUrl, chainId, addresses: { token, registry, escrow, settlement } };
}

/**
 * Resolves the chain and connects to it, read-only, after checking that the RPC serves the chain
 * the deployment is on (so nothing is ever signed for the wrong chain).
 *
 * @example
 * const reader = await connectReader(o);
 */
export async function connectReader(
  o: ChainCliOptions,
): Promise<PlexusReader & { params: ConnectPlexusParameters }> {
  const params = await resolveChain(o);
  const reader = connectPlexus(params);
  const served = await reader.publicClient.getChainId().catch((err: unknown) => {
    throw toCliError(err);
  });
  if (served !== params.chainId)
    throw new PlexusError(
      'PLX_VALIDATION',
      `the RPC at ${params.rpcUrl} serves chain ${served}, but the contracts are on chain ${params.chainId}`,
    );
  return { ...reader, params };
}

/**
 * Opens the participant's encrypted key, with the password from `PLEXUS_KEYSTORE_PASSWORD` or a
 * hidden prompt, and connects a writer with it. Only commands that start an identity
 * (`create: true`: `provider register`, `client deposit`) create a missing key file; the others
 * fail with `PLX_KEYSTORE_MISSING` naming the path.
 *
 * @example
 * const writer = await connectWriter(o, '.plexus/provider/key.json', 'Provider keystore password: ', { role: 'provider', create: true });
 */
export async function connectWriter(
  o: ChainCliOptions,
  keystore: string,
  prompt: string,
  key: { role: KeyRole; create: boolean },
): Promise<PlexusWriter & { account: PrivateKeyAccount; params: ConnectPlexusParameters }> {
  // The key file is checked before the chain is contacted: a typo in --data-dir is the likelier mistake.
  if (!key.create) await access(keystore).catch(() => openExistingKeystore(keystore, '', { role: key.role }));
  const reader = await connectReader(o);
  const password = await readPassword({ prompt });
  const account = key.create
    ? await loadOrCreateKeystore(keystore, password, { role: key.role })
    : await openExistingKeystore(keystore, password, { role: key.role });
  const writer = { ...connectPlexus(reader.params, account), account, params: reader.params };
  lastWriter = writer;
  return writer;
}

/**
 * Maps what a chain call can throw to a PlexusError: PlexusErrors (a ChainRevertError with the
 * decoded reason, a validation error) pass through; an RPC that does not answer is
 * `PLX_UPSTREAM_UNAVAILABLE`; an account without ETH for gas is `PLX_INSUFFICIENT_GAS`; anything else
 * from viem is `PLX_INTERNAL` with viem's short message.
 *
 * @example
 * try { … } catch (err) { throw toCliError(err); }
 */
export function toCliError(err: unknown): unknown {
  if (err instanceof PlexusError || !(err instanceof BaseError)) return err;
  const http = err.walk((e) => e instanceof HttpRequestError);
  if (http instanceof HttpRequestError || err.walk((e) => e instanceof TimeoutError) !== null) {
    const url = http instanceof HttpRequestError ? http.url : undefined;
    return new PlexusError(
      'PLX_UPSTREAM_UNAVAILABLE',
      `the chain RPC ${url ?? ''} did not answer: ${err.shortMessage}`,
      {
        details: { rpcUrl: url },
        cause: err,
      },
    );
  }
  if (err.walk((e) => e instanceof InsufficientFundsError) !== null) return gasError(err);
  return new PlexusError('PLX_INTERNAL', err.shortMessage, { cause: err });
}

/**
 * Runs a command body against the chain, mapping its failures with toCliError.
 *
 * @example
 * .action((o) => onChain(async () => { … }))
 */
export async function onChain(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    const mapped = toCliError(err);
    if (mapped instanceof PlexusError && mapped.code === 'PLX_INSUFFICIENT_GAS' && lastWriter)
      throw await withGasAmounts(mapped, lastWriter);
    throw mapped;
  }
}

/** The writer the command connected last: the account and RPC a gas shortfall is about. */
let lastWriter: (PlexusWriter & { account: PrivateKeyAccount }) | undefined;

/** Gas of one registry or escrow transaction, rounded up (approve ≈ 50k, register ≈ 250k). */
const TYPICAL_TX_GAS = 300_000n;

/**
 * Adds what the account has and roughly what a transaction costs at the current gas price: nodes
 * like anvil say only "insufficient funds", and a person needs a number to know what to send.
 */
async function withGasAmounts(
  err: PlexusError,
  w: PlexusWriter & { account: PrivateKeyAccount },
): Promise<PlexusError> {
  if (err.details?.have !== undefined) return err;
  try {
    const address = w.account.address;
    const [have, gasPrice] = await Promise.all([
      w.publicClient.getBalance({ address }),
      w.publicClient.getGasPrice(),
    ]);
    const want = gasPrice * TYPICAL_TX_GAS;
    return new PlexusError(
      'PLX_INSUFFICIENT_GAS',
      `the account ${address} has ${formatEth(have)} but a transaction needs about ${formatEth(want)} of gas (${TYPICAL_TX_GAS} gas at ${formatEth(gasPrice)} per gas); send it ETH, or on a devnet run plexus devnet faucet ${address}`,
      { details: { address, have: have.toString(), want: want.toString() }, cause: err.cause },
    );
  } catch {
    return err;
  }
}

/**
 * Prints a result: `lines` for people, or with `--json` the `json` object on one line (bigints as
 * decimal strings of base units).
 *
 * @example
 * report(o, { address, balance }, [`balance ${formatPlx(balance)}`]);
 */
export function report(o: { json: boolean }, json: Record<string, unknown>, lines: string[]): void {
  if (o.json) console.log(JSON.stringify(json, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  else for (const line of lines) console.log(line);
}

/**
 * A unix time in seconds as a local date and time, for people.
 *
 * @example
 * isoTime(1767225600n); // '2026-01-01 01:00:00 +01:00' in Paris
 */
export function isoTime(seconds: bigint): string {
  return localTime(seconds);
}

/**
 * `PLX_INSUFFICIENT_GAS` for a transaction the account cannot pay gas for: the sender, what it has
 * and what was needed (from the node's `have X want Y` when it says), and where devnet ETH comes from.
 */
function gasError(err: BaseError): PlexusError {
  const text = `${err.message} ${err.details ?? ''}`;
  const m = /have (\d+) want (\d+)/.exec(text);
  const sender = (
    err.walk((e) => typeof (e as { sender?: unknown }).sender === 'string') as { sender?: string } | null
  )?.sender;
  const from = /from:\s*(0x[0-9a-fA-F]{40})/.exec(text)?.[1];
  const who = sender ?? from;
  const amounts = m
    ? `: it has ${formatEth(BigInt(m[1]!))}, the transaction needs ${formatEth(BigInt(m[2]!))}`
    : '';
  return new PlexusError(
    'PLX_INSUFFICIENT_GAS',
    `the account ${who ?? ''} has not enough ETH to pay for gas${amounts}; send it ETH, or on a devnet run plexus devnet faucet ${who ?? 'ADDRESS'}`,
    { details: { ...(who ? { address: who } : {}), ...(m ? { have: m[1], want: m[2] } : {}) }, cause: err },
  );
}
