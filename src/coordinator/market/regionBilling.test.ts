/**
 * Billing a region-audited render task (docs/render.md "Billing"): the auditor renders ~4 % of the
 * frame, so its measured units are sized to the whole task before the median; the primary is billed
 * its frame, the auditor its region's share. Pure function first, then the market's `onVerdict`
 * against an in-memory store (the ledger entries it writes, with the share in their memo).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { createLogger } from '../../logger.ts';
import type { JobSpec } from '../../protocol/schemas.ts';
import { openStore } from '../store/openStore.ts';
import type { Verdict } from '../verification/taskVerificationTypes.ts';
import { createMarket } from './createMarket.ts';
import { chargedUnits, medianBilledUnits, medianBilling } from './priceExecution.ts';
import { renderTaskPixels } from './regionShares.ts';

const share = { pixels: 192, taskPixels: 3072 }; // a 16×12 region of a 64×48 frame

test('a region auditor is sized to the task before the median: the honest primary is billed its frame', () => {
  const execs = [
    { cls: 'cpu', unitsMilli: 9000n },
    { cls: 'cpu', unitsMilli: 600n, region: share },
  ];
  // The old rule, the lower median of the raw units, billed the primary 600: its region's share.
  assert.equal(medianBilledUnits(execs.map((e) => e.unitsMilli)), 600n);
  // Sized: the auditor's 600 × 16 = 9600 for the frame; the median of 9000 and 9600 is 9000.
  assert.deepEqual(medianBilling(execs, 600), [9000n, (9000n * 192n) / 3072n]);
  // A primary that inflates its report is held at the auditor's sized units, and the auditor at its share.
  assert.deepEqual(medianBilling([{ cls: 'cpu', unitsMilli: 90_000n }, execs[1]!], 600), [9600n, 600n]);
  // A region's fixed cost sized up is capped at the task's worst case (timeout × 4 cores).
  assert.deepEqual(medianBilling([{ cls: 'cpu', unitsMilli: 1_000_000n, region: share }], 10), [
    (40_000n * 192n) / 3072n,
  ]);
  // A region grown to the whole task (or a malformed share) is billed as a whole-task execution.
  assert.deepEqual(
    medianBilling(
      [
        { cls: 'cpu', unitsMilli: 9000n },
        { cls: 'cpu', unitsMilli: 8000n, region: { pixels: 3072, taskPixels: 3072 } },
      ],
      600,
    ),
    [8000n, 8000n],
  );
  assert.deepEqual(medianBilling([], 600), []);
});

test('an execution whose charge rounds to nothing is left out and the median sized again over the rest', async () => {
  const a = { cls: 'cpu', units: 9000n };
  const b = { cls: 'cpu', units: 600n, region: share };
  // b's price makes its charge zero: a is then billed by its own units, as a validator re-derives
  // from the one entry it sees.
  const units = await chargedUnits([a, b], 600, async (x, u) => (x === b ? 0n : u));
  assert.deepEqual([...units], [[a, 9000n]]);
  const both = await chargedUnits([a, b], 600, async (_x, u) => u);
  assert.deepEqual([...both.values()], [9000n, 562n]);
});

test("onVerdict bills a region-audited primary its frame and the auditor its region's share", async () => {
  const store = await openStore({ path: ':memory:' });
  try {
    const market = createMarket({
      db: store.db,
      clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
      now: () => 1_000,
    });
    const primary = `0x${'0a'.repeat(20)}`;
    const auditor = `0x${'0b'.repeat(20)}`;
    const client = `0x${'0c'.repeat(20)}`;
    const taskId = `0x${'71'.repeat(32)}`;
    const aid = (b: string) => `0x${b.repeat(32)}`;
    const usage = (cpuMs: number) => JSON.stringify({ usage: { wallMs: cpuMs, cpuMs, peakRssBytes: 0 } });
    await store.db
      .insertInto('render_audit_regions')
      .values({
        assignment_id: aid('a2'),
        task_id: taskId,
        region: JSON.stringify([10, 10, 26, 22]),
        crop: JSON.stringify([10, 10, 26, 22]),
        task_pixels: 3072,
        created_at: 1,
      })
      .execute();
    const spec = {
      kind: 'blender.render',
      taskTimeoutSec: 600,
      resources: { gpu: false },
      verification: { policy: 'audit' },
    } as unknown as JobSpec;
    const verdict = {
      taskId,
      status: 'accepted',
      acceptedDigest: undefined,
      acceptedFrom: primary as Hex,
      verified: true,
      outcomes: [
        { provider: primary, outcome: 'valid' },
        { provider: auditor, outcome: 'valid' },
      ],
      faults: [],
    } as unknown as Verdict;
    await store.db.transaction().execute((trx) =>
      market.onVerdict(trx, `0x${'1d'.repeat(32)}`, verdict, {
        job: { client, spec, maxPrice: 10n ** 18n },
        executions: [
          { assignment_id: aid('a1'), provider: primary, result: usage(9000) },
          { assignment_id: aid('a2'), provider: auditor, result: usage(600) },
        ],
      }),
    );
    const memos = (
      await store.db.selectFrom('ledger_entries').select(['ref', 'memo']).orderBy('ref').execute()
    ).map((r) => JSON.parse(r.memo) as { unitsMilli: string; regionPixels?: number; taskPixels?: number });
    assert.equal(memos.length, 2, 'both executions charged');
    assert.equal(memos[0]!.unitsMilli, '9000', 'the primary is billed its frame (the old median billed 600)');
    assert.equal(memos[0]!.regionPixels, undefined, 'the primary rendered the whole task');
    assert.equal(memos[1]!.unitsMilli, String((9000n * 192n) / 3072n), "the auditor: its region's share");
    assert.deepEqual([memos[1]!.regionPixels, memos[1]!.taskPixels], [192, 3072]);
  } finally {
    await store.close();
  }
});

test("a task's pixels from the job's settings (regions recorded before 0029): its tile's", () => {
  const r = { width: 65, height: 48, tiles: { x: 2, y: 2 } };
  // Frame-major, tiles row by row: tile 1 of frame 1 is idx 1 and 5; 32/33 columns, 24 rows.
  assert.deepEqual(
    [0, 1, 2, 3, 5].map((i) => renderTaskPixels(r, i)),
    [32 * 24, 33 * 24, 32 * 24, 33 * 24, 33 * 24],
  );
  assert.equal(renderTaskPixels({ width: 64, height: 48, tiles: { x: 1, y: 1 } }, 7), 3072);
});
