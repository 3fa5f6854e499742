import { type Address, isAddress } from 'viem';

/**
 * Validates an account address and returns it lowercased: the verifier compares addresses as
 * lowercase strings, which avoids a keccak checksum per comparison on the hot path.
 *
 * @example
 * normalizeAddress('0xAbC…'); // '0xabc…'
 */
export function normalizeAddress(address: string): Address {
  if (!isAddress(address, { strict: false })) throw new TypeError(`not an address: ${address}`);
  return address.toLowerCase() as Address;
}
