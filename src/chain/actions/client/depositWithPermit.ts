import { parseSignature } from 'viem';
import { plexusAbis } from '../../abis.ts';
import type { PlexusWriter, TxResult } from '../../types.ts';
import { writeContractAndWait } from '../../writeContractAndWait.ts';

/**
 * Deposits `amount` PLX in one transaction: the writer signs an EIP-2612 permit for the escrow
 * (valid `validForSeconds`, default 10 minutes) instead of sending an approve first.
 *
 * @example
 * await depositWithPermit(ctx, 100n * PLX);
 */
export async function depositWithPermit(
  ctx: PlexusWriter,
  amount: bigint,
  validForSeconds = 600n,
): Promise<TxResult> {
  const { publicClient, walletClient, addresses } = ctx;
  const owner = walletClient.account.address;
  const [nonce, chainId, block] = await Promise.all([
    publicClient.readContract({
      address: addresses.token,
      abi: plexusAbis.token,
      functionName: 'nonces',
      args: [owner],
    }),
    publicClient.getChainId(),
    publicClient.getBlock(),
  ]);
  const deadline = block.timestamp + validForSeconds;
  const signature = await walletClient.signTypedData({
    account: walletClient.account,
    domain: { name: 'Plexus', version: '1', chainId, verifyingContract: addresses.token },
    types: {
      Permit: [
        { name: 'owner', type: 'address' },
        { name: 'spender', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    primaryType: 'Permit',
    message: { owner, spender: addresses.escrow, value: amount, nonce, deadline },
  });
  const { r, s, v, yParity } = parseSignature(signature);
  return writeContractAndWait(ctx, {
    address: addresses.escrow,
    abi: plexusAbis.escrow,
    functionName: 'depositWithPermit',
    args: [amount, deadline, Number(v ?? BigInt(yParity + 27)), r, s],
  });
}
