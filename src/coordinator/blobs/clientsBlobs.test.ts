import assert from 'node:assert/strict';
import { test } from 'node:test';
import { handleResult } from '../work/results.ts';
import { output, workFixture } from '../work/workFixture.ts';
import { assertClientsBlobs } from './clientsBlobs.ts';

const owner = '0x000000000000000000000000000000000000c11e';
const attacker = '0x00000000000000000000000000000000000a77ac';

type Db = Awaited<ReturnType<typeof workFixture>>['db'];
const refused = (db: Db, cids: string[]) =>
  assert.rejects(assertClientsBlobs(db, attacker, cids), { code: 'PLX_BLOB_FORBIDDEN' });

test("a job may name only the client's own blobs: its uploads and its jobs' outputs, not another's", async () => {
  const f = await workFixture();
  try {
    const p = await f.connected();
    const { taskIds } = await f.submitJob({ client: owner });
    await f.work.dispatch();
    await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(1)));
    await f.idle();
    const out = (await f.task(taskIds[0]!)).output_cid!;
    assert.ok(out, 'the task has an output');
    const input = 'ab'.repeat(32);
    await f.db
      .insertInto('blob_uploads')
      .values({ cid: input, account: owner, size: 10, created_at: 0 })
      .execute();
    // Another client naming the owner's upload, or the output of the owner's job (cids are public:
    // a model copying its input would hand the bytes to the attacker's job).
    await refused(f.db, [input]);
    await refused(f.db, [out]);
    // The owner chains its own output into a new job, and names its own upload.
    await assertClientsBlobs(f.db, owner, [out, input]);
    // An attacker that uploaded its own copy of the same bytes proved it has them.
    await f.db
      .insertInto('blob_uploads')
      .values({ cid: input, account: attacker, size: 10, created_at: 0 })
      .execute();
    await assertClientsBlobs(f.db, attacker, [input]);
    // A blob nobody uploaded and no job made (the coordinator's own) may be named by anyone.
    await assertClientsBlobs(f.db, attacker, ['cd'.repeat(32)]);
    await refused(f.db, ['cd'.repeat(32), out]);
  } finally {
    await f.close();
  }
});
