/**
 * The erasure thread codes exactly what `encodeObject` codes in-process, rebuilds a lost piece
 * checked against its root, passes the codec's errors through with their codes, and leaves the
 * event loop free while it codes (the reason it exists).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import { DEFAULT_ERASURE, encodeObject } from './erasure.ts';
import { createErasureThread } from './erasureThread.ts';

const params = { ...DEFAULT_ERASURE, dataPieces: 4, parityPieces: 2, segmentBytes: 1 << 20 };

test('the thread codes what encodeObject codes, and rebuilds a lost piece checked against its root', async () => {
  const coder = createErasureThread();
  try {
    const object = randomBytes(2.5 * (1 << 20) + 17);
    const local = encodeObject(object, params);
    const remote = await coder.encode(new Uint8Array(object), params);
    assert.deepEqual(remote.manifest, local.manifest);
    assert.equal(remote.pieces.length, 3);
    for (const [s, seg] of remote.pieces.entries())
      for (const [i, p] of seg.entries())
        assert.ok(
          Buffer.from(p).equals(Buffer.from(local.pieces[s]![i]!)),
          'Buffer.from(p).equals(Buffer.from(local.pieces[s]![i]!))',
        );
    const seg = local.manifest.segments[1]!;
    const slots = local.pieces[1]!.map((p, i) => (i === 0 || i === 4 ? undefined : new Uint8Array(p)));
    const rebuilt = await coder.rebuild({
      slots,
      roots: seg.pieceRoots,
      dataPieces: 4,
      parityPieces: 2,
      pieceBytes: seg.pieceBytes,
      leafBytes: params.leafBytes,
      index: 4,
    });
    assert.ok(
      Buffer.from(rebuilt).equals(Buffer.from(local.pieces[1]![4]!)),
      'Buffer.from(rebuilt).equals(Buffer.from(local.pieces[1]![4]!))',
    );
    assert.equal(await coder.root(rebuilt, params.leafBytes), seg.pieceRoots[4]);
    // A corrupted source is dropped (checked against its root); with only 3 valid left: refused.
    slots[1] = new Uint8Array(slots[1]!.length);
    await assert.rejects(
      coder.rebuild({
        slots,
        roots: seg.pieceRoots,
        dataPieces: 4,
        parityPieces: 2,
        pieceBytes: seg.pieceBytes,
        leafBytes: params.leafBytes,
        index: 0,
      }),
      (e) => isPlexusError(e) && e.code === 'PLX_STORAGE_UNAVAILABLE',
    );
    // Codec errors keep their code.
    await assert.rejects(coder.encode(new Uint8Array(10), { ...params, dataPieces: 0 }), (e) =>
      isPlexusError(e),
    );
  } finally {
    await coder.close();
  }
});

test('the event loop keeps turning while the thread codes', async () => {
  const coder = createErasureThread();
  try {
    await coder.root(new Uint8Array(1024), 1024); // thread started and tsx loaded before measuring
    const object = new Uint8Array(randomBytes(16 << 20));
    const big = { ...DEFAULT_ERASURE, dataPieces: 16, parityPieces: 16, segmentBytes: 8 << 20 };
    const started = performance.now();
    let last = started;
    let worstGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const t = performance.now();
      worstGap = Math.max(worstGap, t - last);
      last = t;
      ticks++;
    }, 5);
    const { manifest } = await coder.encode(object, big, true);
    clearInterval(timer);
    const took = performance.now() - started;
    assert.equal(manifest.segments.length, 2);
    assert.equal(object.byteLength, 0, 'the object was moved to the thread, not copied');
    // In-process, the loop would not turn once during the coding (one gap as long as all of it).
    assert.ok(ticks >= 3, `only ${ticks} ticks in ${took.toFixed(0)} ms`);
    assert.ok(
      worstGap < took * 0.75 || took < 40,
      `a ${worstGap.toFixed(0)} ms gap in ${took.toFixed(0)} ms`,
    );
  } finally {
    await coder.close();
  }
});
