import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../../src/coordinator/store/openStore.ts';
import { templateRunner } from '../../src/coordinator/store/queryTemplate.ts';
import { workQueries } from '../../src/coordinator/work/workQueries.ts';

/**
 * One lease worker of the store compliance suite's race: it looks at the head of the queue and
 * races for each task with the work loop's conditional lease (workQueries.leaseTask), inserting an
 * assignment only when it won. Returns how many tasks it won.
 */
export async function leaseAll(store: Store, who: string, at: number): Promise<number> {
  const q = workQueries(store.db);
  const stmt = templateRunner(store.raw);
  let won = 0;
  for (;;) {
    const head = await stmt.all(store.db, q.queuedPage, { after: 0, afterId: '', limit: 4 });
    if (head.length === 0) return won;
    for (const t of head) {
      const got = await store.db.transaction().execute(async (trx) => {
        const changed = await stmt.run(trx, q.leaseTask, {
          id: t.id,
          status: 'assigned',
          attempts: t.attempts + 1,
          prev: t.attempts,
          at,
        });
        if (changed !== 1n) return false;
        await stmt.run(trx, q.insertAssignment, {
          id: `${t.id}-${who}`,
          taskId: t.id,
          jobId: t.job_id,
          salt: null,
          provider: who,
          expiresAt: at + 60_000,
          at,
          leaseClass: 'cpu',
          sizeCap: null,
        });
        return true;
      });
      if (got) won++;
    }
  }
}

/**
 * Runs {@link leaseAll} on its own connection in a child process (SQLite's busy wait blocks its
 * thread, so two connections racing in one process would only wait for each other; two
 * processes are what replicas are anyway).
 */
export function leaseInProcess(url: string, who: string, at: number): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), url, who, String(at)],
      { timeout: 300_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`lease racer failed: ${stderr}`, { cause: err }));
        else resolve(Number(stdout.trim().split('\n').pop()));
      },
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [url, who, at] = process.argv.slice(2) as [string, string, string];
  const store = await openStore({ url });
  try {
    process.stdout.write(`${await leaseAll(store, who, Number(at))}\n`);
  } finally {
    await store.close();
  }
}
