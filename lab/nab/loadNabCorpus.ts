import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PlexusError } from '../../src/errors/PlexusError.ts';
import { sharedDataPath } from '../traces/dataDir.ts';
import { parseNabTimestamp } from './parseNabTimestamp.ts';
import { readCsvColumns } from './readCsvColumns.ts';
import type { LabelledSeries, Profiles } from './types.ts';

/**
 * `../shared/data/nab` relative to the project root (or `$PLEXUS_DATA_DIR/nab`), where the shared NAB
 * copy lives.
 *
 * @example
 * join(DEFAULT_NAB_DIR, 'labels/combined_windows.json');
 */
export const DEFAULT_NAB_DIR = sharedDataPath('nab');

const windowsSchema = z.record(z.string(), z.array(z.tuple([z.string(), z.string()])));
const costSchema = z.object({
  tpWeight: z.number(),
  fpWeight: z.number(),
  fnWeight: z.number(),
  tnWeight: z.number(),
});
const profilesSchema = z.record(z.string(), z.object({ CostMatrix: costSchema }));

/** The NAB corpus: every labelled series and the scoring profiles. */
export type NabCorpus = { dir: string; series: LabelledSeries[]; profiles: Profiles };

/**
 * True when a NAB copy with data, labels and profiles is present at `dir`.
 *
 * @example
 * if (!hasNabCorpus()) console.log(`skipped: no NAB data at ${DEFAULT_NAB_DIR}`);
 */
export function hasNabCorpus(dir: string = DEFAULT_NAB_DIR): boolean {
  return ['labels/combined_windows.json', 'config/profiles.json', 'data'].every((p) =>
    existsSync(join(dir, p)),
  );
}

/**
 * Why the NAB corpus cannot be used (a sentence naming `dir`), or `undefined` when it is there.
 *
 * @example
 * test('golden', { skip: skipWithoutData(missingNabReason()) }, () => {});
 */
export function missingNabReason(dir: string = DEFAULT_NAB_DIR): string | undefined {
  return hasNabCorpus(dir) ? undefined : `NAB data missing: expected it at ${dir} (../shared/data/nab)`;
}

/**
 * Loads the 58 NAB series with their windows (`labels/combined_windows.json`) and the three
 * profiles (`config/profiles.json`), sorted by file name so every run sees the same order.
 *
 * @example
 * const corpus = loadNabCorpus();
 * corpus.series.length; // 58
 */
export function loadNabCorpus(dir: string = DEFAULT_NAB_DIR): NabCorpus {
  // One clear error naming the folder (not an ENOENT on whichever file is read first), so a CI
  // run without the data fails with the reason in plain sight.
  const missing = missingNabReason(dir);
  if (missing !== undefined) throw new PlexusError('PLX_NOT_FOUND', missing, { details: { path: dir } });
  const windows = windowsSchema.parse(
    JSON.parse(readFileSync(join(dir, 'labels/combined_windows.json'), 'utf8')),
  );
  const rawProfiles = profilesSchema.parse(
    JSON.parse(readFileSync(join(dir, 'config/profiles.json'), 'utf8')),
  );
  const profiles: Profiles = Object.fromEntries(
    Object.entries(rawProfiles).map(([k, v]) => [k, v.CostMatrix]),
  );
  const series = Object.keys(windows)
    .sort()
    .map((name): LabelledSeries => {
      const cols = readCsvColumns(join(dir, 'data', name));
      return {
        name,
        timestamps: (cols.timestamp ?? []).map(parseNabTimestamp),
        values: (cols.value ?? []).map(Number),
        windows: (windows[name] ?? []).map(([a, b]) => [parseNabTimestamp(a), parseNabTimestamp(b)] as const),
      };
    });
  return { dir, series, profiles };
}
