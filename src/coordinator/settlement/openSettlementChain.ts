import type { Kysely } from 'kysely';
import { type Address, createWalletClient, http, type LocalAccount } from 'viem';
import { getSettlementState } from '../../chain/actions/coordinator/getSettlementState.ts';
import { connectPlexus } from '../../chain/connectPlexus.ts';
import type { PlexusWriter } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { openKeystore } from '../../keystore/openKeystore.ts';
import type { Logger } from '../../logger.ts';
import { readDeploymentFile } from '../../protocol/deployment.ts';
import type { ChainInfo } from '../../protocol/http/chain.ts';
import type { Database } from '../store/schema.ts';

export type SettlementChain = {
  writer: PlexusWriter;
  /** Validator keys held here (legacy `--validator-keystore` mode); empty with independent validators. */
  validators: LocalAccount[];
  /** The deployment's validator set and signature threshold. */
  validatorSet: Address[];
  threshold: number;
  info: ChainInfo;
  genesisMs: number;
  /** The registry's minimum stake: the stake every active provider has at least. */
  minStake: bigint;
};

/**
 * Connects the coordinator to its deployment: reads the deployment file, decrypts the validator
 * keystores, and checks them against the chain (epoch length, validator set, threshold). The
 * chain's genesis time is kept in the store, so a restart while the chain is down still knows
 * the epoch clock.
 *
 * @example
 * const chain = await openSettlementChain({ db, rpcUrl, deploymentFile, keystores, password, epochSeconds, log });
 */
export async function openSettlementChain(opts: {
  db: Kysely<Database>;
  rpcUrl: string | undefined;
  deploymentFile: string;
  keystores: readonly string[];
  password: string;
  /**
   * With independent validators: the key that sends finalize transactions (pays gas, signs no
   * epoch). It must not be a validator key: the coordinator holds none.
   */
  submitterKeystore?: string;
  /** Independent validators are configured: `keystores` must then be empty. */
  independentValidators?: boolean;
  epochSeconds: number;
  log: Logger;
}): Promise<SettlementChain> {
  const file = await readDeploymentFile(opts.deploymentFile);
  const { validators: validatorSet, threshold, epochDuration, minStake } = file;
  if (!validatorSet || threshold === undefined || epochDuration === undefined || minStake === undefined) {
    throw new PlexusError(
      'PLX_EPOCH_CONFIG',
      `${opts.deploymentFile} lacks validators, threshold, epochDuration or minStake: settlement needs a full deployment`,
    );
  }
  const d = { ...file, validators: validatorSet, threshold, epochDuration, minStake };
  const rpcUrl = opts.rpcUrl ?? d.rpcUrl;
  if (!rpcUrl) throw new PlexusError('PLX_EPOCH_CONFIG', 'no --rpc-url and none in the deployment file');
  if (Number(d.epochDuration) !== opts.epochSeconds) {
    throw new PlexusError(
      'PLX_EPOCH_CONFIG',
      `--epoch-seconds ${opts.epochSeconds} differs from the deployment's epochDuration ${d.epochDuration}`,
    );
  }
  const known = new Set(d.validators.map((v) => v.toLowerCase()));
  const validators: LocalAccount[] = [];
  let sender: LocalAccount;
  if (opts.independentValidators) {
    if (opts.keystores.length > 0)
      throw new PlexusError(
        'PLX_EPOCH_CONFIG',
        'with --validator-url the coordinator holds no validator key',
      );
    if (!opts.submitterKeystore)
      throw new PlexusError(
        'PLX_EPOCH_CONFIG',
        'with --validator-url, --submitter-keystore sends the transactions',
      );
    sender = await openKeystore(opts.submitterKeystore, opts.password, { logger: opts.log });
    if (known.has(sender.address.toLowerCase()))
      throw new PlexusError('PLX_EPOCH_CONFIG', `the submitter ${sender.address} is a validator key`);
  } else {
    if (opts.keystores.length === 0)
      throw new PlexusError(
        'PLX_EPOCH_CONFIG',
        'settlement needs --validator-url (or legacy validator keystores)',
      );
    for (const path of opts.keystores)
      validators.push(await openKeystore(path, opts.password, { logger: opts.log }));
    for (const v of validators) {
      if (!known.has(v.address.toLowerCase()))
        throw new PlexusError('PLX_EPOCH_CONFIG', `${v.address} is not a validator of this deployment`);
    }
    sender = validators[0]!;
  }
  if (!opts.independentValidators && validators.length < d.threshold) {
    throw new PlexusError(
      'PLX_EPOCH_CONFIG',
      `${validators.length} validator keys, threshold is ${d.threshold}`,
    );
  }
  const addresses = { token: d.token, registry: d.registry, escrow: d.escrow, settlement: d.settlement };
  const reader = connectPlexus({ rpcUrl, chainId: d.chainId, addresses });
  // The submitter (or, legacy, the first validator key) sends the finalize transactions: gas only.
  const walletClient = createWalletClient({
    account: sender,
    chain: reader.publicClient.chain,
    transport: http(rpcUrl),
  });
  const ctx: PlexusWriter = { publicClient: reader.publicClient, walletClient, addresses };
  let genesisMs: number;
  try {
    const s = await getSettlementState(ctx);
    if (Number(s.epochDuration) !== opts.epochSeconds)
      throw new PlexusError('PLX_EPOCH_CONFIG', `the contract's epochDuration is ${s.epochDuration}`);
    genesisMs = Number(s.genesisTime) * 1000;
    await opts.db
      .insertInto('market_meta')
      .values({ key: 'chain_genesis_ms', value: String(genesisMs) })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(genesisMs) }))
      .execute();
  } catch (err) {
    if (err instanceof PlexusError) throw err;
    const stored = await opts.db
      .selectFrom('market_meta')
      .select('value')
      .where('key', '=', 'chain_genesis_ms')
      .executeTakeFirst();
    if (!stored)
      throw new PlexusError('PLX_CHAIN_UNAVAILABLE', `cannot reach the chain at ${rpcUrl}`, { cause: err });
    opts.log.warn({ rpcUrl }, 'chain unreachable at start; using the stored epoch clock, settlement waits');
    genesisMs = Number(stored.value);
  }
  return {
    writer: ctx,
    validators,
    validatorSet: d.validators as Address[],
    threshold: d.threshold,
    genesisMs,
    minStake: BigInt(d.minStake),
    info: {
      chainId: d.chainId,
      rpcUrl,
      token: d.token,
      registry: d.registry,
      escrow: d.escrow,
      settlement: d.settlement,
      epochDuration: Number(d.epochDuration),
    },
  };
}
