/** Piece trees: every leaf verifies with its path; any change to leaf, index, path or shape fails. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { hashLeaf, hashNode, leafCount, leafOf, PieceTree, sealRoot, verifyLeaf } from './pieceTree.ts';

test('every leaf of pieces of many sizes verifies against the root', () => {
  for (const size of [0, 1, 7, 8, 9, 16, 17, 63, 64, 65, 200]) {
    const piece = randomBytes(size);
    const tree = PieceTree.build(piece, 8);
    assert.equal(tree.leafCount, leafCount(size, 8));
    for (let i = 0; i < tree.leafCount; i++)
      assert.ok(verifyLeaf(tree.root, size, 8, i, leafOf(piece, 8, i), tree.path(i)), `${size} B leaf ${i}`);
  }
});

test('the root is the tagged tree of the leaves, and commits to the piece length and leaf size', () => {
  const piece = randomBytes(24);
  const [a, b, c] = [0, 1, 2].map((i) => hashLeaf(leafOf(piece, 8, i)));
  // Three leaves: the odd last node is carried up, not duplicated.
  assert.equal(PieceTree.build(piece, 8).root, sealRoot(hashNode(hashNode(a!, b!), c!), 24, 8));
  assert.notEqual(PieceTree.build(piece, 8).root, PieceTree.build(piece, 12).root);
  // A piece with trailing zeros is a different piece.
  assert.notEqual(
    PieceTree.build(piece, 8).root,
    PieceTree.build(Buffer.concat([piece, Buffer.alloc(1)]), 8).root,
  );
});

test('changed leaves, wrong indices, truncated or padded paths, and wrong lengths fail', () => {
  const piece = randomBytes(100);
  const tree = PieceTree.build(piece, 8); // 13 leaves
  const leaf = leafOf(piece, 8, 5);
  const path = tree.path(5);
  const flipped = Uint8Array.from(leaf);
  flipped[3]! ^= 1;
  assert.ok(verifyLeaf(tree.root, 100, 8, 5, leaf, path), 'verifyLeaf(tree.root, 100, 8, 5, leaf, path)');
  assert.equal(verifyLeaf(tree.root, 100, 8, 5, flipped, path), false);
  assert.equal(verifyLeaf(tree.root, 100, 8, 4, leaf, path), false);
  assert.equal(verifyLeaf(tree.root, 100, 8, 13, leaf, path), false);
  assert.equal(verifyLeaf(tree.root, 100, 8, 5, leaf, path.slice(1)), false);
  assert.equal(verifyLeaf(tree.root, 100, 8, 5, leaf, [...path, null]), false);
  assert.equal(verifyLeaf(tree.root, 96, 8, 5, leaf, path), false);
  assert.equal(verifyLeaf(tree.root, 100, 8, 5, leaf.subarray(1), path), false);
  // The last (short, lone) leaf: its carried-up step must stay absent.
  const last = tree.path(12);
  assert.ok(
    verifyLeaf(tree.root, 100, 8, 12, leafOf(piece, 8, 12), last),
    'verifyLeaf(tree.root, 100, 8, 12, leafOf(piece, 8, 12), last)',
  );
  assert.ok(last.includes(null), 'last.includes(null)');
  const forged = last.map((s) => s ?? new Uint8Array(32));
  assert.equal(verifyLeaf(tree.root, 100, 8, 12, leafOf(piece, 8, 12), forged), false);
  // An inner node is not a leaf (domain tags).
  assert.equal(verifyLeaf(tree.root, 100, 8, 0, Buffer.concat([hashLeaf(leafOf(piece, 8, 0))]), path), false);
});

test('a tree survives toBytes/fromBytes and a damaged one is refused', () => {
  for (const size of [0, 1, 1024, 5000, 70_000]) {
    const piece = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
    const tree = PieceTree.build(piece, 1024);
    const back = PieceTree.fromBytes(tree.toBytes());
    assert.equal(back.root, tree.root);
    const hex = (path: (Uint8Array | null)[]) => path.map((x) => (x ? Buffer.from(x).toString('hex') : null));
    for (let i = 0; i < tree.leafCount; i++) assert.deepEqual(hex(back.path(i)), hex(tree.path(i)));
  }
  const bytes = PieceTree.build(new Uint8Array(5000), 1024).toBytes();
  const bad = bytes.slice();
  bad[bad.length - 1]! ^= 1;
  assert.throws(() => PieceTree.fromBytes(bad), /seal/);
  assert.throws(() => PieceTree.fromBytes(bytes.subarray(0, bytes.length - 32)), /truncated/);
});
