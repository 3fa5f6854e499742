/**
 * How the CLI shows numbers to people: PLX with its unit (never base units), local dates (never
 * unix seconds), counts with the right plural. `--json` output keeps base units and raw numbers.
 * No imports: this file is loaded on every start.
 */

/** PLX has 18 decimals (PlexusToken). */
export const PLX_DECIMALS = 18;

/**
 * Formats base units as a PLX decimal string with the unit, exactly (no float, no rounding).
 *
 * @example
 * formatPlx(1500000000000000000000n); // '1500 PLX'
 * formatPlx(2880000000000000n); // '0.00288 PLX'
 */
export function formatPlx(units: bigint): string {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const scale = 10n ** BigInt(PLX_DECIMALS);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(PLX_DECIMALS, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''} PLX`;
}

/**
 * Formats wei as ETH with the unit, exactly.
 *
 * @example
 * formatEth(10n ** 15n); // '0.001 ETH'
 */
export function formatEth(wei: bigint): string {
  return formatPlx(wei).replace(/ PLX$/, ' ETH');
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * A unix time in seconds (or a Date) as a local date and time with its UTC offset, for people.
 *
 * @example
 * localTime(1767225600n); // '2026-01-01 01:00:00 +01:00' on a machine in Paris
 */
export function localTime(when: bigint | number | Date): string {
  const d = when instanceof Date ? when : new Date(Number(when) * 1000);
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/**
 * A count with its noun, singular or plural.
 *
 * @example
 * plural(1, 'task'); // '1 task'
 * plural(3, 'task'); // '3 tasks'
 */
export function plural(n: number | bigint, noun: string, nouns = `${noun}s`): string {
  return `${n} ${n === 1 || n === 1n ? noun : nouns}`;
}
