import { InvalidArgumentError } from 'commander';
import type { JobVerification } from '../protocol/schemas.ts';

/** Parses a whole number CLI option, refusing anything else with a clear message. */
export function intOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Default coordinator URL: $PLEXUS_COORDINATOR or the devnet's. */
export const DEFAULT_COORDINATOR = process.env.PLEXUS_COORDINATOR ?? 'http://127.0.0.1:8080';

/** Default client key file: $PLEXUS_CLIENT_KEYSTORE or `.plexus/client/key.json`. */
export const DEFAULT_CLIENT_KEYSTORE = process.env.PLEXUS_CLIENT_KEYSTORE ?? '.plexus/client/key.json';

/**
 * Parses `--verify`: `none`, `audit`, `redundant` or `redundant:K` (K from 2 to 7), into the job
 * spec's `verification` field.
 *
 * @example
 * verificationOption('redundant:3'); // { policy: 'redundant', k: 3 }
 */
export function verificationOption(value: string): JobVerification {
  if (value === 'none' || value === 'audit' || value === 'redundant') return { policy: value };
  const m = /^redundant:([2-7])$/.exec(value);
  if (m) return { policy: 'redundant', k: Number(m[1]) };
  throw new InvalidArgumentError('expected none, audit, redundant or redundant:K with K from 2 to 7');
}

/**
 * Parses a PLX amount: whole base units (`10000000000000000`) or PLX with a unit
 * (`0.01PLX`, `5 plx`), into base units.
 *
 * @example
 * plxAmountOption('0.01PLX'); // 10000000000000000n
 */
export function plxAmountOption(value: string): bigint {
  const v = value.trim();
  if (/^(0|[1-9][0-9]{0,76})$/.test(v)) return BigInt(v);
  const m = /^([0-9]+)(?:\.([0-9]{1,18}))?\s*plx$/i.exec(v);
  if (!m)
    throw new InvalidArgumentError('expected base units (e.g. 10000000000000000) or PLX (e.g. 0.01PLX)');
  return BigInt(m[1]!) * 10n ** 18n + BigInt((m[2] ?? '').padEnd(18, '0'));
}
