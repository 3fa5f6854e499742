/**
 * Proofs of storage: deterministic, uniform challenge indices; an honest holder passes; one that
 * deleted the piece, kept only its root, corrupted a byte, or answers with another piece fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { type Hex, keccak256, toHex } from 'viem';
import { challengeAnswerSchema } from '../protocol/storageMessages.ts';
import {
  answerBytes,
  answerChallenge,
  answerFromWire,
  answerToWire,
  type Challenge,
  type ChallengeAnswer,
  challengeIndices,
  DEFAULT_CHALLENGE_LEAVES,
  verifyChallenge,
} from './challenge.ts';
import { leafOf, PieceTree } from './pieceTree.ts';

const LEAF = 1024;
const piece = randomBytes(256 * 1024 + 100); // 257 leaves
const tree = PieceTree.build(piece, LEAF);
const seedOf = (w: number): Hex => keccak256(toHex(`block-${w}`));
const challengeOf = (w: number, over: Partial<Challenge> = {}): Challenge => ({
  seed: seedOf(w),
  window: w,
  pieceRoot: tree.root,
  pieceBytes: piece.length,
  leafBytes: LEAF,
  count: DEFAULT_CHALLENGE_LEAVES,
  ...over,
});

test('indices are deterministic, distinct, in range, and change with seed, window and piece', () => {
  const c = challengeOf(1);
  const a = challengeIndices(c);
  assert.deepEqual(a, challengeIndices({ ...c }));
  assert.equal(a.length, DEFAULT_CHALLENGE_LEAVES);
  assert.equal(new Set(a).size, a.length);
  assert.ok(
    a.every((i) => Number.isInteger(i) && i >= 0 && i < 257),
    'a.every((i) => Number.isInteger(i) && i >= 0 && i < 257)',
  );
  assert.notDeepEqual(a, challengeIndices({ ...c, seed: seedOf(2) }));
  assert.notDeepEqual(a, challengeIndices({ ...c, window: 2 }));
  assert.notDeepEqual(a, challengeIndices({ ...c, pieceRoot: keccak256('0x01') }));
  // Pinned: the derivation is part of the protocol (holders and validators must agree).
  assert.deepEqual(
    challengeIndices(challengeOf(7, { pieceRoot: keccak256('0x00'), pieceBytes: 1e6 })),
    [78, 842, 450, 649, 609, 185, 198, 24],
  );
  // A piece with fewer leaves than asked for: every leaf, once.
  const tiny = challengeIndices({ ...c, pieceBytes: 3000 });
  assert.deepEqual([...tiny].sort(), [0, 1, 2]);
});

test('indices are uniform over the leaves (chi-square over 20,000 draws)', () => {
  const n = 10;
  const counts = new Array(n).fill(0);
  for (let w = 0; w < 20_000; w++)
    for (const i of challengeIndices(challengeOf(w, { pieceBytes: n * LEAF, count: 1 }))) counts[i]++;
  const expected = 20_000 / n;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  assert.ok(chi2 < 27.9, `chi-square ${chi2.toFixed(1)} (9 degrees of freedom, p = 0.001 cut-off 27.9)`);
});

test('an honest holder passes every window; the answer is small', () => {
  for (let w = 0; w < 50; w++) {
    const c = challengeOf(w);
    assert.equal(verifyChallenge(c, answerChallenge(c, piece, tree)), null);
  }
  const answer = answerChallenge(challengeOf(0), piece, tree);
  // 8 leaves of 1 KiB and 9 path hashes each: about 10.4 KB for a 257 KiB piece.
  assert.ok(
    answerBytes(answer) < 8 * (LEAF + 4 + 9 * 32) + 1,
    'answerBytes(answer) < 8 * (LEAF + 4 + 9 * 32) + 1',
  );
});

test('a holder that deleted the piece, or kept only its root, fails', () => {
  const c = challengeOf(3);
  assert.equal(verifyChallenge(c, undefined), 'missing');
  assert.equal(verifyChallenge(c, []), 'missing');
  // Root only: it knows the indices but must invent leaves and paths.
  const invented: ChallengeAnswer = challengeIndices(c).map((index) => ({
    index,
    leaf: new Uint8Array(LEAF),
    path: tree.path(index).map(() => new Uint8Array(32)),
  }));
  assert.equal(verifyChallenge(c, invented), 'bad-proof');
  // Even with the real paths (say it kept the tree but not the data), the leaves give it away.
  const treeOnly = challengeIndices(c).map((index) => ({
    index,
    leaf: new Uint8Array(LEAF),
    path: tree.path(index),
  }));
  assert.equal(verifyChallenge(c, treeOnly), 'bad-proof');
});

test('a holder with one corrupted byte fails when that leaf is challenged, and within a few hundred windows', () => {
  const c = challengeOf(5);
  const target = challengeIndices(c)[3]!;
  const corrupted = Buffer.from(piece);
  const at = target * LEAF + 17;
  corrupted[at] = corrupted[at]! ^ 0xff;
  // It answers from the corrupted bytes with its old tree…
  assert.equal(verifyChallenge(c, answerChallenge(c, corrupted, tree)), 'bad-proof');
  // …or with a tree rebuilt over the corrupted bytes: every path then misses the recorded root.
  assert.equal(
    verifyChallenge(c, answerChallenge(c, corrupted, PieceTree.build(corrupted, LEAF))),
    'bad-proof',
  );
  // A byte in an unchallenged leaf goes unseen this window; windows catch it at rate k/n each.
  let caught = -1;
  for (let w = 0; w < 2000 && caught < 0; w++) {
    const cw = challengeOf(1000 + w);
    if (verifyChallenge(cw, answerChallenge(cw, corrupted, tree)) !== null) caught = w;
  }
  // P(not caught in 400 windows) = (1 − 8/257)^400 ≈ 3e-6.
  assert.ok(caught >= 0 && caught < 400, `caught after ${caught} windows`);
});

test('leaves and paths of another piece, wrong order, or a stale window fail', () => {
  const other = randomBytes(piece.length);
  const otherTree = PieceTree.build(other, LEAF);
  const c = challengeOf(9);
  assert.equal(verifyChallenge(c, answerChallenge(c, other, otherTree)), 'bad-proof');
  const honest = answerChallenge(c, piece, tree);
  assert.equal(verifyChallenge(c, [...honest].reverse()), 'wrong-index');
  // Last window's answer (a replay) names last window's indices.
  assert.equal(verifyChallenge(c, answerChallenge(challengeOf(8), piece, tree)), 'wrong-index');
  // Right index, leaf of the same piece at another index.
  const shifted = honest.map((a) => ({ ...a, leaf: leafOf(piece, LEAF, (a.index + 1) % 257) }));
  assert.equal(verifyChallenge(c, shifted), 'bad-proof');
});

test('answers survive their wire form; malformed wire answers fail the schema', () => {
  const c = challengeOf(11);
  const wire = JSON.parse(JSON.stringify(answerToWire(c, answerChallenge(c, piece, tree))));
  const back = answerFromWire(challengeAnswerSchema.parse(wire));
  assert.equal(verifyChallenge(c, back), null);
  assert.equal(challengeAnswerSchema.safeParse({ ...wire, window: -1 }).success, false);
  assert.equal(challengeAnswerSchema.safeParse({ ...wire, extra: 1 }).success, false);
  const badPath = { ...wire, leaves: [{ ...wire.leaves[0], path: ['0x12'] }] };
  assert.equal(challengeAnswerSchema.safeParse(badPath).success, false);
  const badLeaf = { ...wire, leaves: [{ ...wire.leaves[0], leaf: 'not base64!' }] };
  assert.equal(challengeAnswerSchema.safeParse(badLeaf).success, false);
});
