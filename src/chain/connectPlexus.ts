import { createPublicClient, createWalletClient, defineChain, type Hex, http, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { PlexusAddresses, PlexusReader, PlexusWriter } from './types.ts';

/** Where to reach a Plexus deployment. */
export type ConnectPlexusParameters = {
  rpcUrl: string;
  chainId: number;
  addresses: PlexusAddresses;
};

/**
 * Builds the viem clients the actions need from an RPC URL, a chain id and the contract addresses:
 * a PlexusReader, or a PlexusWriter when a private key or a local account is given (the CLIs pass the
 * account opened from the keystore).
 *
 * @example
 * const reader = connectPlexus({ rpcUrl, chainId: 31337, addresses });
 * const writer = connectPlexus({ rpcUrl, chainId: 31337, addresses }, privateKey);
 * await deposit(writer, 10n * PLX);
 */
export function connectPlexus(params: ConnectPlexusParameters): PlexusReader;
export function connectPlexus(params: ConnectPlexusParameters, signer: Hex | LocalAccount): PlexusWriter;
export function connectPlexus(
  params: ConnectPlexusParameters,
  signer?: Hex | LocalAccount,
): PlexusReader | PlexusWriter {
  const chain = defineChain({
    id: params.chainId,
    name: `Plexus chain ${params.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [params.rpcUrl] } },
  });
  const transport = http(params.rpcUrl);
  const publicClient = createPublicClient({ chain, transport });
  if (signer === undefined) return { publicClient, addresses: params.addresses };
  const account = typeof signer === 'string' ? privateKeyToAccount(signer) : signer;
  const walletClient = createWalletClient({ account, chain, transport });
  return { publicClient, walletClient, addresses: params.addresses };
}
