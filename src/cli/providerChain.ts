/**
 * `plexus provider register|stake|unbond|status|rewards|claim`: a provider's on-chain life. Stake
 * is bonded in the ProviderRegistry; rewards are claimed from EpochSettlement with the Merkle proof
 * the coordinator serves at `GET /v1/rewards/:address` (docs/contracts.md).
 */
import { join } from 'node:path';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { Command } from 'commander';
import { type Address, formatEther, getAddress, type Hex, isAddress, parseEventLogs } from 'viem';
import { z } from 'zod';
import { getClaimed } from '../chain/actions/coordinator/getClaimed.ts';
import { getSettlementState } from '../chain/actions/coordinator/getSettlementState.ts';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { getProtocolParameters } from '../chain/actions/getProtocolParameters.ts';
import { addStake } from '../chain/actions/provider/addStake.ts';
import { cancelUnbonding } from '../chain/actions/provider/cancelUnbonding.ts';
import { claimRewards } from '../chain/actions/provider/claimRewards.ts';
import { getProvider } from '../chain/actions/provider/getProvider.ts';
import { registerProvider } from '../chain/actions/provider/registerProvider.ts';
import { requestUnbonding } from '../chain/actions/provider/requestUnbonding.ts';
import { withdrawUnbonded } from '../chain/actions/provider/withdrawUnbonded.ts';
import { ChainRevertError } from '../chain/ChainRevertError.ts';
import { REWARDS_LEAF_ENCODING } from '../chain/constants.ts';
import { epochSettlementAbi } from '../chain/generated/EpochSettlement.ts';
import { providerRegistryAbi } from '../chain/generated/ProviderRegistry.ts';
import { encodeRegion } from '../chain/region.ts';
import type { PlexusReader } from '../chain/types.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { readKeystoreAddress } from '../keystore/loadOrCreateKeystore.ts';
import { capabilitiesDigest } from '../protocol/capabilities.ts';
import { hardwareClaim } from '../provider/hardware/hardwareClaim.ts';
import { probeHardware } from '../provider/hardware/probeHardware.ts';
import {
  addChainOptions,
  type ChainCliOptions,
  connectReader,
  connectWriter,
  isoTime,
  onChain,
  report,
} from './chainCli.ts';
import { fetchCoordinator } from './fetchCoordinator.ts';
import { formatPlx } from './format.ts';
import { addressOption } from './options.ts';
import { plxArgument } from './parsePlxAmount.ts';

/** How often a claim asks again for a proof that matches the chain's current root, and how long it waits between. */
const CLAIM_TRIES = 5;
const CLAIM_RETRY_MS = 1500;

type KeyOptions = ChainCliOptions & { dataDir: string; keystore?: string };

const PROMPT = 'Provider keystore password: ';
const MAX_URI_BYTES = 256;

/** Same key flags as `plexus provider start`, plus the chain options. */
function withKey(cmd: Command): Command {
  return addChainOptions(
    cmd
      .option('--data-dir <dir>', 'provider folder holding the key', '.plexus/provider')
      .option(
        '--keystore <file>',
        'encrypted key file (default DATA_DIR/key.json; only register creates it)',
      ),
  );
}

function keystorePath(o: KeyOptions): string {
  return o.keystore ?? join(o.dataDir, 'key.json');
}

/** A writer with the provider's key; only `register` may create the key file. */
function writer(o: KeyOptions, create = false) {
  return connectWriter(o, keystorePath(o), PROMPT, { role: 'provider', create });
}

const uint256String = z.string().regex(/^(0|[1-9]\d{0,77})$/, 'must be a decimal string of base units');
const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x + 64 hex digits') as z.ZodType<Hex>;

/** The coordinator's `GET /v1/rewards/:address` (docs/protocol.md). */
const rewardsProofSchema = z.looseObject({
  address: z.string().refine((s) => isAddress(s), 'must be an address'),
  epoch: z.int().min(0),
  cumulativeAmount: uint256String,
  claimed: uint256String,
  proof: z.array(hex32).max(256),
  rewardsRoot: hex32,
});

/** What the coordinator says `account` may claim, checked against the chain. */
type RewardsView = {
  address: Address;
  /** Last settled epoch the coordinator's proof is for. */
  epoch: number;
  cumulativeAmount: bigint;
  /** Claimed so far, read from the chain (not from the coordinator). */
  claimed: bigint;
  /** cumulativeAmount − claimed, never below 0. */
  claimable: bigint;
  proof: Hex[];
  /** Whether the proof shows (address, cumulativeAmount) under the rewards root now on chain. */
  proofValid: boolean;
};

/** Fetches `address`'s proof from the coordinator, or undefined when it has earned nothing yet (404). */
async function readRewards(
  o: ChainCliOptions,
  ctx: PlexusReader,
  address: Address,
): Promise<RewardsView | undefined> {
  let answer: z.infer<typeof rewardsProofSchema>;
  try {
    answer = await fetchCoordinator(o.coordinator, `/v1/rewards/${address}`, rewardsProofSchema);
  } catch (err) {
    if (err instanceof PlexusError && err.code === 'PLX_NOT_FOUND') return undefined;
    throw err;
  }
  if (getAddress(answer.address) !== address)
    throw new PlexusError(
      'PLX_UPSTREAM_UNAVAILABLE',
      `the coordinator answered a proof for ${answer.address}, not ${address}`,
    );
  const cumulativeAmount = BigInt(answer.cumulativeAmount);
  const [claimed, state] = await Promise.all([getClaimed(ctx, address), getSettlementState(ctx)]);
  // Checked here rather than trusted: a coordinator that is behind (or lies) shows up as an invalid proof.
  const proofValid = StandardMerkleTree.verify(
    state.rewardsRoot,
    [...REWARDS_LEAF_ENCODING],
    [address, cumulativeAmount],
    answer.proof,
  );
  return {
    address,
    epoch: answer.epoch,
    cumulativeAmount,
    claimed,
    claimable: cumulativeAmount > claimed ? cumulativeAmount - claimed : 0n,
    proof: answer.proof,
    proofValid,
  };
}

/** Adds the on-chain subcommands to `plexus provider`. */
export function addProviderChainCommands(cmd: Command): Command {
  withKey(cmd.command('register'))
    .description('register this provider on chain: bond a stake, with region, capabilities digest and URI')
    .requiredOption(
      '--stake <plx>',
      'PLX to bond, at least the registry minimum (e.g. 1000)',
      plxArgument('--stake'),
    )
    .option('--region <code>', 'region code (e.g. eu-west)', 'unknown')
    .option(
      '--uri <uri>',
      'where the public metadata lives (default: COORDINATOR/v1/providers/ADDRESS/history)',
    )
    .option('--no-gpu', 'leave the GPU out of the capabilities, as `provider start --no-gpu` does')
    .action((o: KeyOptions & { stake: bigint; region: string; uri?: string; gpu: boolean }) =>
      onChain(async () => {
        const stake = o.stake;
        encodeRegion(o.region); // validates before any password prompt
        if (o.uri !== undefined) checkUri(o.uri);
        const ctx = await writer(o, true);
        const address = ctx.account.address;
        const uri = o.uri ?? `${o.coordinator.replace(/\/+$/, '')}/v1/providers/${address}/history`;
        checkUri(uri);
        const digest = capabilitiesDigest(hardwareClaim(await probeHardware(), { useGpu: o.gpu }));
        const tx = await registerProvider(ctx, { stake, capabilitiesDigest: digest, region: o.region, uri });
        const rec = await getProvider(ctx, address);
        report(
          o,
          {
            address,
            stake: rec.stake,
            region: rec.region,
            capabilitiesDigest: rec.capabilitiesDigest,
            uri: rec.uri,
            active: rec.active,
            txHash: tx.hash,
          },
          [
            `registered ${address}`,
            `  stake         ${formatPlx(rec.stake)}`,
            `  region        ${rec.region}`,
            `  capabilities  ${rec.capabilitiesDigest}`,
            `  uri           ${rec.uri}`,
            `  tx            ${tx.hash}`,
          ],
        );
      }),
    );

  withKey(cmd.command('stake'))
    .description('add PLX to the bonded stake')
    .argument('<plx>', 'PLX to add (e.g. 500 or 0.5)', plxArgument())
    .action((value: bigint, o: KeyOptions) =>
      onChain(async () => {
        const ctx = await writer(o);
        const tx = await addStake(ctx, value);
        const rec = await getProvider(ctx, ctx.account.address);
        report(o, { address: ctx.account.address, added: value, stake: rec.stake, txHash: tx.hash }, [
          `added ${formatPlx(value)}; stake is now ${formatPlx(rec.stake)}`,
          `  tx ${tx.hash}`,
        ]);
      }),
    );

  withKey(cmd.command('unbond'))
    .description(
      'start unbonding PLX (the provider takes no new work meanwhile); --withdraw after the unbonding period, --cancel to re-bond',
    )
    .argument('[plx]', 'PLX to unbond', plxArgument())
    .option('--withdraw', 'withdraw what finished unbonding to the wallet')
    .option('--cancel', 'move everything unbonding back to the bonded stake')
    .action((amount: bigint | undefined, o: KeyOptions & { withdraw?: boolean; cancel?: boolean }) =>
      onChain(async () => {
        if (o.withdraw && o.cancel)
          throw new PlexusError('PLX_USAGE', 'give --withdraw or --cancel, not both');
        const mode = o.withdraw ? 'withdraw' : o.cancel ? 'cancel' : 'request';
        if ((mode === 'request') === (amount === undefined))
          throw new PlexusError(
            'PLX_USAGE',
            mode === 'request'
              ? 'give the PLX to unbond, or --withdraw / --cancel'
              : `--${mode} takes no amount (it applies to everything unbonding)`,
          );
        const value = amount ?? 0n;
        const ctx = await writer(o);
        const address = ctx.account.address;
        if (mode === 'request') {
          const tx = await requestUnbonding(ctx, value);
          const [rec, params] = await Promise.all([getProvider(ctx, address), getProtocolParameters(ctx)]);
          // The registry marks a provider with anything unbonding (or below the minimum stake)
          // inactive, and the coordinator gives inactive providers no work: say so, whatever is left.
          const belowMinimum = rec.stake < params.minStake;
          const stopsWork = !rec.active || belowMinimum;
          report(
            o,
            {
              address,
              stake: rec.stake,
              unbonding: rec.unbonding,
              unbondingReadyAt: rec.unbondingReadyAt,
              active: !stopsWork,
              txHash: tx.hash,
            },
            [
              `unbonding ${formatPlx(rec.unbonding)} (stake left ${formatPlx(rec.stake)})`,
              ...(belowMinimum
                ? [
                    `  warning: the stake left is below the minimum ${formatPlx(params.minStake)}: this provider takes no new work until it stakes again (plexus provider stake AMOUNT or unbond --cancel)`,
                  ]
                : stopsWork
                  ? [
                      `  warning: while stake is unbonding this provider takes no new work (running tasks finish), until plexus provider unbond --withdraw after the period, or plexus provider unbond --cancel re-bonds it now`,
                    ]
                  : []),
              `  withdrawable from ${isoTime(rec.unbondingReadyAt)}: plexus provider unbond --withdraw`,
              `  tx ${tx.hash}`,
            ],
          );
        } else if (mode === 'withdraw') {
          const tx = await withdrawUnbonded(ctx);
          const withdrawn = await eventAmount(ctx, tx.hash, 'StakeWithdrawn');
          const rec = await getProvider(ctx, address);
          report(o, { address, withdrawn, stake: rec.stake, registered: rec.registered, txHash: tx.hash }, [
            `withdrew ${formatPlx(withdrawn)} to ${address}`,
            `  stake ${formatPlx(rec.stake)}${rec.registered ? '' : ' (deregistered: nothing left bonded)'}`,
            `  tx ${tx.hash}`,
          ]);
        } else {
          const tx = await cancelUnbonding(ctx);
          const rec = await getProvider(ctx, address);
          report(o, { address, stake: rec.stake, unbonding: rec.unbonding, txHash: tx.hash }, [
            `unbonding cancelled; stake is ${formatPlx(rec.stake)}`,
            `  tx ${tx.hash}`,
          ]);
        }
      }),
    );

  withKey(cmd.command('status'))
    .description("show this provider's on-chain record and wallet")
    .option('--address <address>', 'show another provider (no keystore needed)', addressOption)
    .action((o: KeyOptions & { address?: string }) =>
      onChain(async () => {
        const { ctx, address } = await readerFor(o);
        const [rec, plx, eth, params] = await Promise.all([
          getProvider(ctx, address),
          getPlxBalance(ctx, address),
          ctx.publicClient.getBalance({ address }),
          getProtocolParameters(ctx),
        ]);
        report(
          o,
          {
            address,
            ...rec,
            wallet: plx,
            eth,
            minStake: params.minStake,
            unbondingPeriod: params.unbondingPeriod,
          },
          [
            `provider ${address}`,
            `  registered    ${rec.registered}${rec.registered ? `, ${rec.active ? 'active' : 'not active (takes no new work)'}` : ''}`,
            `  stake         ${formatPlx(rec.stake)} (minimum ${formatPlx(params.minStake)})`,
            `  unbonding     ${formatPlx(rec.unbonding)}${rec.unbonding > 0n ? ` (withdrawable from ${isoTime(rec.unbondingReadyAt)})` : ''}`,
            ...(rec.registered ? [`  region        ${rec.region}`, `  uri           ${rec.uri}`] : []),
            `  wallet        ${formatPlx(plx)}, ${formatEther(eth)} ETH`,
          ],
        );
      }),
    );

  withKey(cmd.command('rewards'))
    .description(
      'show claimable rewards: the cumulative amount in the last settled epoch minus what was claimed',
    )
    .option('--address <address>', 'show another provider (no keystore needed)', addressOption)
    .action((o: KeyOptions & { address?: string }) =>
      onChain(async () => {
        const { ctx, address } = await readerFor(o);
        const r = await readRewards(o, ctx, address);
        if (r === undefined) {
          const claimed = await getClaimed(ctx, address);
          report(
            o,
            { address, epoch: null, cumulativeAmount: 0n, claimed, claimable: 0n, proofValid: null },
            [`provider ${address} has no earnings in any settled epoch yet`],
          );
          return;
        }
        report(
          o,
          {
            address,
            epoch: r.epoch,
            cumulativeAmount: r.cumulativeAmount,
            claimed: r.claimed,
            claimable: r.claimable,
            proofValid: r.proofValid,
          },
          [
            `rewards of ${address} (epoch ${r.epoch})`,
            `  earned        ${formatPlx(r.cumulativeAmount)}`,
            `  claimed       ${formatPlx(r.claimed)}`,
            `  claimable     ${formatPlx(r.claimable)}`,
            ...(r.proofValid
              ? []
              : [
                  '  note          the proof does not match the rewards root on chain yet (coordinator behind, or a newer epoch): retry shortly',
                ]),
          ],
        );
      }),
    );

  withKey(cmd.command('claim'))
    .description("claim rewards with the coordinator's Merkle proof; prints the PLX received")
    .action((o: KeyOptions) =>
      onChain(async () => {
        const ctx = await writer(o);
        const address = ctx.account.address;
        // Epochs keep finalizing while this runs: a proof the coordinator built for the root just
        // replaced (or that the chain replaces before the claim is mined) is InvalidProof for no
        // fault of anyone's. Such a claim asks again for a fresh proof, a few times, before giving up.
        // Whether the last proof read matched the root on chain: only then is an InvalidProof a race
        // with an epoch that finalized meanwhile, worth a new round (a coordinator still behind
        // after the reads above gets the contract's answer at once, not five more rounds).
        let readValid = false;
        const claimOnce = async () => {
          let r = await readRewards(o, ctx, address);
          for (let i = 0; r && !r.proofValid && i < CLAIM_TRIES; i++) {
            await new Promise((resolve) => setTimeout(resolve, CLAIM_RETRY_MS));
            r = await readRewards(o, ctx, address);
          }
          if (r === undefined)
            throw new PlexusError(
              'PLX_NOT_FOUND',
              `provider ${address} has no earnings in any settled epoch yet`,
            );
          readValid = r.proofValid;
          // Sent even when the proof still looks stale or nothing is claimable: the contract is the
          // judge, and its decoded reason (InvalidProof, NothingToClaim) is the clearest answer.
          const tx = await claimRewards(ctx, {
            account: address,
            cumulativeAmount: r.cumulativeAmount,
            proof: r.proof,
          });
          return { r, tx };
        };
        let claimed: Awaited<ReturnType<typeof claimOnce>> | undefined;
        for (let i = 0; !claimed; i++) {
          try {
            claimed = await claimOnce();
          } catch (err) {
            const raced = err instanceof ChainRevertError && err.errorName === 'InvalidProof' && readValid;
            if (!raced || i + 1 >= CLAIM_TRIES) throw err;
          }
        }
        const { r, tx } = claimed;
        const received = await eventAmount(ctx, tx.hash, 'Claimed');
        const wallet = await getPlxBalance(ctx, address);
        report(
          o,
          {
            address,
            epoch: r.epoch,
            received,
            cumulativeAmount: r.cumulativeAmount,
            wallet,
            txHash: tx.hash,
          },
          [
            `claimed ${formatPlx(received)} (epoch ${r.epoch}, cumulative ${formatPlx(r.cumulativeAmount)})`,
            `  wallet now ${formatPlx(wallet)}`,
            `  tx ${tx.hash}`,
          ],
        );
      }),
    );
  return cmd;
}

function checkUri(uri: string): void {
  const bytes = Buffer.byteLength(uri, 'utf8');
  if (bytes < 1 || bytes > MAX_URI_BYTES)
    throw new PlexusError('PLX_USAGE', `--uri must be 1-${MAX_URI_BYTES} bytes, got ${bytes}`);
}

/** A reader and the address to show: `--address`, else the keystore's account. */
async function readerFor(
  o: KeyOptions & { address?: string },
): Promise<{ ctx: PlexusReader; address: Address }> {
  if (o.address !== undefined) {
    if (!isAddress(o.address))
      throw new PlexusError('PLX_USAGE', `--address must be a 0x-prefixed 20-byte address, got ${o.address}`);
    return { ctx: await connectReader(o), address: getAddress(o.address) };
  }
  // Read-only: the address comes from the key file without its password, and a missing file is
  // PLX_KEYSTORE_MISSING (never a new key).
  const path = keystorePath(o);
  const inFile = await readKeystoreAddress(path, 'provider');
  if (inFile !== undefined) return { ctx: await connectReader(o), address: getAddress(inFile) };
  const ctx = await writer(o);
  return { ctx, address: ctx.account.address };
}

/** The `amount` of the named event in a mined transaction (what was really paid out). */
async function eventAmount(
  ctx: PlexusReader,
  hash: Hex,
  eventName: 'Claimed' | 'StakeWithdrawn',
): Promise<bigint> {
  const receipt = await ctx.publicClient.getTransactionReceipt({ hash });
  const abi = eventName === 'Claimed' ? epochSettlementAbi : providerRegistryAbi;
  const [log] = parseEventLogs({ abi, logs: receipt.logs, eventName });
  if (!log) throw new PlexusError('PLX_INTERNAL', `transaction ${hash} emitted no ${eventName} event`);
  return (log.args as { amount: bigint }).amount;
}
