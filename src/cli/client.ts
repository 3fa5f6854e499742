/**
 * `plexus client deposit|withdraw|balance`: a client's PLX in the ClientEscrow, which the epoch
 * settlement charges for verified work (docs/contracts.md).
 */
import { Command } from 'commander';
import { type Address, formatEther, getAddress, type Hex, isAddress, parseEventLogs } from 'viem';
import { cancelWithdrawal } from '../chain/actions/client/cancelWithdrawal.ts';
import { deposit } from '../chain/actions/client/deposit.ts';
import { depositWithPermit } from '../chain/actions/client/depositWithPermit.ts';
import { executeWithdrawal } from '../chain/actions/client/executeWithdrawal.ts';
import { getEscrowBalance } from '../chain/actions/client/getEscrowBalance.ts';
import { requestWithdrawal } from '../chain/actions/client/requestWithdrawal.ts';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { getProtocolParameters } from '../chain/actions/getProtocolParameters.ts';
import { clientEscrowAbi } from '../chain/generated/ClientEscrow.ts';
import type { PlexusReader } from '../chain/types.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { readKeystoreAddress } from '../keystore/loadOrCreateKeystore.ts';
import {
  addChainOptions,
  type ChainCliOptions,
  connectReader,
  connectWriter,
  isoTime,
  onChain,
  report,
} from './chainCli.ts';
import { formatPlx } from './format.ts';
import { addressOption, DEFAULT_CLIENT_KEYSTORE } from './options.ts';
import { plxArgument } from './parsePlxAmount.ts';

type KeyOptions = ChainCliOptions & { keystore: string };

const PROMPT = 'Client keystore password: ';

/** Same key flag as `plexus job submit`, plus the chain options. */
function withKey(cmd: Command): Command {
  return addChainOptions(
    cmd.option(
      '--keystore <file>',
      'client key file (deposit creates it if missing)',
      DEFAULT_CLIENT_KEYSTORE,
    ),
  );
}

/** `plexus client deposit|withdraw|balance`. */
export function clientCommand(): Command {
  const cmd = new Command('client').description("manage a client's PLX escrow on chain");

  withKey(cmd.command('deposit'))
    .description(
      'deposit PLX from the wallet into escrow (approve + deposit, or one transaction with --permit)',
    )
    .argument('<plx>', 'PLX to deposit (e.g. 100 or 0.5)', plxArgument())
    .option('--permit', 'sign an EIP-2612 permit instead of sending an approval first', false)
    .action((value: bigint, o: KeyOptions & { permit: boolean }) =>
      onChain(async () => {
        const ctx = await connectWriter(o, o.keystore, PROMPT, { role: 'client', create: true });
        const tx = o.permit ? await depositWithPermit(ctx, value) : await deposit(ctx, value);
        const address = ctx.account.address;
        const [{ balance }, wallet] = await Promise.all([
          getEscrowBalance(ctx, address),
          getPlxBalance(ctx, address),
        ]);
        report(o, { address, deposited: value, escrow: balance, wallet, txHash: tx.hash }, [
          `deposited ${formatPlx(value)}; escrow ${formatPlx(balance)}, wallet ${formatPlx(wallet)}`,
          `  tx ${tx.hash}`,
        ]);
      }),
    );

  withKey(cmd.command('withdraw'))
    .description(
      'ask to withdraw PLX from escrow (it stays chargeable for the withdrawal delay), then --execute it after the delay; --cancel to drop the request',
    )
    .argument('[plx]', 'PLX to withdraw', plxArgument())
    .option('--execute', 'pay out the pending withdrawal once its delay is over')
    .option('--cancel', 'cancel the pending withdrawal')
    .action((amount: bigint | undefined, o: KeyOptions & { execute?: boolean; cancel?: boolean }) =>
      onChain(async () => {
        if (o.execute && o.cancel) throw new PlexusError('PLX_USAGE', 'give --execute or --cancel, not both');
        const mode = o.execute ? 'execute' : o.cancel ? 'cancel' : 'request';
        if ((mode === 'request') === (amount === undefined))
          throw new PlexusError(
            'PLX_USAGE',
            mode === 'request'
              ? 'give the PLX to withdraw, or --execute / --cancel'
              : `--${mode} takes no amount (it applies to the pending withdrawal)`,
          );
        const value = amount ?? 0n;
        const ctx = await connectWriter(o, o.keystore, PROMPT, { role: 'client', create: false });
        const address = ctx.account.address;
        if (mode === 'request') {
          const tx = await requestWithdrawal(ctx, value);
          const [{ balance, pendingWithdrawal }, params] = await Promise.all([
            getEscrowBalance(ctx, address),
            getProtocolParameters(ctx),
          ]);
          const readyAt = pendingWithdrawal?.readyAt ?? 0n;
          report(
            o,
            {
              address,
              requested: value,
              readyAt,
              withdrawalDelay: params.withdrawalDelay,
              escrow: balance,
              txHash: tx.hash,
            },
            [
              `withdrawal of ${formatPlx(value)} requested; it stays chargeable for ${params.withdrawalDelay} s`,
              `  executable from ${isoTime(readyAt)}: plexus client withdraw --execute`,
              `  tx ${tx.hash}`,
            ],
          );
        } else if (mode === 'execute') {
          const tx = await executeWithdrawal(ctx);
          const withdrawn = await withdrawnAmount(ctx, tx.hash);
          const [{ balance }, wallet] = await Promise.all([
            getEscrowBalance(ctx, address),
            getPlxBalance(ctx, address),
          ]);
          report(o, { address, withdrawn, escrow: balance, wallet, txHash: tx.hash }, [
            `withdrew ${formatPlx(withdrawn)}; escrow ${formatPlx(balance)}, wallet ${formatPlx(wallet)}`,
            `  tx ${tx.hash}`,
          ]);
        } else {
          const tx = await cancelWithdrawal(ctx);
          const { balance } = await getEscrowBalance(ctx, address);
          report(o, { address, escrow: balance, txHash: tx.hash }, [
            `withdrawal cancelled; escrow ${formatPlx(balance)}`,
            `  tx ${tx.hash}`,
          ]);
        }
      }),
    );

  withKey(cmd.command('balance'))
    .description('show escrow balance, pending withdrawal and wallet balances')
    .option('--address <address>', 'show another client (no keystore needed)', addressOption)
    .action((o: KeyOptions & { address?: string }) =>
      onChain(async () => {
        let ctx: PlexusReader;
        let address: Address;
        if (o.address !== undefined) {
          if (!isAddress(o.address))
            throw new PlexusError(
              'PLX_USAGE',
              `--address must be a 0x-prefixed 20-byte address, got ${o.address}`,
            );
          ctx = await connectReader(o);
          address = getAddress(o.address);
        } else {
          // Read-only: the address from the key file without its password; never a new key.
          const inFile = await readKeystoreAddress(o.keystore, 'client');
          if (inFile !== undefined) {
            ctx = await connectReader(o);
            address = getAddress(inFile);
          } else {
            const w = await connectWriter(o, o.keystore, PROMPT, { role: 'client', create: false });
            ctx = w;
            address = w.account.address;
          }
        }
        const [{ balance, pendingWithdrawal }, wallet, eth] = await Promise.all([
          getEscrowBalance(ctx, address),
          getPlxBalance(ctx, address),
          ctx.publicClient.getBalance({ address }),
        ]);
        report(
          o,
          {
            address,
            escrow: balance,
            pendingWithdrawal: pendingWithdrawal ?? null,
            wallet,
            eth,
          },
          [
            `client ${address}`,
            `  escrow   ${formatPlx(balance)}`,
            ...(pendingWithdrawal
              ? [
                  `  pending  ${formatPlx(pendingWithdrawal.amount)} withdrawal, executable from ${isoTime(pendingWithdrawal.readyAt)}`,
                ]
              : []),
            `  wallet   ${formatPlx(wallet)}, ${formatEther(eth)} ETH`,
          ],
        );
      }),
    );
  return cmd;
}

/** What `executeWithdrawal` really paid (the request, or what charges left of it). */
async function withdrawnAmount(ctx: PlexusReader, hash: Hex): Promise<bigint> {
  const receipt = await ctx.publicClient.getTransactionReceipt({ hash });
  const [log] = parseEventLogs({ abi: clientEscrowAbi, logs: receipt.logs, eventName: 'Withdrawn' });
  if (!log) throw new PlexusError('PLX_INTERNAL', `transaction ${hash} emitted no Withdrawn event`);
  return log.args.amount;
}
