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
    AND NOT EXISTS (SELECT 1 FROM train_blobs WHERE cid = ${col})
    AND NOT EXISTS (SELECT 1 FROM capability_proofs c WHERE c.product_cid = ${col} AND c.outcome = 'passed'
      AND NOT EXISTS (SELECT 1 FROM capability_proofs l WHERE l.provider = c.provider
        AND l.outcome = 'passed' AND l.created_at > c.created_at + ${CAPABILITY_ANSWER_RETAIN_MS}))`;
}

/**
 * How long a passing capability proof's answer outlives the provider's next passing proof: an
 * evidence bundle (version 12) cites the latest passing proof before its epoch's end, and
 * validators read it within `VALIDATOR_READ_WINDOW_EPOCHS` (48 hourly epochs) of the close; three
 * days keep it for that window with a margin. A provider's last answer is kept while it is last.
 */
export const CAPABILITY_ANSWER_RETAIN_MS = 3 * 24 * 3600_000;

/**
 * The collector. `collect()` deletes at most `batch` blobs per call and returns how many it
 * deleted. Restart-safe: each blob's row is deleted (re-checking the references in the same
 * statement) before its file, all in one synchronous section, so a crash leaves at worst a file
 * with no row, never a row with no file; an upload of the same bytes in flight is never collected
 * (the store refuses while it is placing that cid); a re-upload restarts the grace period.
 * A capability answer is kept while a passing proof may be cited by an evidence bundle validators
 * still read (see {@link CAPABILITY_ANSWER_RETAIN_MS}); any other is judged within its deadline
 * (seconds), far inside the grace period.
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
