import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCanvas } from '@napi-rs/canvas';
import { type Hex, keccak256, toHex } from 'viem';
import { computeCommitment } from '../../protocol/commitment.ts';
import {
  auditRegionOf,
  type RenderTask,
  renderOutputParts,
  renderOutputTensors,
  renderRegionOutputTensors,
} from '../../protocol/render.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { compareRenderOutputs, cropPixels, decodePng, isRegionRenderOutput } from './compareRenders.ts';
import {
  flatShare,
  grownAuditRegion,
  RENDER_AUDIT_FRACTION,
  RENDER_AUDIT_MAX_FLAT_SHARE,
  renderAuditRegion,
} from './renderAuditRegion.ts';
import { TaskVerification } from './taskVerification.ts';

const task: RenderTask = {
  v: 1,
  frame: 3,
  width: 64,
  height: 48,
  samples: 16,
  seed: 0,
  region: [0, 0, 64, 48],
};

/** A noisy test picture (like a render), `bad` pixels of a rectangle replaced with grey. */
function picture(opts: { noise?: number; grey?: RenderTask['region'] } = {}) {
  const c = createCanvas(64, 48);
  const ctx = c.getContext('2d');
  const g = ctx.createLinearGradient(0, 0, 64, 48);
  g.addColorStop(0, '#203040');
  g.addColorStop(1, '#c0a080');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 64, 48);
  ctx.fillStyle = '#e04020';
  for (let i = 0; i < 6; i++) {
    ctx.beginPath();
    ctx.arc(8 + i * 10, 10 + (i % 3) * 12, 5, 0, Math.PI * 2);
    ctx.fill();
  }
  const img = ctx.getImageData(0, 0, 64, 48);
  let s = 7;
  for (let i = 0; i < img.data.length; i++) {
    if (i % 4 === 3) continue;
    s = (s * 16807) % 2147483647;
    img.data[i] = Math.max(0, Math.min(255, img.data[i]! + ((s / 2147483647) * 2 - 1) * (opts.noise ?? 30)));
  }
  ctx.putImageData(img, 0, 0);
  if (opts.grey) {
    const [x0, y0, x1, y1] = opts.grey;
    ctx.fillStyle = '#808080';
    ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  }
  return c;
}
const whole = (c: ReturnType<typeof picture>) => renderOutputTensors(c.toBuffer('image/png'));
/** What an honest auditor hands in: the crop of the same picture, with the crop named. */
function regionOf(c: ReturnType<typeof picture>, crop: RenderTask['region']): TensorSet {
  const [x0, y0, x1, y1] = crop;
  const out = createCanvas(x1 - x0, y1 - y0);
  out.getContext('2d').drawImage(c, -x0, -y0);
  return renderRegionOutputTensors(out.toBuffer('image/png'), crop);
}

test('audit regions: a few percent of the task, inside it, recomputable from the seed, edges covered', () => {
  const r = renderAuditRegion('ab'.repeat(32), '0x01', task);
  assert.deepEqual(
    r,
    renderAuditRegion('ab'.repeat(32), '0x01', task),
    'the same seed draws the same region',
  );
  assert.notDeepEqual(r, renderAuditRegion('cd'.repeat(32), '0x01', task));
  const big: RenderTask = { ...task, width: 1920, height: 1080, region: [0, 0, 1920, 1080] };
  const [x0, y0, x1, y1] = renderAuditRegion('ab'.repeat(32), '0x02', big);
  const share = ((x1 - x0) * (y1 - y0)) / (1920 * 1080);
  assert.ok(Math.abs(share - RENDER_AUDIT_FRACTION) < 0.005, `share ${share}`);
  // A tile's audit stays inside the tile.
  const tile: RenderTask = { ...task, region: [32, 24, 64, 48] };
  for (let i = 0; i < 200; i++) {
    const [a, b, c, d] = renderAuditRegion('ab'.repeat(32), `0x${i}`, tile);
    assert.ok(
      a >= 32 && b >= 24 && c <= 64 && d <= 48 && c - a === 16 && d - b === 12,
      'a >= 32 && b >= 24 && c <= 64 && d <= 48 && c - a === 16 && d - b === 12',
    );
  }
  // Every pixel, corners included, is covered about as often as the centre (uniform u, v).
  const hits = new Map<string, number>();
  const n = 40;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const [a, b, c, d] = auditRegionOf(big, 0.04, (i + 0.5) / n, (j + 0.5) / n);
      for (const [x, y] of [
        [0, 0],
        [1919, 1079],
        [960, 540],
        [0, 540],
      ] as const)
        if (x >= a && x < c && y >= b && y < d) hits.set(`${x},${y}`, (hits.get(`${x},${y}`) ?? 0) + 1);
    }
  const centre = hits.get('960,540') ?? 0;
  for (const k of ['0,0', '1919,1079', '0,540'])
    assert.ok((hits.get(k) ?? 0) >= centre * 0.8, `${k}: ${hits.get(k)} vs centre ${centre}`);
});

test('a region output is compared with the same crop of the whole image, under the region thresholds', () => {
  const pic = picture();
  const crop: RenderTask['region'] = [20, 10, 36, 22];
  const region = regionOf(pic, crop);
  assert.deepEqual(renderOutputParts(region).crop, crop);
  assert.ok(
    isRegionRenderOutput(region) && !isRegionRenderOutput(whole(pic)),
    'isRegionRenderOutput(region) && !isRegionRenderOutput(whole(pic))',
  );
  const same = compareRenderOutputs(whole(pic), region);
  assert.equal(same.ok, true, JSON.stringify(same));
  assert.equal(compareRenderOutputs(region, whole(pic)).ok, true, 'either order');
  // Another place in the image, the right size: caught.
  const moved = regionOf(pic, [40, 30, 56, 42]);
  const wrongPlace = compareRenderOutputs(
    whole(pic),
    renderRegionOutputTensors(renderOutputParts(moved).png, crop),
  );
  assert.equal(wrongPlace.ok, false);
  // A primary that skimped exactly where the region falls: caught.
  const skimped = compareRenderOutputs(whole(picture({ grey: [24, 12, 30, 20] })), region);
  assert.equal(skimped.ok, false, JSON.stringify(skimped));
  assert.match(skimped.reasons.join(' '), /region 20,10,36,22/);
  // Two regions, or a crop outside the image, never agree.
  assert.match(compareRenderOutputs(region, region).reasons[0]!, /two region audits/);
  assert.match(
    compareRenderOutputs(whole(pic), regionOf(pic, [56, 40, 72, 52])).reasons[0]!,
    /not inside|region/,
  );
});

/** Drives a verification: each provider hands in `behave(provider, role)`. */
function drive(tv: TaskVerification, providers: Hex[], behave: (p: Hex, role: string) => TensorSet) {
  let next = 0;
  for (let guard = 0; guard < 20 && !tv.verdict(); guard++) {
    const assigned: Array<[Hex, string]> = [];
    for (const req of tv.pending())
      for (let i = 0; i < req.count; i++) {
        const p = providers[next++]!;
        // Auditors and tie-breakers are trusted, as the dispatcher picks them (an untrusted head
        // count faults nobody, taskVerification.ts).
        tv.assign(p, req.role, req.role !== 'primary');
        assigned.push([p, req.role]);
      }
    const outs = assigned.map(([p, role]) => {
      const tensors = behave(p, role);
      const salt = keccak256(toHex(`salt-${p}`));
      const outputDigest = tensorSetDigest(tensors);
      tv.commit(p, computeCommitment({ taskId: tv.taskId, provider: p, outputDigest, salt }));
      return { p, tensors, salt, outputDigest };
    });
    for (const o of outs) tv.reveal(o.p, { outputDigest: o.outputDigest, salt: o.salt, tensors: o.tensors });
  }
  return tv.verdict()!;
}

const addr = (i: number): Hex => `0x${i.toString(16).padStart(40, '0')}`;
const init = () => ({
  taskId: '0xt',
  policy: { kind: 'audit' as const, outputs: 'image' as const },
  audit: true,
  reward: 100n,
  stakeOf: () => 10_000n,
});

test('region audit in the verification machine: an honest primary is accepted, a skimping one is outvoted and its frame replaced by a whole one', () => {
  const pic = picture();
  const crop: RenderTask['region'] = [20, 10, 36, 22];
  const honest = new TaskVerification(init());
  const v1 = drive(honest, [addr(1), addr(2)], (_p, role) =>
    role === 'auditor' ? regionOf(pic, crop) : whole(pic),
  );
  assert.equal(v1.status, 'accepted');
  assert.equal(v1.acceptedFrom, addr(1));
  assert.equal(v1.faults.length, 0);

  // The primary rendered only the centre properly; the region lands on its grey part.
  const cheat = new TaskVerification(init());
  const v2 = drive(cheat, [addr(1), addr(2), addr(3)], (p, role) =>
    role === 'auditor'
      ? regionOf(pic, crop)
      : p === addr(1)
        ? whole(picture({ grey: [0, 0, 64, 14] }))
        : whole(pic),
  );
  assert.equal(v2.status, 'accepted');
  assert.equal(v2.acceptedFrom, addr(3), 'the tie-breaker’s whole frame, never the auditor’s region');
  assert.deepEqual(
    v2.faults.map((f) => [f.provider, f.evidence.kind]),
    [[addr(1), 'outvoted']],
  );
});

test('a region mostly flat in the primary grows until it is not; a constant frame is audited whole', () => {
  const pixels = (png: Buffer) => decodePng(png);
  // A textured (noisy) picture: the drawn region stays as drawn.
  const textured = pixels(picture({ noise: 40 }).toBuffer('image/png'));
  for (const seed of ['a', 'b', 'c', 'd']) {
    const drawn = renderAuditRegion(seed, '0x01', task);
    assert.deepEqual(renderAuditRegion(seed, '0x01', task, textured), drawn);
  }
  // A black frame (the cheat), or any constant one: the audit renders the whole task.
  const c = createCanvas(64, 48);
  const black = pixels(c.toBuffer('image/png'));
  assert.equal(flatShare(black), 1);
  for (const seed of ['a', 'b', 'c'])
    assert.deepEqual(renderAuditRegion(seed, '0x01', task, black), [0, 0, 64, 48]);
  // A flat band on the left, texture elsewhere: a region drawn in the band grows into texture.
  const half = pixels(picture({ noise: 40, grey: [0, 0, 24, 48] }).toBuffer('image/png'));
  const grown = grownAuditRegion(task, [0, 0, 16, 12], half);
  assert.ok(grown[2] - grown[0] > 16 && grown[3] - grown[1] > 12, grown.join(','));
  assert.ok(
    flatShare(cropPixels(half, grown)) <= RENDER_AUDIT_MAX_FLAT_SHARE,
    'flatShare(cropPixels(half, grown)) <= RENDER_AUDIT_MAX_FLAT_SHARE',
  );
  // A tile: growth stays inside the task's own region (pixels are the tile's).
  const tile: RenderTask = { ...task, region: [32, 24, 64, 48] };
  const tileBlack = pixels(createCanvas(32, 24).toBuffer('image/png'));
  assert.deepEqual(grownAuditRegion(tile, [40, 30, 56, 42], tileBlack), [32, 24, 64, 48]);
  // A primary of the wrong size is not grown from (the comparison refuses it).
  assert.deepEqual(grownAuditRegion(tile, [40, 30, 56, 42], black), [40, 30, 56, 42]);
});
