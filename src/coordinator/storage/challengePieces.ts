/**
 * Proofs of storage on the network (issue 19): each window, every healthy piece's holder gets a
 * challenge whose leaf indices come from the window's seed (a block hash read after the window
 * opened, or the epoch's committed audit seed: either way nobody knew it in advance), and must
 * answer with the leaves and their Merkle paths before a deadline shorter than rebuilding the
 * piece from others. A holder offline when the window opens gets its challenge when it is back,
 * within `offlineGraceMs` (a coordinator restart or a dropped link must not cost an honest holder
 * its stake); one still offline then, late, or answering wrong is faulted: the fault is
 * recorded with its evidence, a fault fee is charged through the slash path (`slashes`, settled
 * with the epoch like any other slash), and the piece counts as lost, which may start a repair.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Hex } from 'viem';
import type { Logger } from '../../logger.ts';
import type { ChallengeAnswerWire } from '../../protocol/storageMessages.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import {
  answerFromWire,
  type Challenge,
  type ChallengeAnswer,
  verifyChallenge,
} from '../../storage/challenge.ts';
import type { STORAGE_DEFAULTS } from './constants.ts';
import { dropPiece } from './dropPiece.ts';
import type { StorageDatabase } from './storageTables.ts';

type Open = {
  objectId: string;
  segment: number;
  idx: number;
  holder: string;
  challenge: Challenge;
  timer: NodeJS.Timeout;
};

/** A piece as the challenger sees it: where it sits in its object, who holds it, its root. */
type Piece = { objectId: string; segment: number; idx: number; holder: string; root: string };

/** Why a piece failed its window. */
export type StorageFaultReason = 'offline' | 'late' | 'missing' | 'wrong-index' | 'bad-proof';

/**
 * @example
 * const challenger = createChallenger({ db, log, cfg, now, seedOf, session, onLost });
 * await challenger.runWindow();
 */
export function createChallenger(deps: {
  db: Kysely<StorageDatabase>;
  log: Logger;
  cfg: typeof STORAGE_DEFAULTS;
  now: () => number;
  seedOf: (window: number) => Promise<{ seed: Hex; source: string }>;
  session: (address: string) => { send(msg: StorageCoordinatorMessage): boolean } | undefined;
  onLost: (objectId: string, segment: number) => Promise<void>;
  /** Whether a repair order is still open here (orders live in memory: a restart forgets them). */
  orderKnown?: (orderId: string) => boolean | Promise<boolean>;
}) {
  const { db, log, cfg, now } = deps;
  const open = new Map<string, Open>();
  /** Holders offline when a window opened: holder → until when, and the challenges it owes. */
  const awaitingHolders = new Map<
    string,
    { until: number; pieces: Map<string, { piece: Piece; challenge: Challenge }> }
  >();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function fault(
    p: Piece,
    window: number,
    reason: StorageFaultReason,
    detail: { challenge?: Challenge; answer?: ChallengeAnswerWire },
  ): Promise<void> {
    const t = now();
    const taskId = `storage:${p.root}:${window}`;
    const evidence = {
      taskId,
      kind: 'storage',
      faultyDigest: undefined,
      acceptedDigest: p.root,
      agreeing: [],
      digests: {},
      reasons: [`storage challenge of window ${window}: ${reason}`],
      storage: { objectId: p.objectId, segment: p.segment, index: p.idx, window, reason, ...detail },
    };
    const json = JSON.stringify(evidence);
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('storage_faults')
        .values({
          object_id: p.objectId,
          segment: p.segment,
          idx: p.idx,
          root: p.root,
          provider: p.holder,
          window,
          reason,
          evidence: json,
          created_at: t,
        })
        .execute();
      await trx
        .insertInto('verification_faults')
        .values({
          task_id: taskId,
          job_id: '',
          provider: p.holder,
          kind: 'storage',
          evidence: json,
          created_at: t,
        })
        .execute();
      await trx
        .insertInto('slashes')
        .values({
          task_id: taskId,
          provider: p.holder,
          amount: cfg.faultFee.toString(),
          evidence: json,
          created_at: t,
        })
        .execute();
      await trx
        .updateTable('storage_pieces')
        .set({ status: 'lost', order_id: null, updated_at: t })
        .where('object_id', '=', p.objectId)
        .where('segment', '=', p.segment)
        .where('idx', '=', p.idx)
        .execute();
    });
    log.warn({ ...p, window, reason }, 'storage fault: piece counted as lost, fault fee charged');
    await dropPiece(deps.db, deps.session(p.holder), p.holder, p.root);
    await deps.onLost(p.objectId, p.segment);
  }

  function send(s: { send(msg: StorageCoordinatorMessage): boolean }, piece: Piece, challenge: Challenge) {
    const challengeId = randomBytes(16).toString('hex');
    const o: Open = {
      ...piece,
      challenge,
      timer: setTimeout(() => {
        if (open.delete(challengeId))
          void fault(piece, challenge.window, 'late', { challenge }).catch((err) =>
            log.error({ err }, 'recording a fault failed'),
          );
      }, cfg.deadlineMs),
    };
    open.set(challengeId, o);
    s.send({ type: 'store.challenge', challengeId, ...challenge, deadlineMs: cfg.deadlineMs });
  }

  /**
   * A holder offline when the window opened is challenged once it is back (the same seed and
   * deadline: being away buys no time to answer), or faulted `offline` at `until`. A holder that
   * dropped its piece gains nothing by leaving at the opening: it still cannot answer. One poll per
   * holder, a map lookup while it stays away.
   */
  function awaitHolder(piece: Piece, challenge: Challenge, until: number): void {
    const known = awaitingHolders.get(piece.holder);
    if (known) return void known.pieces.set(piece.root, { piece, challenge });
    const wait = { until, pieces: new Map([[piece.root, { piece, challenge }]]) };
    const pollMs = Math.min(1000, cfg.offlineGraceMs);
    awaitingHolders.set(piece.holder, wait);
    const poll = async () => {
      if (stopped) return;
      const s = deps.session(piece.holder);
      if (!s && now() < wait.until) return void setTimeout(tick, pollMs);
      awaitingHolders.delete(piece.holder);
      for (const { piece: p, challenge: c } of wait.pieces.values()) {
        // Still this holder's healthy piece? (removed, or lost and repaired elsewhere meanwhile: nothing to check)
        const row = await db
          .selectFrom('storage_pieces')
          .select(['status', 'holder'])
          .where('object_id', '=', p.objectId)
          .where('segment', '=', p.segment)
          .where('idx', '=', p.idx)
          .executeTakeFirst();
        if (row?.status !== 'healthy' || row.holder !== p.holder) continue;
        const back = deps.session(p.holder);
        if (back) send(back, p, c);
        else await fault(p, c.window, 'offline', {});
      }
    };
    const tick = () =>
      void poll().catch((err: unknown) => log.error({ err: String(err) }, 'storage wait failed'));
    setTimeout(tick, pollMs);
  }

  async function window(): Promise<void> {
    const last = await db
      .selectFrom('storage_windows')
      .select((eb) => eb.fn.max('window').as('w'))
      .executeTakeFirst();
    const w = Number(last?.w ?? 0) + 1;
    // The seed is read after the window opened: nobody, holder or coordinator, chose it in advance.
    const { seed, source } = await deps.seedOf(w);
    await db.insertInto('storage_windows').values({ window: w, seed, source, opened_at: now() }).execute();
    const pieces = await db
      .selectFrom('storage_pieces')
      .innerJoin('storage_objects', 'storage_objects.object_id', 'storage_pieces.object_id')
      .select([
        'storage_pieces.object_id',
        'storage_pieces.segment',
        'storage_pieces.idx',
        'storage_pieces.root',
        'storage_pieces.piece_bytes',
        'storage_pieces.holder',
        'storage_objects.manifest',
      ])
      .where('storage_pieces.status', '=', 'healthy')
      .where('storage_objects.status', '!=', 'removed')
      .execute();
    const leafBytesOf = new Map<string, number>();
    for (const p of pieces) {
      if (!p.holder) continue;
      let leafBytes = leafBytesOf.get(p.object_id);
      if (leafBytes === undefined) {
        leafBytes = (JSON.parse(p.manifest) as { leafBytes: number }).leafBytes;
        leafBytesOf.set(p.object_id, leafBytes);
      }
      const piece = { objectId: p.object_id, segment: p.segment, idx: p.idx, holder: p.holder, root: p.root };
      // Still waiting for its holder since an earlier window: that wait decides.
      if (awaitingHolders.get(p.holder)?.pieces.has(p.root)) continue;
      const challenge: Challenge = {
        seed,
        window: w,
        pieceRoot: p.root as Hex,
        pieceBytes: p.piece_bytes,
        leafBytes,
        count: cfg.challengeLeaves,
      };
      const s = deps.session(p.holder);
      if (s) send(s, piece, challenge);
      else if (cfg.offlineGraceMs <= 0) await fault(piece, w, 'offline', {});
      else awaitHolder(piece, challenge, now() + cfg.offlineGraceMs);
    }
    // Repairs this coordinator no longer knows of (it restarted since): lost again, ordered anew below.
    if (deps.orderKnown) {
      const repairing = await db
        .selectFrom('storage_pieces')
        .select(['object_id', 'segment', 'idx', 'order_id'])
        .where('status', '=', 'repairing')
        .execute();
      for (const p of repairing)
        if (!(await deps.orderKnown(p.order_id ?? '')))
          await db
            .updateTable('storage_pieces')
            .set({ status: 'lost', holder: null, order_id: null, updated_at: now() })
            .where('object_id', '=', p.object_id)
            .where('segment', '=', p.segment)
            .where('idx', '=', p.idx)
            .where('status', '=', 'repairing')
            .execute();
    }
    // Segments still short of pieces (no free provider last time): try their repair again.
    const short = await db
      .selectFrom('storage_pieces')
      .select(['object_id', 'segment'])
      .distinct()
      .where('status', '=', 'lost')
      .execute();
    for (const s of short) await deps.onLost(s.object_id, s.segment);
    log.info({ window: w, source, challenged: open.size }, 'storage challenge window opened');
  }

  return {
    /** Runs one window (the timer calls it every `windowMs`); overlapping calls share one run. */
    runWindow(): Promise<void> {
      running ??= window().finally(() => {
        running = undefined;
      });
      return running;
    },
    /** A holder's answer: checked against the piece root recorded at upload. */
    async handleAnswer(from: string, msg: ChallengeAnswerWire & { challengeId: string }): Promise<void> {
      const o = open.get(msg.challengeId);
      if (!o || o.holder !== from) return; // unknown, late (already faulted) or not theirs
      open.delete(msg.challengeId);
      clearTimeout(o.timer);
      let answer: ChallengeAnswer | undefined;
      try {
        answer =
          msg.pieceRoot === o.challenge.pieceRoot && msg.window === o.challenge.window
            ? answerFromWire(msg)
            : undefined;
      } catch {
        answer = undefined;
      }
      const verdict = verifyChallenge(o.challenge, answer);
      // A passed challenge: what the holder is paid per proven GiB-epoch from (storageLedger.ts).
      if (verdict === null)
        await db
          .insertInto('storage_proofs')
          .values({
            object_id: o.objectId,
            segment: o.segment,
            idx: o.idx,
            root: o.challenge.pieceRoot,
            holder: o.holder,
            window: o.challenge.window,
            created_at: now(),
          })
          .execute();
      else
        await fault({ ...o, root: o.challenge.pieceRoot }, o.challenge.window, verdict, {
          challenge: o.challenge,
          answer: { pieceRoot: msg.pieceRoot, window: msg.window, leaves: msg.leaves },
        });
    },
    start() {
      stopped = false;
      timer = setInterval(() => {
        void this.runWindow().catch((err: unknown) =>
          log.error({ err: String(err) }, 'storage window failed'),
        );
      }, cfg.windowMs);
    },
    stop() {
      clearInterval(timer);
      for (const o of open.values()) clearTimeout(o.timer);
      open.clear();
      stopped = true;
      awaitingHolders.clear();
    },
  };
}
