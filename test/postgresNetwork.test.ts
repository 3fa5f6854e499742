/**
 * A coordinator on PostgreSQL, as real OS processes: `plexus coordinator --store postgres://…`
 * on a fresh database, a provider agent started with `plexus provider start`, one PP-OCRv4 job
 * whose outputs must match a local run, and `plexus ledger verify --store …` against that database.
 * With CI=true an unreachable PostgreSQL fails this test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createClient } from '../src/client/createClient.ts';
import { runDemo } from '../src/devnet/runDemo.ts';
import { type NodeChild, PLEXUS_BIN, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';

const run = promisify(execFile);
const quiet = createLogger('test', { level: 'silent' });
const env = {
  PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
  PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
};
const print = process.env.PLEXUS_TEST_LOG ? (l: string) => console.error(l) : () => {};
const pgSkip = await postgresSkip();

test('a coordinator on PostgreSQL runs an inference job end to end and its ledger verifies', {
  skip: pgSkip,
}, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const children: NodeChild[] = [];
  try {
    const coordinator = spawnPlexus(
      'coordinator',
      ['coordinator', '--port', '0', '--data-dir', join(dir, 'coordinator'), '--store', database.url],
      { env, print, showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40 },
    );
    children.push(coordinator);
    const { url } = await coordinator.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000);
    const pdir = join(dir, 'provider-1');
    await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const provider = spawnPlexus(
      'provider-1',
      ['provider', 'start', '--coordinator', url, '--data-dir', pdir],
      {
        env,
        print,
        showLevel: process.env.PLEXUS_TEST_LOG ? 30 : 40,
      },
    );
    children.push(provider);
    await provider.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
    const account = await loadOrCreateKeystore(join(dir, 'client.json'), 'pw', {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const client = createClient({ url, account });
    const deadline = Date.now() + 120_000;
    while ((await client.health()).providersOnline < 1) {
      if (Date.now() > deadline) throw new Error('the provider never came online');
      await new Promise((r) => setTimeout(r, 200));
    }

    const s = await runDemo(client, { images: 3 });
    assert.equal(s.status, 'completed');
    assert.equal(s.completed, 3);
    assert.equal(s.matched, 3, `outputs differ from a local run by up to ${s.maxAbsDiff}`);

    // The state is in PostgreSQL, not in a SQLite file.
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    try {
      const job = await c.query(
        'SELECT j.status, p.tasks_done FROM jobs j JOIN job_progress p ON p.job_id = j.id WHERE j.id = $1',
        [s.jobId],
      );
      assert.deepEqual(job.rows[0], { status: 'completed', tasks_done: '3' });
      const done = await c.query("SELECT COUNT(*)::int AS n FROM assignments WHERE status = 'completed'");
      assert.ok(done.rows[0].n >= 3, 'done.rows[0].n >= 3');
      const events = await c.query('SELECT type FROM events WHERE job_id = $1 ORDER BY id', [s.jobId]);
      const types = events.rows.map((r: { type: string }) => r.type);
      assert.equal(types[0], 'job.submitted');
      assert.equal(types.filter((t: string) => t === 'job.completed').length, 1);
      assert.equal(types.filter((t: string) => t === 'task.completed').length, 3);
    } finally {
      await c.end();
    }

    const verify = await run(
      process.execPath,
      [PLEXUS_BIN, 'ledger', 'verify', '--store', database.url, '--json'],
      {
        env: { ...process.env, ...env },
      },
    );
    const report = JSON.parse(verify.stdout.trim().split('\n').at(-1)!) as {
      problems: unknown[];
      entries: number;
    };
    assert.deepEqual(report.problems, []);
    assert.ok(report.entries >= 3, `one charge per accepted task at least (${report.entries} entries)`);
  } finally {
    await Promise.all(children.map((ch) => ch.stop(10_000)));
    await database.drop();
    await cleanup();
  }
});
