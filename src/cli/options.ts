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

/**
 * Parses a number CLI option within [min, max].
 *
 * @example
 * numberOption(0, 1)('0.5'); // 0.5
 */
export function numberOption(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return n;
  };
}

/**
 * Parses a point in time: ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`), unix milliseconds,
 * `now`, `today` or `yesterday` (local midnight), into unix milliseconds.
 *
 * @example
 * dateOption('2026-01-31T00:00:00Z'); // 1769817600000
 */
export function dateOption(value: string): number {
  const v = value.trim();
  if (/^[0-9]{1,15}$/.test(v)) return Number(v);
  if (v === 'now') return Date.now();
  if (v === 'today' || v === 'yesterday') {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    if (v === 'yesterday') d.setDate(d.getDate() - 1);
    return d.getTime();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t))
    throw new InvalidArgumentError(
      `expected a date: ISO 8601 (2026-01-31 or 2026-01-31T12:00:00Z), unix milliseconds, now, today or yesterday; got ${JSON.stringify(value)}`,
    );
  return t;
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

/**
 * Parses an account address option (`0x` + 40 hex digits), refusing anything else as a usage error.
 *
 * @example
 * addressOption('0x000000000000000000000000000000000000dEaD'); // returned unchanged
 */
export function addressOption(value: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value.trim()))
    throw new InvalidArgumentError(
      `expected a 0x-prefixed 20-byte address (0x + 40 hex digits), got ${JSON.stringify(value)}`,
    );
  return value.trim();
}
