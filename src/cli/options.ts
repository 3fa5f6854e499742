import { InvalidArgumentError } from 'commander';

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
