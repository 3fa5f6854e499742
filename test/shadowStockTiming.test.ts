/**
 * Review s13 F3 (issue 15) through a whole coordinator: a shadow job was stocked at the instant
 * of each real submission (the submitter's `onSubmitted` hook), so in the public `GET /v1/jobs`
 * it sat 1–5 ms after a real job while real jobs lie seconds apart, and a poller flagged it before
 * any lease. Now stocking runs on a timer of its own (work/shadowStockTimer.ts). The timer's clock,
 * draw and timeout are injected, so nothing here depends on how loaded the machine is: real
 * submissions stock nothing, the timer is armed at the real rate, and when it fires the stocked
 * job is listed at the timer's time, not a real submission's. On the old code a shadow job was in
 * stock right after the first submissions. (The distribution of the gaps: shadowStockTimer.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { createClient } from '../src/client/createClient.ts';
import { startCoordinator } from '../src/coordinator/createCoordinator.ts';
import { createLogger } from '../src/logger.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, tempDir } from './helpers/fixtures.ts';

/** Polls `check` until it holds or 60 s pass (generous: the machine may be loaded). */
async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('real submissions stock no shadow job; the stock timer does, at its own time drawn at the real rate', async () => {
  const { dir, cleanup } = await tempDir('plexus-f3-');
  let fakeNow = 1_800_000_000_000;
  let pending: { fire: () => Promise<void>; ms: number; armedAt: number } | undefined;
  const coord = await startCoordinator(
    { dataDir: dir, port: 0, sweepIntervalMs: 100, canaryRate: 1 },
    {
      log: createLogger('c', { level: 'silent' }),
      shadowStockClock: {
        now: () => fakeNow,
        random: () => 0.5,
        setTimer: (fire, ms) => {
          pending = { fire, ms, armedAt: fakeNow };
          return pending;
        },
        clearTimer: (h) => {
          if (pending === h) pending = undefined;
        },
      },
    },
  );
  try {
    const client = createClient({ url: coord.url, account: randomAccount() });
    const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
    await coord.store.db
      .insertInto('canary_tasks')
      .values({
        id: `canary-${randomBytes(4).toString('hex')}`,
        source_task_id: `0x${randomBytes(32).toString('hex')}`,
        source_job_id: `0x${randomBytes(32).toString('hex')}`,
        model: model.cid,
        input_cid: model.cid,
        gpu: 0,
        timeout_ms: 60_000,
        expected_digest: `0x${'00'.repeat(32)}`,
        expected_cid: model.cid,
        issued: 0,
        retired: 0,
        created_at: Date.now(),
      })
      .execute();
    const real = new Set<string>();
    for (const seed of [21, 22, 23]) {
      fakeNow += 1_700;
      const input = await client.uploadBlob(encodeSafetensors(ocrInput(seed, 32, 32)));
      const { jobId } = await client.submitJob({
        kind: 'onnx.infer',
        model: model.cid,
        inputs: [input.cid],
        deadline: Math.floor(Date.now() / 1000) + 600,
      } as never);
      real.add(jobId);
    }
    const stocked = () => coord.store.db.selectFrom('shadow_pending').selectAll().execute();
    // The old code stocked from the submission hook; the new one arms its timer there.
    await until(
      async () => pending !== undefined || (await stocked()).length > 0,
      'a stocking or an armed timer',
    );
    assert.deepEqual(await stocked(), [], 'no shadow job stocked at a real submission');
    const armed = pending;
    assert.ok(armed, 'the stock timer is armed');
    assert.equal(armed.ms, Math.round(Math.LN2 * 1_700), 'its delay is drawn at the real submission rate');
    fakeNow = armed.armedAt + armed.ms;
    pending = undefined;
    await armed.fire();
    const [shadow] = await stocked();
    assert.ok(shadow, 'the timer stocked a shadow job');
    assert.equal(shadow.created_at, fakeNow, 'submitted at the timer’s time');
    const list = (await (await fetch(`${coord.url}/v1/jobs?limit=50`)).json()) as {
      jobs: { id: string; createdAt: number; status: string }[];
    };
    const listed = list.jobs.find((j) => j.id === shadow.id);
    assert.equal(listed?.status, 'queued', 'listed as a queued job');
    assert.equal(listed?.createdAt, fakeNow, 'listed at the timer’s time');
    assert.ok(pending, 'the timer armed again');
  } finally {
    await coord.stop();
    await cleanup();
  }
  assert.equal(pending, undefined, 'no timer left armed after the coordinator stopped');
});
