/**
 * Render audit regions re-derived by a validator (src/validator/checkRenderRegions.ts): the
 * coordinator's own region draw (verification/renderAuditRegion.ts, growth over the primary's real
 * PNG included) passes once its seed is revealed, in the same bundle or a later one (kept in the
 * validator's store); a region moved by one pixel, drawn from another seed or for another task is
 * `renderRegion[<task>]`; a region grown to another step than the primary's pixels give is
 * `.growth`; a task drawn twice (re-run) is checked against its earliest audited draw's seed; a
 * descriptor or output the coordinator will not serve is a dispute.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import type { Address, Hex } from 'viem';
import type { AuditDraw, ChargeFact, EpochFacts, JobFact } from '../src/coordinator/settlement/epochFacts.ts';
import { primaryRenderPixels, renderAuditRegion } from '../src/coordinator/verification/renderAuditRegion.ts';
import { canonicalJson } from '../src/protocol/canonicalJson.ts';
import { cidOf, taskIdOf } from '../src/protocol/ids.ts';
import { type RenderTask, renderOutputTensors, renderRegionOutputTensors } from '../src/protocol/render.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { checkRenderRegions, type RenderAudit, renderAuditsOf } from '../src/validator/checkRenderRegions.ts';
import { BlobRefused } from '../src/validator/recheck.ts';
import { openValidatorStore } from '../src/validator/validatorStore.ts';

const SEED = 'ab'.repeat(32);
const OTHER_SEED = 'cd'.repeat(32);
const jobId = `0x${'1d'.repeat(32)}` as Hex;
// The second tile of a 2×1-tiled 64×48 frame: a task whose region does not start at 0.
const task: RenderTask = {
  v: 1,
  frame: 1,
  width: 64,
  height: 48,
  samples: 16,
  seed: 0,
  region: [32, 0, 64, 48],
};
const taskBytes = new TextEncoder().encode(canonicalJson(task));
const taskCid = cidOf(taskBytes);
const taskId = taskIdOf(jobId, 1).toLowerCase();
const primary = `0x${'0a'.repeat(20)}` as Address;
const auditor = `0x${'0b'.repeat(20)}` as Address;

/** The primary's PNG of the tile (32×48): `black`, or every pixel a different colour (detailed). */
function primaryPng(kind: 'black' | 'detailed'): Uint8Array {
  const c = createCanvas(32, 48);
  const ctx = c.getContext('2d');
  const img = ctx.createImageData(32, 48);
  for (let i = 0; i < img.data.length; i += 4) {
    const v = kind === 'black' ? 0 : (i * 37) % 251;
    img.data.set([v, (v * 7) % 256, (v * 13) % 256, 255], i);
  }
  ctx.putImageData(img, 0, 0);
  return new Uint8Array(c.toBuffer('image/png'));
}
const DETAILED = primaryPng('detailed');
const BLACK = primaryPng('black');
const pixelsOf = (png: Uint8Array) => primaryRenderPixels(renderOutputTensors(png))!;

/**
 * A bundle's facts paying `taskId`'s primary (whose whole output is `opts.primary`, a detailed
 * PNG by default) and its auditor, who rendered `region` (frame px).
 */
function bundle(
  region: RenderTask['region'],
  opts: { reveal?: string; epoch?: number; primary?: Uint8Array } = {},
) {
  const [tx, ty] = task.region;
  const crop: RenderTask['region'] = [region[0] - tx, region[1] - ty, region[2] - tx, region[3] - ty];
  const whole = encodeSafetensors(renderOutputTensors(opts.primary ?? DETAILED));
  const part = encodeSafetensors(renderRegionOutputTensors(new Uint8Array([4, 5]), crop));
  const blobs = new Map<string, Uint8Array>([
    [taskCid, taskBytes],
    [cidOf(whole), whole],
    [cidOf(part), part],
  ]);
  const job = {
    jobId,
    spec: { kind: 'blender.render', inputs: ['ff'.repeat(32), taskCid], verification: { policy: 'audit' } },
  } as unknown as JobFact;
  const charge = (provider: Address, outputCid: string, region?: ChargeFact['region']) =>
    ({
      ref: `exec:${provider}`,
      jobId,
      taskId,
      provider,
      result: { outputCid },
      ...(region ? { region } : {}),
    }) as unknown as ChargeFact;
  // The share billing sized the auditor's charge by: its crop's pixels and the task's.
  const share = { pixels: (crop[2] - crop[0]) * (crop[3] - crop[1]), taskPixels: 32 * 48 };
  const draw = {
    taskId,
    provider: primary,
    epoch: opts.epoch ?? 7,
    rate: 0.5,
    draw: 0.1,
    audited: true,
  } as AuditDraw;
  const facts = {
    jobs: [job],
    charges: [charge(primary, cidOf(whole)), charge(auditor, cidOf(part), share)],
    draws: [draw],
    audits: {
      commitment: { epoch: 9, commitment: `0x${'00'.repeat(32)}` },
      reveals: opts.reveal ? [{ epoch: opts.epoch ?? 7, seed: opts.reveal, draws: [] }] : [],
    },
  } as unknown as EpochFacts;
  const read = async (cid: string) => {
    const b = blobs.get(cid);
    if (!b) throw new BlobRefused(`blob ${cid}: HTTP 403`);
    return b;
  };
  return { facts, read, blobs, primaryCid: cidOf(whole) };
}

/** Decides a bundle as the validator does: its audits, then the regions whose seed it reveals. */
async function decide(b: ReturnType<typeof bundle>, kept: (e: number) => readonly RenderAudit[] = () => []) {
  const audits = await renderAuditsOf(b.facts, b.read);
  if (!Array.isArray(audits)) return { audits: [], dispute: audits };
  return { audits, dispute: await checkRenderRegions(b.facts, audits, kept, b.read) };
}

test("the coordinator's drawn region passes when its seed is revealed in a later bundle, kept in the store", async () => {
  const drawn = renderAuditRegion(SEED, taskId, task, pixelsOf(DETAILED));
  const b = bundle(drawn);
  const first = await decide(b);
  assert.equal(first.dispute, null, 'the seed is not revealed yet: nothing to check');
  assert.deepEqual(first.audits, [
    { epoch: 7, taskId, task: task.region, regions: [drawn], primaryCid: b.primaryCid },
  ]);
  const store = openValidatorStore(':memory:');
  store.rememberRenderAudits('net', first.audits);
  assert.deepEqual(store.renderAudits('net', 7), first.audits);
  assert.deepEqual(store.renderAudits('net', 8), []);
  // The revealing bundle pays nothing of its own.
  const reveal = {
    audits: { commitment: { epoch: 10, commitment: '0x' }, reveals: [{ epoch: 7, seed: SEED, draws: [] }] },
  };
  assert.equal(
    await checkRenderRegions(reveal as never, [], (e) => store.renderAudits('net', e), b.read),
    null,
  );
  assert.match(
    (
      await checkRenderRegions(
        { audits: { ...reveal.audits, reveals: [{ epoch: 7, seed: OTHER_SEED, draws: [] }] } } as never,
        [],
        (e) => store.renderAudits('net', e),
        b.read,
      )
    )?.fact ?? '',
    /^renderRegion\[/,
    'the same kept region against another seed',
  );
  store.close();
});

test("the growth step follows the primary's pixels: grown over a black primary, not over a detailed one", async () => {
  const drawn = renderAuditRegion(SEED, taskId, task);
  const grown = renderAuditRegion(SEED, taskId, task, pixelsOf(BLACK));
  assert.deepEqual(grown, task.region, 'a black primary is audited whole');
  assert.deepEqual(renderAuditRegion(SEED, taskId, task, pixelsOf(DETAILED)), drawn, 'detailed: not grown');
  assert.equal((await decide(bundle(grown, { reveal: SEED, primary: BLACK }))).dispute, null);
  assert.equal((await decide(bundle(drawn, { reveal: SEED }))).dispute, null);
  // A flat region audited ungrown (the coordinator audits sky: every image agrees there).
  const ungrown = await decide(bundle(drawn, { reveal: SEED, primary: BLACK }));
  assert.equal(ungrown.dispute?.fact, `renderRegion[${taskId}].growth`);
  assert.equal(ungrown.dispute?.claimed, drawn.join(','));
  assert.match(ungrown.dispute?.recomputed ?? '', new RegExp(`^${grown.join(',')} `));
  // Grown over a detailed primary: a step the pixels do not give.
  const over = await decide(bundle(grown, { reveal: SEED }));
  assert.equal(over.dispute?.fact, `renderRegion[${taskId}].growth`);
  // A primary that is no image grows nothing, as on the coordinator.
  const notImage = new Uint8Array([1, 2, 3]);
  assert.equal((await decide(bundle(drawn, { reveal: SEED, primary: notImage }))).dispute, null);
  // The primary's output, read again when the seed is revealed, refused: a dispute.
  const gone = bundle(drawn, { reveal: SEED });
  const audits = await renderAuditsOf(gone.facts, gone.read);
  gone.blobs.delete(gone.primaryCid);
  assert.equal(
    (await checkRenderRegions(gone.facts, audits as RenderAudit[], () => [], gone.read))?.fact,
    `renderRegion[${taskId}].blob`,
  );
});

test('a region the seed does not give is named', async () => {
  const [x0, y0, x1, y1] = renderAuditRegion(SEED, taskId, task);
  const shifted: RenderTask['region'] = x0 > 32 ? [x0 - 1, y0, x1 - 1, y1] : [x0 + 1, y0, x1 + 1, y1];
  const cases: [string, RenderTask['region']][] = [
    ['moved by one pixel', shifted],
    ['drawn from another seed', renderAuditRegion(OTHER_SEED, taskId, task)],
    ["another task's region", renderAuditRegion(SEED, taskIdOf(jobId, 0), task)],
  ];
  for (const [name, region] of cases) {
    if (region.every((v, i) => v === renderAuditRegion(SEED, taskId, task)[i])) continue; // same by chance
    const { dispute } = await decide(bundle(region, { reveal: SEED }));
    assert.equal(dispute?.fact, `renderRegion[${taskId}]`, name);
    assert.equal(dispute?.claimed, region.join(','), name);
  }
});

test('a descriptor or output the coordinator will not serve is a dispute; an unaudited task is not read', async () => {
  const drawn = renderAuditRegion(SEED, taskId, task);
  const noTask = bundle(drawn);
  noTask.blobs.delete(taskCid);
  assert.equal((await decide(noTask)).dispute?.fact, `renderRegion[${taskId}].blob`);
  const noOutput = bundle(drawn);
  noOutput.blobs.delete(noOutput.facts.charges[1]!.result.outputCid);
  assert.equal((await decide(noOutput)).dispute?.fact, `renderRegion[${taskId}].blob`);
  const unaudited = bundle(drawn);
  unaudited.facts.draws![0]!.audited = false;
  delete unaudited.facts.charges[1]!.region;
  unaudited.blobs.clear();
  assert.deepEqual(await decide(unaudited), { audits: [], dispute: null });
});

test('a task drawn twice (re-run) is checked against the seed of its earliest audited draw', async () => {
  // The re-run's draw (epoch 8, another primary) comes first in the facts; the region was drawn
  // with the first audited draw's seed (epoch 7), as the coordinator picks it.
  const rerun = (region: RenderTask['region'], firstAudited = true) => {
    const b = bundle(region, { reveal: SEED });
    const first = b.facts.draws![0]!;
    first.audited = firstAudited;
    b.facts.draws!.unshift({ ...first, provider: auditor, epoch: 8, audited: true });
    b.facts.audits.reveals.push({ epoch: 8, seed: OTHER_SEED, draws: [] });
    return b;
  };
  const drawn7 = renderAuditRegion(SEED, taskId, task);
  const drawn8 = renderAuditRegion(OTHER_SEED, taskId, task);
  const ok = await decide(rerun(drawn7));
  assert.equal(ok.dispute, null);
  assert.equal(ok.audits[0]?.epoch, 7, 'kept under the earliest audited draw');
  assert.equal(ok.audits[0]?.primaryCid, undefined, 'which primary grew it is not in the facts');
  const [x0, y0, x1, y1] = drawn7;
  const shifted = await decide(rerun([x0 + 1, y0, x1 + 1, y1]));
  assert.equal(shifted.dispute?.fact, `renderRegion[${taskId}]`, 'a re-run region off the chain is named');
  if (!drawn8.every((v, i) => v === drawn7[i])) {
    const later = await decide(rerun(drawn8));
    assert.equal(later.dispute?.fact, `renderRegion[${taskId}]`, "the later draw's seed is not the region's");
    // With the first draw not audited, the re-run's is the earliest audited draw.
    assert.equal((await decide(rerun(drawn8, false))).dispute, null);
  }
});

test("the region share a charge was billed by is the output's: a wrong, missing or invented share is named", async () => {
  const drawn = renderAuditRegion(SEED, taskId, task);
  const cases: [string, (b: ReturnType<typeof bundle>) => void, string][] = [
    [
      'a share inflated 4×',
      (b) => (b.facts.charges[1]!.region!.pixels *= 4),
      `charge[exec:${auditor}].region`,
    ],
    [
      'a task sized larger',
      (b) => (b.facts.charges[1]!.region!.taskPixels = 64 * 48),
      `charge[exec:${auditor}].region`,
    ],
    [
      'a region output billed as a whole task',
      (b) => delete b.facts.charges[1]!.region,
      `charge[exec:${auditor}].region`,
    ],
    [
      'a whole-task output billed as a region',
      (b) => (b.facts.charges[0]!.region = { pixels: 192, taskPixels: 1536 }),
      `charge[exec:${primary}].region`,
    ],
  ];
  for (const [name, alter, fact] of cases) {
    const b = bundle(drawn);
    alter(b);
    assert.equal((await decide(b)).dispute?.fact, fact, name);
  }
  // A share claimed on a task that was not audited is read and checked all the same.
  const unaudited = bundle(drawn);
  unaudited.facts.draws![0]!.audited = false;
  unaudited.facts.charges[1]!.region!.pixels += 1;
  assert.equal((await decide(unaudited)).dispute?.fact, `charge[exec:${auditor}].region`);
});
