import { type Hex, hexToString, stringToHex } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * Encodes a region code (printable ASCII, 1 to 32 characters, for example `eu-west`) as the
 * `bytes32` the ProviderRegistry stores: left-aligned, zero-padded.
 *
 * @example
 * encodeRegion('eu-west'); // '0x65752d7765737400…00'
 */
export function encodeRegion(code: string): Hex {
  if (!/^[\x21-\x7e]{1,32}$/.test(code)) {
    throw new PlexusError(
      'PLX_VALIDATION',
      `region code must be 1-32 printable ASCII characters, got ${JSON.stringify(code)}`,
    );
  }
  return stringToHex(code, { size: 32 });
}

/**
 * Decodes a `bytes32` region back to its code.
 *
 * @example
 * decodeRegion(encodeRegion('eu-west')); // 'eu-west'
 */
export function decodeRegion(region: Hex): string {
  return hexToString(region, { size: 32 }).replace(/\0+$/, '');
}
