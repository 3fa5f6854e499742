/**
 * Proofs of storage (issue 19): every challenge window, each holder of a piece must return a few
 * randomly chosen leaves of it with their Merkle paths, checked against the piece root recorded at
 * upload.
 *
 * The leaf indices come from a seed nobody knew in advance (a block hash from after the window
 * opened), mixed with the window number and the piece root: the holder cannot precompute answers
 * and keep only those, and every piece gets its own indices. Derivation is deterministic, so the
 * holder, the coordinator and any validator compute the same indices from public data.
 *
 * What one window proves: a holder that kept a fraction f of the piece's leaves passes with
 * probability about f^k for k challenged leaves; a single corrupted leaf of n is caught with
 * probability k/n per window, and over w windows with 1 − (1 − k/n)^w (docs/storage.md).
 */
import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import { hexToBytes } from 'viem';
import type { ChallengeAnswerWire } from '../protocol/storageMessages.ts';
import { leafCount, leafOf, type PathStep, type PieceTree, verifyLeaf } from './pieceTree.ts';

/**
 * Leaves challenged per piece per window (docs/storage.md: cost against detection).
 *
 * @example const c: Challenge = { seed, window, pieceRoot, pieceBytes, leafBytes, count: DEFAULT_CHALLENGE_LEAVES };
 */
export const DEFAULT_CHALLENGE_LEAVES = 8;

/** Everything public about one challenge of one piece. */
export type Challenge = {
  /** Unpredictable seed, e.g. the hash of the first block after the window opened. */
  seed: Hex;
  /** Challenge window number: the same seed never challenges the same piece twice. */
  window: number;
  /** The piece root recorded at upload. */
  pieceRoot: Hex;
  pieceBytes: number;
  leafBytes: number;
  /** How many distinct leaves are asked for (fewer if the piece has fewer leaves). */
  count: number;
};

/** The holder's answer: one leaf and its path per challenged index, in challenge order. */
export type ChallengeAnswer = { index: number; leaf: Uint8Array; path: PathStep[] }[];

/** Why an answer was refused (null when it passes). */
export type ChallengeFault = 'missing' | 'wrong-index' | 'bad-proof';

/**
 * The challenged leaf indices: distinct, uniform over the piece's leaves (rejection sampling on
 * 32-bit draws of sha256(seed ‖ window ‖ root ‖ counter), so no index is favoured).
 *
 * @example challengeIndices({ seed, window: 42, pieceRoot, pieceBytes: 2 << 20, leafBytes: 1024, count: 8 })
 */
export function challengeIndices(c: Challenge): number[] {
  const n = leafCount(c.pieceBytes, c.leafBytes);
  const want = Math.min(Math.max(0, Math.floor(c.count)), n);
  const limit = Math.floor(2 ** 32 / n) * n;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64BE(BigInt(c.window));
  const base = Buffer.concat([hexToBytes(c.seed), prefix, hexToBytes(c.pieceRoot)]);
  const chosen = new Set<number>();
  const out: number[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0; out.length < want; i++) {
    counter.writeUInt32BE(i);
    const digest = createHash('sha256').update(base).update(counter).digest();
    // Eight 32-bit draws per hash.
    for (let j = 0; j < 32 && out.length < want; j += 4) {
      const draw = digest.readUInt32BE(j);
      if (draw >= limit) continue;
      const index = draw % n;
      if (chosen.has(index)) continue;
      chosen.add(index);
      out.push(index);
    }
  }
  return out;
}

/**
 * The holder's side: reads the challenged leaves of its piece and their paths from its tree.
 *
 * @example const answer = answerChallenge(challenge, piece, tree);
 */
export function answerChallenge(c: Challenge, piece: Uint8Array, tree: PieceTree): ChallengeAnswer {
  return challengeIndices(c).map((index) => ({
    index,
    leaf: leafOf(piece, c.leafBytes, index),
    path: tree.path(index),
  }));
}

/**
 * The verifier's side, in O(k log n) hashes: every challenged index answered, in order, with a
 * leaf whose path leads to the recorded root.
 *
 * @example verifyChallenge(challenge, answer) // null, or 'missing' | 'wrong-index' | 'bad-proof'
 */
export function verifyChallenge(c: Challenge, answer: ChallengeAnswer | undefined): ChallengeFault | null {
  const indices = challengeIndices(c);
  if (answer === undefined || answer.length !== indices.length) return 'missing';
  for (let i = 0; i < indices.length; i++) {
    const a = answer[i]!;
    if (a.index !== indices[i]) return 'wrong-index';
    if (!verifyLeaf(c.pieceRoot, c.pieceBytes, c.leafBytes, a.index, a.leaf, a.path)) return 'bad-proof';
  }
  return null;
}

/**
 * Size of an answer on the wire (leaf bytes, 32 per path hash, 4 per index): what a holder sends
 * per challenged piece.
 *
 * @example answerBytes(answer) // ≈ k × (leafBytes + 32 log2 n)
 */
export function answerBytes(answer: ChallengeAnswer): number {
  return answer.reduce((sum, a) => sum + 4 + a.leaf.length + a.path.filter((s) => s !== null).length * 32, 0);
}

/**
 * An answer in its wire form (src/protocol/storageMessages.ts, `challengeAnswerSchema`).
 *
 * @example const body = answerToWire(challenge, answerChallenge(challenge, piece, tree));
 */
export function answerToWire(
  c: Pick<Challenge, 'pieceRoot' | 'window'>,
  answer: ChallengeAnswer,
): ChallengeAnswerWire {
  return {
    pieceRoot: c.pieceRoot,
    window: c.window,
    leaves: answer.map((a) => ({
      index: a.index,
      leaf: Buffer.from(a.leaf).toString('base64'),
      path: a.path.map((s) => (s === null ? null : `0x${Buffer.from(s).toString('hex')}`)),
    })),
  };
}

/**
 * An answer from its wire form (after `challengeAnswerSchema.parse`), ready for verifyChallenge.
 *
 * @example const fault = verifyChallenge(challenge, answerFromWire(challengeAnswerSchema.parse(body)));
 */
export function answerFromWire(wire: ChallengeAnswerWire): ChallengeAnswer {
  return wire.leaves.map((l) => ({
    index: l.index,
    leaf: new Uint8Array(Buffer.from(l.leaf, 'base64')),
    path: l.path.map((s) => (s === null ? null : hexToBytes(s as Hex))),
  }));
}
