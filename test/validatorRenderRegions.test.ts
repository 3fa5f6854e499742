/**
 * Render audit regions re-derived by a validator (src/validator/checkRenderRegions.ts): the
 * coordinator's own region draw (verification/renderAuditRegion.ts, growth over a flat primary
 * included) passes once its seed is revealed, in the same bundle or a later one (kept in the
 * validator's store); a region moved by one pixel, drawn from another seed or for another task is
 * `renderRegion[<task>]`; a descriptor or output the coordinator will not serve is a dispute.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address, Hex } from 'viem';
import type { AuditDraw, ChargeFact, EpochFacts, JobFact } from '../src/coordinator/settlement/epochFacts.ts';
import { renderAuditRegion } from '../src/coordinator/verification/renderAuditRegion.ts';
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

/** A bundle's facts paying `taskId`'s primary and its auditor, who rendered `region` (frame px). */
function bundle(region: RenderTask['region'], opts: { reveal?: string; epoch?: number } = {}) {
  const [tx, ty] = task.region;
  const crop: RenderTask['region'] = [region[0] - tx, region[1] - ty, region[2] - tx, region[3] - ty];
  const whole = encodeSafetensors(renderOutputTensors(new Uint8Array([1, 2, 3])));
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
  return { facts, read, blobs };
}

/** Decides a bundle as the validator does: its audits, then the regions whose seed it reveals. */
async function decide(b: ReturnType<typeof bundle>, kept: (e: number) => readonly RenderAudit[] = () => []) {
  const audits = await renderAuditsOf(b.facts, b.read);
  if (!Array.isArray(audits)) return { audits: [], dispute: audits };
  return { audits, dispute: checkRenderRegions(b.facts, audits, kept) };
}

test("the coordinator's drawn region passes when its seed is revealed in a later bundle, kept in the store", async () => {
  const drawn = renderAuditRegion(SEED, taskId, task);
  const first = await decide(bundle(drawn));
  assert.equal(first.dispute, null, 'the seed is not revealed yet: nothing to check');
  assert.deepEqual(first.audits, [{ epoch: 7, taskId, task: task.region, regions: [drawn] }]);
  const store = openValidatorStore(':memory:');
  store.rememberRenderAudits('net', first.audits);
  assert.deepEqual(store.renderAudits('net', 7), first.audits);
  assert.deepEqual(store.renderAudits('net', 8), []);
  // The revealing bundle pays nothing of its own.
  const reveal = {
    audits: { commitment: { epoch: 10, commitment: '0x' }, reveals: [{ epoch: 7, seed: SEED, draws: [] }] },
  };
  assert.equal(
    checkRenderRegions(reveal as never, [], (e) => store.renderAudits('net', e)),
    null,
  );
  assert.match(
    checkRenderRegions(
      { audits: { ...reveal.audits, reveals: [{ epoch: 7, seed: OTHER_SEED, draws: [] }] } } as never,
      [],
      (e) => store.renderAudits('net', e),
    )?.fact ?? '',
    /^renderRegion\[/,
    'the same kept region against another seed',
  );
  store.close();
});

test('a region grown over a flat primary passes; so does one revealed in the same bundle', async () => {
  const black = { data: new Uint8ClampedArray(32 * 48 * 4), width: 32, height: 48 };
  const grown = renderAuditRegion(SEED, taskId, task, black);
  assert.deepEqual(grown, task.region, 'a black primary is audited whole');
  assert.equal((await decide(bundle(grown, { reveal: SEED }))).dispute, null);
  const drawn = renderAuditRegion(SEED, taskId, task);
  assert.equal((await decide(bundle(drawn, { reveal: SEED }))).dispute, null);
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

test('a task drawn twice (re-run) is not checked', async () => {
  const [x0, y0, x1, y1] = renderAuditRegion(SEED, taskId, task);
  const b = bundle([x0 + 1, y0, x1 + 1, y1], { reveal: SEED });
  b.facts.draws!.push({ ...b.facts.draws![0]!, provider: auditor, audited: false });
  assert.deepEqual(await decide(b), { audits: [], dispute: null });
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
