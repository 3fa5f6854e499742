/**
 * Where the shared real-world traces live: `../shared/data` next to the repository root
 * (see `/work/shared/data/README.md`). The data is never copied into the project, so every
 * loader goes through here and fails with one clear message naming the path when it is absent.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PlexusError } from '../../src/errors/PlexusError.ts';

/** The repository root, resolved from this file (lab/traces → ../..). */
const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

/**
 * Absolute path of a file under the shared data folder (`<repo>/../shared/data/<relative>`).
 * `PLEXUS_DATA_DIR` overrides the folder, for machines that keep the data elsewhere.
 *
 * @example
 * const csv = sharedDataPath('traces/philly_pollux.csv');
 */
export function sharedDataPath(relative: string): string {
  const base = process.env.PLEXUS_DATA_DIR ?? resolve(repoRoot, '../shared/data');
  return resolve(base, relative);
}

/**
 * The path of a shared data file, or a `PLX_NOT_FOUND` error that names the missing path.
 *
 * @example
 * const path = requireSharedData('traces/azure_llm_conv.csv'); // throws when absent
 */
export function requireSharedData(relative: string): string {
  const path = sharedDataPath(relative);
  if (!existsSync(path)) {
    throw new PlexusError(
      'PLX_NOT_FOUND',
      `trace data missing: ${path} (expected ../shared/data/${relative})`,
      {
        details: { path },
      },
    );
  }
  return path;
}

/**
 * Why a test that needs `relative` must skip, or `undefined` when the file is there.
 * Tests pass this to `test(name, { skip }, fn)` so that a missing data folder reads clearly.
 *
 * @example
 * test('loads openb', { skip: missingDataReason('traces/openb/openb_node_list_gpu_node.csv') }, () => {});
 */
export function missingDataReason(relative: string): string | undefined {
  const path = sharedDataPath(relative);
  return existsSync(path) ? undefined : `trace data missing at ${path}`;
}

/**
 * True when missing data must fail the run rather than skip it: on CI (`CI=true`) a data-dependent
 * test that silently skips would let a run pass with no data-dependent check at all.
 *
 * @example
 * if (dataIsRequired()) process.exit(1);
 */
export function dataIsRequired(): boolean {
  return process.env.CI === 'true';
}

/**
 * The `skip` option of a test that needs shared data: the reason (a string, so the test skips)
 * when something is missing, except under `CI=true`, where it returns `false` so the test runs and
 * fails on the loader's `PLX_NOT_FOUND` error naming the missing path.
 *
 * @example
 * test('replays Philly', { skip: skipWithoutData(missingDataReason(PHILLY)) }, () => loadPhilly(100));
 */
export function skipWithoutData(...reasons: (string | undefined)[]): string | false {
  const reason = reasons.find((r) => r !== undefined);
  if (reason === undefined || dataIsRequired()) return false;
  return reason;
}
