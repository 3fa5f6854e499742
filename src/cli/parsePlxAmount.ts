import { formatUnits, maxUint256, parseUnits } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';

/** PLX has 18 decimals (PlexusToken). */
export const PLX_DECIMALS = 18;

// Digits, optionally a point and 1-18 more digits. viem's parseUnits would silently round a 19th
// decimal, and Number() would lose precision above 2^53: the format is checked first, exactly.
const AMOUNT = /^(0|[1-9]\d{0,59})(\.\d{1,18})?$/;

/**
 * Parses a PLX amount written as a decimal string ("1000", "0.5", "12.000000000000000001") into
 * base units, exactly (never through a float). Anything else, zero, or more than a uint256 is
 * `PLX_VALIDATION` with a readable message naming `what`.
 *
 * @example
 * parsePlxAmount('0.5'); // 500000000000000000n
 * parsePlxAmount('1e3'); // throws PLX_VALIDATION
 */
export function parsePlxAmount(value: string, what = 'amount'): bigint {
  if (!AMOUNT.test(value))
    throw new PlexusError(
      'PLX_VALIDATION',
      `${what} must be a PLX amount in decimal notation with at most ${PLX_DECIMALS} decimals (like 1000 or 0.5), got ${JSON.stringify(value.slice(0, 80))}`,
    );
  const units = parseUnits(value, PLX_DECIMALS);
  if (units === 0n) throw new PlexusError('PLX_VALIDATION', `${what} must be more than 0 PLX`);
  if (units > maxUint256) throw new PlexusError('PLX_VALIDATION', `${what} is larger than a uint256`);
  return units;
}

/**
 * Formats base units as a PLX decimal string with the unit, for people (JSON output keeps base units).
 *
 * @example
 * formatPlx(1500000000000000000000n); // '1500 PLX'
 */
export function formatPlx(units: bigint): string {
  return `${formatUnits(units, PLX_DECIMALS)} PLX`;
}
