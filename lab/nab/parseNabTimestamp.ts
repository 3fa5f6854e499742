const PATTERN = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/**
 * Parses NAB's naive timestamps (`2014-10-30 15:30:00` in data files, with `.000000` in the
 * label files) to epoch milliseconds, reading them as UTC so labels and rows compare exactly.
 *
 * @example
 * parseNabTimestamp('2014-10-30 15:30:00.000000') === parseNabTimestamp('2014-10-30 15:30:00'); // true
 */
export function parseNabTimestamp(text: string): number {
  const m = PATTERN.exec(text.trim());
  if (m === null) throw new Error(`not a NAB timestamp: ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = frac === undefined ? 0 : Math.floor(Number(frac.padEnd(6, '0')) / 1000);
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
}
