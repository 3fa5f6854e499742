/**
 * A review lease of a caught provider's training update (work/reviewLeases.ts) re-runs the task
 * from its descriptor, which names the round's weights and the worker's shard: its checker may
 * read those blobs (kept per task in `train_blobs`) while the lease is out, and nobody else may
 * through it — not a provider without the lease, not an inference canary lease, not a lease that
 * ended.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { signBlobAuth } from '../../protocol/eip712.ts';
import { openStore } from '../store/openStore.ts';
import { createBlobAccess } from './blobAccess.ts';

test("a training review lease's checker reads its source task's round blobs while leased; nobody else does through it", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-review-access-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const checker = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const weights = 'a1'.repeat(32);
    await store.db
      .insertInto('jobs')
      .values({
        id: 'job-t',
        client: `0x${'c1'.repeat(20)}`,
        nonce: '1',
        kind: 'train.diloco',
        spec: JSON.stringify({ kind: 'train.diloco', model: 'm' }),
        status: 'completed',
        tasks_total: 1,
        deadline_ms: 0,
        issued_at: 0,
        signature: '0x',
        error_code: null,
        error_message: null,
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    await store.db
      .insertInto('train_blobs')
      .values({ job_id: 'job-t', task_id: 'task-t', cid: weights, role: 'weights' })
      .execute();
    const known = (id: string, kind: string) => ({
      id,
      source_task_id: kind === 'train.diloco' ? 'task-t' : `task-${id}`,
      source_job_id: 'job-t',
      model: 'm',
      input_cid: `in-${id}`,
      gpu: 0,
      timeout_ms: 1000,
      expected_digest: '0x00',
      expected_cid: `out-${id}`,
      issued: 0,
      retired: 1,
      created_at: 0,
      kind,
    });
    await store.db
      .insertInto('canary_tasks')
      .values([known('k-train', 'train.diloco'), known('k-onnx', 'onnx.infer')])
      .execute();
    const lease = (id: string, canary: string, provider: string) => ({
      id,
      task_id: `t-${id}`,
      canary_id: canary,
      provider: provider.toLowerCase(),
      status: 'leased' as const,
      lease_expires_at: 10_000,
      output_cid: null,
      created_at: 0,
      finished_at: null,
    });
    await store.db
      .insertInto('canary_assignments')
      .values([lease('l-onnx', 'k-onnx', stranger.address)])
      .execute();
    const access = createBlobAccess({ store, db: store.db, chainId: 31337, quota: { bytes: 100, count: 1 } });
    const read = async (who: typeof checker) =>
      access.authorizeRead(await signBlobAuth(who, 31337, { cid: weights }), weights);
    await assert.rejects(read(checker), { code: 'PLX_BLOB_FORBIDDEN' }, 'no lease, no read');
    await store.db
      .insertInto('canary_assignments')
      .values([lease('l-train', 'k-train', checker.address)])
      .execute();
    await read(checker);
    await assert.rejects(
      read(stranger),
      { code: 'PLX_BLOB_FORBIDDEN' },
      "an inference canary lease opens no training task's blobs",
    );
    await store.db
      .updateTable('canary_assignments')
      .set({ status: 'passed' })
      .where('id', '=', 'l-train')
      .execute();
    await assert.rejects(read(checker), { code: 'PLX_BLOB_FORBIDDEN' }, 'a lease that ended opens nothing');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
