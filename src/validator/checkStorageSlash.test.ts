/**
 * Storage slashes checked from their evidence (checkStorageSlash.ts) with real pieces, trees and
 * answers: a holder whose answer really fails its challenge stands slashed; a slash over an answer
 * that passes, over another piece's challenge, or without challenge evidence is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { SlashFact } from '../coordinator/settlement/epochFacts.ts';
import { answerChallenge, answerToWire, type Challenge } from '../storage/challenge.ts';
import { PieceTree } from '../storage/pieceTree.ts';
import { checkStorageSlash } from './checkStorageSlash.ts';

const LEAF = 256;
const piece = new Uint8Array(randomBytes(LEAF * 16));
const tree = PieceTree.build(piece, LEAF);
const challenge: Challenge = {
  seed: `0x${'3c'.repeat(32)}` as Hex,
  window: 7,
  pieceRoot: tree.root,
  pieceBytes: piece.length,
  leafBytes: LEAF,
  count: 4,
};

function slash(reason: string, answer: unknown, over: Partial<Challenge> = {}): SlashFact {
  const taskId = `storage:${tree.root}:7`;
  return {
    id: 9,
    provider: `0x${'0a'.repeat(20)}`,
    taskId,
    amount: '100',
    kind: 'storage',
    signed: [],
    evidence: {
      taskId,
      kind: 'storage',
      acceptedDigest: tree.root,
      storage: {
        objectId: 'o',
        segment: 0,
        index: 1,
        window: 7,
        reason,
        challenge: { ...challenge, ...over },
        answer,
      },
    },
  };
}

test('a storage fault stands when the recorded answer really fails its challenge', () => {
  const honest = answerToWire(challenge, answerChallenge(challenge, piece, tree));
  const corrupted = new Uint8Array(piece);
  corrupted.fill(0, 0, LEAF * 16);
  const lying = answerToWire(challenge, answerChallenge(challenge, corrupted, tree));
  assert.equal(checkStorageSlash(slash('bad-proof', lying)), null);
  assert.equal(checkStorageSlash(slash('missing', { ...honest, leaves: honest.leaves.slice(1) })), null);
  assert.equal(checkStorageSlash(slash('offline', undefined)), null);
  // A holder slashed although its answer passes.
  assert.equal(checkStorageSlash(slash('bad-proof', honest))?.fact, 'slash[9].storage');
  // The challenge of another piece.
  assert.equal(
    checkStorageSlash(slash('bad-proof', lying, { pieceRoot: `0x${'00'.repeat(32)}` as Hex }))?.fact,
    'slash[9].storage.challenge',
  );
  // No evidence at all.
  assert.equal(checkStorageSlash({ ...slash('late', honest), evidence: {} })?.fact, 'slash[9].evidence');
});
