/**
 * A storage fault's slash (issue 19, coordinator/storage/challengePieces.ts), checked from its
 * evidence: the slashed task is the challenged piece and window, and a fault the holder answered
 * (`missing`, `wrong-index`, `bad-proof`) must be what the proof-of-storage check gives for the
 * recorded challenge and answer — the validator re-runs `verifyChallenge` (src/storage/, the same
 * pure code holders and clients use). A holder that did not answer (`offline`) or answered after
 * the deadline (`late`) cannot be proven so by evidence: that part is the coordinator's word.
 */
import type { Hex } from 'viem';
import type { SlashFact } from '../coordinator/settlement/epochFacts.ts';
import { challengeAnswerSchema } from '../protocol/storageMessages.ts';
import {
  answerFromWire,
  type Challenge,
  type ChallengeAnswer,
  verifyChallenge,
} from '../storage/challenge.ts';
import type { FactDispute } from './checkFacts.ts';

const REASONS = new Set(['offline', 'late', 'missing', 'wrong-index', 'bad-proof']);

type StorageEvidence = {
  taskId?: string;
  acceptedDigest?: string;
  storage?: { window?: number; reason?: string; challenge?: Challenge; answer?: unknown };
};

/**
 * Null when the storage slash's evidence holds, else the first fact that does not.
 *
 * @example
 * const wrong = checkStorageSlash(slashFact);
 */
export function checkStorageSlash(s: SlashFact): FactDispute | null {
  const name = `slash[${s.id}]`;
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact: `${name}.${fact}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const ev = (s.evidence ?? {}) as StorageEvidence;
  const st = ev.storage;
  if (!st || typeof st.window !== 'number' || typeof ev.acceptedDigest !== 'string')
    return bad('evidence', 'no storage challenge evidence', 'the piece root, window and reason');
  const taskId = `storage:${ev.acceptedDigest}:${st.window}`;
  if (s.taskId !== taskId || ev.taskId !== taskId) return bad('evidence', s.taskId, taskId);
  return checkFaultEvidence(name, ev.acceptedDigest, st);
}

/**
 * Checks one storage fault's evidence for the piece `root` (a slash's, or the loss a repair's
 * entry names): a known reason; for anything but `offline`, the challenge of that root and window;
 * for a wrong answer, the answer fails the challenge here with that very reason. Null when it holds.
 *
 * @example const wrong = checkFaultEvidence('entry[storage:repair:…].lost', root, memo.lost);
 */
export function checkFaultEvidence(
  name: string,
  root: string,
  st: { window?: unknown; reason?: unknown; challenge?: Challenge | undefined; answer?: unknown },
): FactDispute | null {
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact: `${name}.${fact}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const ev = { acceptedDigest: root };
  if (typeof st.window !== 'number') return bad('storage.window', st.window, 'a challenge window');
  if (!REASONS.has(String(st.reason))) return bad('storage', st.reason, 'a storage fault reason');
  if (st.reason === 'offline') return null;
  const c = st.challenge;
  if (!c || c.pieceRoot !== ev.acceptedDigest || c.window !== st.window)
    return bad(
      'storage.challenge',
      c?.pieceRoot ?? 'none',
      `the challenge of ${ev.acceptedDigest} in window ${st.window}`,
    );
  if (st.reason === 'late') return null;
  const wire = challengeAnswerSchema.safeParse(st.answer);
  let answer: ChallengeAnswer | undefined;
  try {
    answer =
      wire.success && wire.data.pieceRoot === c.pieceRoot && wire.data.window === c.window
        ? answerFromWire(wire.data)
        : undefined;
  } catch {
    answer = undefined;
  }
  let verdict: string | null;
  try {
    verdict = verifyChallenge({ ...c, seed: c.seed as Hex, pieceRoot: c.pieceRoot as Hex }, answer);
  } catch (err) {
    return bad('storage.challenge', err instanceof Error ? err.message : String(err), 'a valid challenge');
  }
  if (verdict !== st.reason) return bad('storage', st.reason, verdict ?? 'the answer passes the challenge');
  return null;
}
