/**
 * Failover between coordinator replicas on one PostgreSQL database, as real OS processes: a
 * provider agent started with `plexus provider start --coordinator A,B` and a client SDK given
 * `A,B`; replica A is killed (SIGKILL) while the job runs. The provider's session moves to B and
 * announces its in-flight work there, the client's event stream resumes on B from Last-Event-ID,
 * and the job completes with every task done once, its stream exactly the stored events.
 * With CI=true an unreachable PostgreSQL fails this test instead of skipping it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createClient, type JobEvent } from '../src/client/createClient.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { ppocrDetectionModelPath } from '../src/devnet/runDemo.ts';
import { type NodeChild, spawnPlexus } from '../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../src/logger.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';
import { startReplica, tinyInput } from './helpers/replicas.ts';

const skip = await postgresSkip();
const quiet = createLogger('test', { level: 'silent' });
const TASKS = 24;

test('a job completes when the replica its provider and client used is killed', { skip }, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const children: NodeChild[] = [];
  const store = await openStore({ url: database.url });
  try {
    const [a, b] = await Promise.all([
      startReplica('a', dir, database.url),
      startReplica('b', dir, database.url),
    ]);
    children.push(a.child, b.child);
    const urls = `${a.url},${b.url}`;
    const pdir = join(dir, 'provider');
    await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const provider = spawnPlexus(
      'provider',
      ['provider', 'start', '--coordinator', urls, '--data-dir', pdir],
      {
        env: {
          PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD,
          PLEXUS_LOG_LEVEL: process.env.PLEXUS_TEST_LOG ?? 'warn',
        },
        ...(process.env.PLEXUS_TEST_LOG ? { print: (l: string) => console.error(l) } : { print: () => {} }),
      },
    );
    children.push(provider);
    await provider.waitFor('PLEXUS_PROVIDER_STARTED', 180_000);
    const account = await loadOrCreateKeystore(join(dir, 'client.json'), 'pw', {
      scrypt: { n: 1024, r: 8, p: 1 },
      logger: quiet,
    });
    const client = createClient({ url: urls, account });
    assert.equal(client.url, a.url);
    const until = Date.now() + 180_000;
    while ((await client.health()).providersOnline < 1) {
      if (Date.now() > until) throw new Error('the provider never came online on replica A');
      await new Promise((r) => setTimeout(r, 200));
    }
    const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    const inputs = await Promise.all(
      Array.from({ length: TASKS }, async (_, i) => (await client.uploadBlob(tinyInput(i))).cid),
    );
    const { jobId } = await client.submitJob({
      kind: 'onnx.infer',
      model: model.cid,
      inputs,
      deadline: Math.floor(Date.now() / 1000) + 3600,
      verification: { policy: 'none' },
      taskTimeoutSec: 120,
    });

    // Replica A dies (no goodbye) once the job is under way.
    const streamed: JobEvent[] = [];
    let killed = false;
    const job = await client.waitForJob(jobId, (e) => {
      streamed.push(e);
      if (
        !killed &&
        e.type === 'task.completed' &&
        streamed.filter((x) => x.type === 'task.completed').length >= 3
      ) {
        killed = true;
        a.child.proc.kill('SIGKILL');
      }
    });
    assert.ok(killed, 'replica A was killed mid-job');
    assert.equal(job.status, 'completed');
    assert.equal(job.tasksDone, TASKS);
    assert.equal(client.url, b.url, 'the client moved to replica B');

    // Every task done once; the stream is the stored events up to job.completed, no gap, no repeat.
    const done = await store.db
      .selectFrom('tasks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', jobId)
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    assert.equal(Number(done.n), TASKS);
    const rows = await store.db
      .selectFrom('events')
      .select(['id', 'type'])
      .where('job_id', '=', jobId)
      .orderBy('id')
      .execute();
    const end = rows.findIndex((r) => r.type === 'job.completed');
    assert.deepEqual(
      streamed.map((e) => [e.id, e.type]),
      rows.slice(0, end + 1).map((r) => [r.id, r.type]),
    );
    const sessions = await store.db
      .selectFrom('provider_sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    assert.ok(Number(sessions.n) >= 2, 'the provider opened a session on replica B');
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop(10_000)));
    await store.close();
    await database.drop();
    await cleanup();
  }
});
