/**
 * Garbage collection of blobs (issue 16 item 5): a blob older than the grace period that no job
 * (model, input, output, execution output) and no canary references is deleted, with its upload
 * records (which frees its uploaders' quota) and its providers' upload records.
 */
import type SQLite from 'better-sqlite3';
import type { BlobStore } from './createBlobStore.ts';

/** Default grace period: an upload has 6 hours to be named by a job before it may be collected. */
export const DEFAULT_BLOB_GRACE_MS = 6 * 3600_000;

/**
 * The condition "no job or canary references blob `<col>`", every lookup on an index (`+col`
 * drops the column's TEXT affinity, without which SQLite scans the whole jobs_model expression
 * index for each blob instead of searching it).
 */
function unreferenced(col: string): string {
  return `NOT EXISTS (SELECT 1 FROM tasks WHERE input_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM tasks WHERE output_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM task_executions WHERE output_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM jobs WHERE json_extract(spec, '$.model') = +${col})
    AND NOT EXISTS (SELECT 1 FROM canary_tasks WHERE model = ${col})
    AND NOT EXISTS (SELECT 1 FROM canary_tasks WHERE input_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM canary_tasks WHERE expected_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM canary_assignments WHERE output_cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM train_blobs WHERE cid = ${col})`;
}

/**
 * The collector. `collect()` deletes at most `batch` blobs per call and returns how many it
 * deleted. Restart-safe: each blob's row is deleted (re-checking the references in the same
 * statement) before its file, all in one synchronous section, so a crash leaves at worst a file
 * with no row, never a row with no file; an upload of the same bytes in flight is never collected
 * (the store refuses while it is placing that cid); a re-upload restarts the grace period.
 * A capability answer is referenced by nothing stored: it is judged within its deadline (seconds),
 * far inside the grace period.
 *
 * @example
 * const gc = createBlobCollector({ sqlite: store.sqlite, blobs, graceMs: DEFAULT_BLOB_GRACE_MS });
 * setInterval(() => gc.collect(), 10 * 60_000);
 */
export function createBlobCollector(deps: {
  sqlite: SQLite.Database;
  blobs: BlobStore;
  graceMs: number;
  batch?: number;
  now?: () => number;
}): { collect(): number } {
  const { sqlite } = deps;
  const now = deps.now ?? Date.now;
  const candidates = sqlite
    .prepare(`SELECT b.cid FROM blobs b WHERE b.created_at < ? AND ${unreferenced('b.cid')} LIMIT ?`)
    .pluck();
  const deleteRow = sqlite.prepare(
    `DELETE FROM blobs WHERE cid = :cid AND created_at < :cutoff AND ${unreferenced('blobs.cid')}`,
  );
  const deleteUploads = sqlite.prepare('DELETE FROM blob_uploads WHERE cid = ?');
  const deleteProviderUploads = sqlite.prepare('DELETE FROM provider_uploads WHERE cid = ?');
  const drop = sqlite.transaction((cid: string, cutoff: number) => {
    if (deleteRow.run({ cid, cutoff }).changes === 0) return false;
    deleteUploads.run(cid);
    deleteProviderUploads.run(cid);
    return true;
  });
  return {
    collect() {
      // The raw connection is shared with Kysely: never inside one of its transactions.
      if (sqlite.inTransaction) return 0;
      const cutoff = now() - deps.graceMs;
      let removed = 0;
      for (const cid of candidates.all(cutoff, deps.batch ?? 500) as string[]) {
        if (deps.blobs.removeIfUnused(cid, () => drop(cid, cutoff))) removed++;
      }
      return removed;
    },
  };
}
