/**
 * A small reader for the shared trace CSVs. These files are plain comma-separated values with a
 * header row and no quoted fields (checked when reading), so a split is exact and much faster than
 * a general parser on the 80k-row Philly trace.
 */
import { readFileSync } from 'node:fs';
import { PlexusError } from '../../src/errors/PlexusError.ts';

/**
 * Rows of a header-first CSV file as records keyed by column name. `limit` stops after that many
 * data rows (tests read small slices).
 *
 * @example
 * const rows = readCsv('/data/nodes.csv'); // [{ sn: 'openb-node-0000', cpu_milli: '64000', ... }]
 */
export function readCsv(path: string, limit = Number.POSITIVE_INFINITY): Record<string, string>[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',');
  const rows: Record<string, string>[] = [];
  for (let i = 1; i < lines.length && rows.length < limit; i++) {
    const line = lines[i];
    if (line === undefined || line === '') continue;
    if (line.includes('"')) {
      throw new PlexusError('PLX_VALIDATION', `quoted CSV fields are not supported (${path}:${i + 1})`);
    }
    const cells = line.split(',');
    const row: Record<string, string> = {};
    for (let c = 0; c < header.length; c++) row[header[c] ?? `col${c}`] = cells[c] ?? '';
    rows.push(row);
  }
  return rows;
}
