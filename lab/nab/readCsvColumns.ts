import { readFileSync } from 'node:fs';

/**
 * Reads a plain CSV file (header row, no quoted fields — the shape of every NAB file) into
 * columns of strings keyed by header name.
 *
 * @example
 * const cols = readCsvColumns('../shared/data/nab/data/realKnownCause/nyc_taxi.csv');
 * cols.value?.length; // 10320
 */
export function readCsvColumns(path: string): Record<string, string[]> {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const header = (lines[0] ?? '').split(',');
  const cols: string[][] = header.map(() => []);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const cells = line.split(',');
    for (let c = 0; c < cols.length; c++) cols[c]!.push(cells[c] ?? '');
  }
  return Object.fromEntries(header.map((h, c) => [h, cols[c]!]));
}
