import { InvalidArgumentError } from 'commander';
import { maxUint256, parseUnits } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';

import { PLX_DECIMALS } from './format.ts';

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
 * parsePlxAmount as a commander argument parser: a bad amount is a usage error (exit code 2), found
 * before any password prompt or chain call.
 *
 * @example
 * cmd.argument('<plx>', 'PLX to deposit', plxArgument('amount'));
 */
export function plxArgument(what = 'amount'): (value: string) => bigint {
  return (value) => {
    try {
      return parsePlxAmount(value, what);
    } catch (err) {
      throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
    }
  };
}
