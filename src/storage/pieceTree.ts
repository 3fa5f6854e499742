/**
 * Merkle trees over the fixed-size leaves of one stored piece (issue 19, proofs of storage).
 *
 * A piece is cut into leaves of `leafBytes` (the last one may be shorter). Hashing is sha256 with
 * a one-byte domain tag per kind of node, so a leaf can never be passed off as an inner node (the
 * classic second-preimage trick on untagged trees):
 *
 * - leaf hash  = sha256(0x00 ‖ leaf bytes)
 * - inner node = sha256(0x01 ‖ left ‖ right); a level with an odd count carries its last node up
 *   unchanged (no duplication, so two different leaf lists never share a tree)
 * - piece root = sha256(0x02 ‖ u64be(pieceBytes) ‖ u32be(leafBytes) ‖ top node)
 *
 * The root commits to the piece's length and leaf size as well as its bytes, so a verifier that
 * knows only the root (recorded at upload) and the challenged index can check a leaf and its path
 * in O(log n) hashes, and a holder cannot pretend the piece is shorter than it was.
 */
import { createHash } from 'node:crypto';
import { bytesToHex, type Hex, hexToBytes } from 'viem';

/**
 * Default leaf size: a challenge answer costs one leaf plus ~log2(n) × 32 bytes per index.
 *
 * @example PieceTree.build(piece, DEFAULT_LEAF_BYTES)
 */
export const DEFAULT_LEAF_BYTES = 1024;

const TAG_LEAF = Uint8Array.of(0);
/** `PLXT`: the first bytes of a serialized tree. */
const TREE_MAGIC = Uint8Array.of(0x50, 0x4c, 0x58, 0x54);
const TREE_HEADER_BYTES = 48;
const TAG_NODE = Uint8Array.of(1);
const TAG_ROOT = Uint8Array.of(2);

/**
 * sha256 of a leaf, tagged (see the module header).
 *
 * @example hashLeaf(leafOf(piece, 1024, 0)) // 32 bytes
 */
export function hashLeaf(leaf: Uint8Array): Uint8Array {
  return createHash('sha256').update(TAG_LEAF).update(leaf).digest();
}

/**
 * sha256 of two child nodes, tagged.
 *
 * @example hashNode(hashLeaf(a), hashLeaf(b)) // 32 bytes
 */
export function hashNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash('sha256').update(TAG_NODE).update(left).update(right).digest();
}

/**
 * The piece root from the top node of the tree and the piece's shape.
 *
 * @example const root = sealRoot(top, 819_200, 1024);
 */
export function sealRoot(top: Uint8Array, pieceBytes: number, leafBytes: number): Hex {
  const shape = Buffer.alloc(12);
  shape.writeBigUInt64BE(BigInt(pieceBytes), 0);
  shape.writeUInt32BE(leafBytes, 8);
  return `0x${createHash('sha256').update(TAG_ROOT).update(shape).update(top).digest('hex')}`;
}

/**
 * Number of leaves of a piece: at least one, so an empty piece still has a root to prove.
 *
 * @example leafCount(2500, 1024) // 3
 */
export function leafCount(pieceBytes: number, leafBytes: number): number {
  if (!Number.isSafeInteger(pieceBytes) || pieceBytes < 0)
    throw new RangeError(`bad piece size ${pieceBytes}`);
  if (!Number.isSafeInteger(leafBytes) || leafBytes < 1) throw new RangeError(`bad leaf size ${leafBytes}`);
  return Math.max(1, Math.ceil(pieceBytes / leafBytes));
}

/**
 * The bytes of leaf `index` of a piece (a view, not a copy; the last leaf may be short).
 *
 * @example leafOf(new Uint8Array(2500), 1024, 2).length // 452
 */
export function leafOf(piece: Uint8Array, leafBytes: number, index: number): Uint8Array {
  return piece.subarray(index * leafBytes, Math.min(piece.length, (index + 1) * leafBytes));
}

/** One step of a Merkle path: the sibling hash, absent where the node was carried up alone. */
export type PathStep = Uint8Array | null;

/**
 * The whole tree of one piece, every level kept, so a holder answers challenges without rehashing
 * the piece (the holder keeps it on disk beside the piece: ~2 × 32 bytes per leaf).
 *
 * @example
 * const tree = PieceTree.build(piece);
 * const path = tree.path(7); // verify with verifyLeaf(tree.root, piece.length, 1024, 7, leaf, path)
 */
export class PieceTree {
  /** levels[0] are the leaf hashes, the last level is the single top node. */
  private constructor(
    readonly root: Hex,
    readonly pieceBytes: number,
    readonly leafBytes: number,
    private readonly levels: Uint8Array[][],
  ) {}

  /**
   * Hashes every leaf of a piece and builds the tree.
   *
   * @example const { root } = PieceTree.build(new Uint8Array(4096), 1024);
   */
  static build(piece: Uint8Array, leafBytes = DEFAULT_LEAF_BYTES): PieceTree {
    const n = leafCount(piece.length, leafBytes);
    const leaves: Uint8Array[] = new Array(n);
    for (let i = 0; i < n; i++) leaves[i] = hashLeaf(leafOf(piece, leafBytes, i));
    const levels = [leaves];
    let level = leaves;
    while (level.length > 1) {
      const up: Uint8Array[] = [];
      for (let i = 0; i < level.length; i += 2) {
        const right = level[i + 1];
        up.push(right === undefined ? level[i]! : hashNode(level[i]!, right));
      }
      levels.push(up);
      level = up;
    }
    return new PieceTree(sealRoot(level[0]!, piece.length, leafBytes), piece.length, leafBytes, levels);
  }

  /**
   * The whole tree as bytes, for the holder to keep beside its piece: a 48-byte header (magic,
   * piece length, leaf size, root) and every level's 32-byte nodes, leaves first.
   *
   * @example await writeFile('piece.tree', tree.toBytes());
   */
  toBytes(): Uint8Array {
    const nodes = this.levels.reduce((n, l) => n + l.length, 0);
    const out = new Uint8Array(TREE_HEADER_BYTES + nodes * 32);
    const view = new DataView(out.buffer);
    out.set(TREE_MAGIC, 0);
    view.setBigUint64(4, BigInt(this.pieceBytes));
    view.setUint32(12, this.leafBytes);
    out.set(hexToBytes(this.root), 16);
    let at = TREE_HEADER_BYTES;
    for (const level of this.levels)
      for (const node of level) {
        out.set(node, at);
        at += 32;
      }
    return out;
  }

  /**
   * A tree from `toBytes()`. Checks its shape and that its top node seals to the root it names
   * (the holder trusts its own disk no further than that; a verifier never needs this).
   *
   * @example const tree = PieceTree.fromBytes(await readFile('piece.tree'));
   */
  static fromBytes(bytes: Uint8Array): PieceTree {
    if (bytes.length < TREE_HEADER_BYTES || !TREE_MAGIC.every((b, i) => bytes[i] === b))
      throw new RangeError('not a piece tree');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const pieceBytes = Number(view.getBigUint64(4));
    const leafBytes = view.getUint32(12);
    const root = bytesToHex(bytes.subarray(16, 48));
    const levels: Uint8Array[][] = [];
    let width = leafCount(pieceBytes, leafBytes);
    let at = TREE_HEADER_BYTES;
    for (;;) {
      if (at + width * 32 > bytes.length) throw new RangeError('piece tree is truncated');
      const level: Uint8Array[] = [];
      for (let i = 0; i < width; i++, at += 32) level.push(bytes.slice(at, at + 32));
      levels.push(level);
      if (width === 1) break;
      width = Math.ceil(width / 2);
    }
    if (at !== bytes.length) throw new RangeError('piece tree has trailing bytes');
    if (sealRoot(levels[levels.length - 1]![0]!, pieceBytes, leafBytes) !== root)
      throw new RangeError('piece tree does not seal to its root');
    return new PieceTree(root, pieceBytes, leafBytes, levels);
  }

  /** Number of leaves. */
  get leafCount(): number {
    return this.levels[0]!.length;
  }

  /**
   * The Merkle path of leaf `index`, bottom up: one sibling per level (null where none).
   *
   * @example const path = PieceTree.build(piece).path(0);
   */
  path(index: number): PathStep[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount)
      throw new RangeError(`leaf ${index} out of range (${this.leafCount} leaves)`);
    const steps: PathStep[] = [];
    let i = index;
    for (let l = 0; l < this.levels.length - 1; l++) {
      const level = this.levels[l]!;
      const sibling = i % 2 === 0 ? level[i + 1] : level[i - 1];
      steps.push(sibling ?? null);
      i = Math.floor(i / 2);
    }
    return steps;
  }
}

/**
 * Root of a piece, without keeping the tree.
 *
 * @example const root = pieceRoot(piece); // '0x…' (32 bytes)
 */
export function pieceRoot(piece: Uint8Array, leafBytes = DEFAULT_LEAF_BYTES): Hex {
  return PieceTree.build(piece, leafBytes).root;
}

/**
 * Checks one leaf and its path against a piece root, in O(log n) hashes. The expected path shape
 * (where a sibling must be absent, how many steps) follows from the piece size alone, so a path of
 * the wrong shape, a leaf of the wrong length or a wrong index is refused as well as a wrong hash.
 *
 * @example verifyLeaf(tree.root, piece.length, 1024, 7, leafOf(piece, 1024, 7), tree.path(7)) // true
 */
export function verifyLeaf(
  root: Hex,
  pieceBytes: number,
  leafBytes: number,
  index: number,
  leaf: Uint8Array,
  path: readonly PathStep[],
): boolean {
  const n = leafCount(pieceBytes, leafBytes);
  if (!Number.isInteger(index) || index < 0 || index >= n) return false;
  const expectedLength = Math.min(leafBytes, Math.max(0, pieceBytes - index * leafBytes));
  if (leaf.length !== expectedLength) return false;
  let node = hashLeaf(leaf);
  let i = index;
  let width = n;
  let step = 0;
  while (width > 1) {
    const sibling = path[step++];
    const hasSibling = i % 2 === 1 || i + 1 < width;
    if (sibling === undefined) return false;
    if (!hasSibling) {
      if (sibling !== null) return false;
    } else {
      if (sibling === null || sibling.length !== 32) return false;
      node = i % 2 === 0 ? hashNode(node, sibling) : hashNode(sibling, node);
    }
    i = Math.floor(i / 2);
    width = Math.ceil(width / 2);
  }
  if (step !== path.length) return false;
  return sealRoot(node, pieceBytes, leafBytes) === root;
}
