/**
 * The devnet faucet: gives an address test ETH (anvil_setBalance) and PLX (a transfer from the
 * devnet's treasury, anvil's dev account 0, which deployed the contracts and holds the genesis
 * supply). It refuses any chain that is not a local anvil, so it can never move real funds.
 */
import { type Address, createTestClient, http } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { transferPlx } from '../chain/actions/transferPlx.ts';
import { type ConnectPlexusParameters, connectPlexus } from '../chain/connectPlexus.ts';
import { PlexusError } from '../errors/PlexusError.ts';

/** anvil's well-known test mnemonic (its dev accounts; public, worthless outside a local chain). */
const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';

/** What the faucet gave and what the address holds afterwards. */
export type FaucetResult = {
  address: Address;
  eth: bigint;
  plx: bigint;
  ethBalance: bigint;
  plxBalance: bigint;
  txHash: `0x${string}` | undefined;
};

/**
 * Funds `address` on a running devnet: sets its ETH balance to at least `eth` and sends it `plx`.
 *
 * @example
 * await devnetFaucet({ rpcUrl, chainId: 31337, addresses }, '0xAbC…', { eth: 10n ** 19n, plx: 1000n * 10n ** 18n });
 */
export async function devnetFaucet(
  chain: ConnectPlexusParameters,
  address: Address,
  amounts: { eth: bigint; plx: bigint },
): Promise<FaucetResult> {
  const treasury = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 0 });
  const writer = connectPlexus(chain, treasury);
  const version = await writer.publicClient
    .request({ method: 'web3_clientVersion' } as never)
    .catch(() => '');
  if (!/anvil/i.test(String(version)))
    throw new PlexusError(
      'PLX_VALIDATION',
      `the chain at ${chain.rpcUrl} is not a local anvil devnet (${String(version) || 'no client version'}): the faucet works only on plexus devnet`,
    );
  const treasuryPlx = await getPlxBalance(writer, treasury.address);
  if (treasuryPlx < amounts.plx)
    throw new PlexusError(
      'PLX_VALIDATION',
      `the devnet treasury ${treasury.address} holds ${treasuryPlx} base units of PLX, less than the ${amounts.plx} asked for: is this a plexus devnet?`,
    );
  const test = createTestClient({ mode: 'anvil', transport: http(chain.rpcUrl) });
  const before = await writer.publicClient.getBalance({ address });
  if (before < amounts.eth) await test.setBalance({ address, value: amounts.eth });
  const tx = amounts.plx > 0n ? await transferPlx(writer, address, amounts.plx) : undefined;
  const [ethBalance, plxBalance] = await Promise.all([
    writer.publicClient.getBalance({ address }),
    getPlxBalance(writer, address),
  ]);
  return {
    address,
    eth: before < amounts.eth ? amounts.eth - before : 0n,
    plx: amounts.plx,
    ethBalance,
    plxBalance,
    txHash: tx?.hash,
  };
}
