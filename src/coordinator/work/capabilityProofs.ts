/**
 * Capability proofs on the live network (docs/verification.md, "Capability proof"): at session
 * start, and again at jittered random times, each provider gets a seeded matrix-product challenge
 * chain sized to the hardware class it claims. The digest of its answer stops the clock; an answer
 * already over the class budget is `slow` without further checking (no GPU trust either way, and no
 * fault); an answer in time is checked with Freivalds' algorithm in a worker thread (one check at a
 * time, off the event loop). Only a provider whose latest proof for a GPU class passed may receive
 * GPU work.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import type { CapabilityChallenge } from '../../protocol/capabilityChallenge.ts';
import type { CoordinatorMessage, HardwareClaim } from '../../protocol/schemas.ts';
import { capabilityAnswerProblem } from '../../protocol/signedCapabilityAnswer.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { Database } from '../store/schema.ts';
import {
  capabilityTiming,
  creditedGflops,
  HARDWARE_CLASSES,
  type HardwareClass,
  judgeCapability,
  makeCapabilityChallenge,
  tooSlowReason,
} from '../verification/capabilityProof.ts';
import { createFreivaldsVerifier } from '../verification/freivaldsVerifier.ts';

/**
 * What GET /v1/providers shows of a provider's capability.
 *
 * @example
 * const v: CapabilityView = { class: 'cpu', proven: true, gpuTrusted: false, gflops: 0.9, provenAt: 1733, lastOutcome: 'passed', checkedAt: 1733, reason: 'ok' };
 */
export type CapabilityView = {
  /** Hardware class the provider claims (from its signed hardware claim). */
  class: string;
  /** The latest proof for that class passed (correct and in time). */
  proven: boolean;
  /** The provider may receive GPU work. */
  gpuTrusted: boolean;
  /** Throughput measured by the latest correct proof (GFLOP/s), null before one. */
  gflops: number | null;
  /** When the latest passing proof was judged (ms), null before one. */
  provenAt: number | null;
  /** `pending` until the first proof is judged, then `passed`, `slow`, `wrong` or `missed`. */
  lastOutcome: 'pending' | 'passed' | 'slow' | 'wrong' | 'missed';
  checkedAt: number | null;
  reason: string;
};

/**
 * The hardware class a claim implies: a CUDA execution provider with a GPU is a GPU class
 * (40 GiB or more of GPU memory: data centre), anything else `cpu`.
 *
 * @example
 * claimedHardwareClass({ gpus: [{ name: 'RTX 4090', memoryMiB: 24564 }], executionProviders: ['cuda', 'cpu'], ... }).id; // 'gpu-consumer'
 */
export function claimedHardwareClass(
  hw: Pick<HardwareClaim, 'gpus' | 'executionProviders'>,
  classes: Record<string, HardwareClass> = HARDWARE_CLASSES,
): HardwareClass {
  const gpu = hw.executionProviders.includes('cuda') && hw.gpus.length > 0;
  if (!gpu) return classes.cpu!;
  const memory = Math.max(...hw.gpus.map((g) => g.memoryMiB));
  return (memory >= 40 * 1024 ? classes['gpu-datacenter'] : classes['gpu-consumer'])!;
}

type Pending = {
  address: string;
  challenge: CapabilityChallenge;
  hw: HardwareClass;
  sentAt: number;
  digest?: string;
  elapsedMs?: number;
  timer: NodeJS.Timeout;
};

/**
 * Options of {@link createCapabilityProofs}.
 *
 * @example
 * const opts: CapabilityProofOptions = { intervalMs: 30 * 60_000 };
 */
export type CapabilityProofOptions = {
  /** Mean time between re-challenges of a connected provider (ms); each wait is jittered ±50%. */
  intervalMs?: number;
  /** Hardware classes by id (default HARDWARE_CLASSES). */
  classes?: Record<string, HardwareClass>;
};

/**
 * The coordinator's capability-proof service.
 *
 * @example
 * const proofs = createCapabilityProofs({ db, blobs, log, send, onFault });
 * proofs.start(address, hello.hardware); // after the session's welcome
 * if (task.gpu && !proofs.gpuTrusted(address)) skip(address);
 */
export function createCapabilityProofs(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  log: Logger;
  now: () => number;
  /** The chain the provider signs its answers for (`CapabilityAnswer`). */
  chainId: number;
  send: (address: string, msg: CoordinatorMessage) => boolean;
  /** Records a proven fault (wrong answer) in the caller's transaction. */
  onFault: (
    trx: Transaction<Database>,
    args: { provider: string; taskId: string; evidence: Record<string, unknown> },
  ) => Promise<void>;
  options?: CapabilityProofOptions;
}) {
  const { db, log } = deps;
  const classes = deps.options?.classes ?? HARDWARE_CLASSES;
  const intervalMs = deps.options?.intervalMs ?? 30 * 60_000;
  /** Secret of the Freivalds vectors: the provider never learns which vectors check it. */
  const verifierSeed = randomBytes(32).toString('hex');
  const verifier = createFreivaldsVerifier();
  const pending = new Map<string, Pending>();
  const views = new Map<string, CapabilityView>();
  const claims = new Map<string, HardwareClass>();
  const rechecks = new Map<string, NodeJS.Timeout>();

  function challenge(address: string): void {
    const hw = claims.get(address);
    if (!hw) return;
    const ch = {
      ...makeCapabilityChallenge({
        challengeId: `0x${randomBytes(32).toString('hex')}`,
        seed: `0x${randomBytes(32).toString('hex')}`,
        hardwareClass: hw,
      }),
      // The agent signs its answer: the evidence carries it (docs/validators.md "Proven capacity").
      signed: true,
    };
    // The digest must arrive by the deadline; the bytes may follow within another deadline.
    const timer = setTimeout(() => void missed(ch.challengeId), ch.deadlineMs);
    timer.unref();
    const sentAt = performance.now();
    pending.set(ch.challengeId, { address, challenge: ch, hw, sentAt, timer });
    if (!deps.send(address, { type: 'capability', ...ch })) {
      clearTimeout(timer);
      pending.delete(ch.challengeId);
    }
  }

  function scheduleRecheck(address: string): void {
    clearTimeout(rechecks.get(address));
    const wait = intervalMs * (0.5 + Math.random());
    const t = setTimeout(() => {
      challenge(address);
      scheduleRecheck(address);
    }, wait);
    t.unref();
    rechecks.set(address, t);
  }

  async function record(
    p: Pending,
    outcome: CapabilityView['lastOutcome'] & ('passed' | 'slow' | 'wrong' | 'missed'),
    a: {
      elapsedMs: number | null;
      gflops: number | null;
      reason: string;
      evidence?: Record<string, unknown>;
      /** The signed answer (0079): what a validator re-checks. */
      answer?: { productCid: string; signedAt: number | null; signature: string | null };
    },
  ): Promise<void> {
    const t = deps.now();
    const before = views.get(p.address);
    const passed = outcome === 'passed';
    const view: CapabilityView = {
      class: p.hw.id,
      proven: passed,
      gpuTrusted: passed && p.hw.gpu,
      gflops: a.gflops ?? before?.gflops ?? null,
      provenAt: passed ? t : (before?.provenAt ?? null),
      lastOutcome: outcome,
      checkedAt: t,
      reason: a.reason,
    };
    // Only a proof for the class the provider still claims updates what the scheduler sees.
    if (claims.get(p.address)?.id === p.hw.id || !claims.has(p.address)) views.set(p.address, view);
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('capability_proofs')
        .values({
          challenge_id: p.challenge.challengeId,
          provider: p.address,
          hardware_class: p.hw.id,
          n: p.challenge.n,
          outcome,
          elapsed_ms: a.elapsedMs,
          gflops: a.gflops,
          reason: a.reason,
          created_at: t,
          seed: p.challenge.seed,
          k: p.challenge.k,
          digest: p.digest ?? null,
          product_cid: a.answer?.productCid ?? null,
          signed_at: a.answer?.signedAt ?? null,
          signature: a.answer?.signature ?? null,
        })
        .execute();
      await trx
        .updateTable('providers')
        .set({ capability: JSON.stringify(view) })
        .where('address', '=', p.address)
        .execute();
      if (outcome === 'wrong') {
        await deps.onFault(trx, {
          provider: p.address,
          taskId: p.challenge.challengeId,
          evidence: a.evidence ?? {},
        });
      }
    });
    log.info(
      { provider: p.address, class: p.hw.id, n: p.challenge.n, outcome, elapsedMs: a.elapsedMs },
      `capability proof ${outcome}: ${a.reason}`,
    );
  }

  async function missed(challengeId: string): Promise<void> {
    const p = pending.get(challengeId);
    if (!p) return;
    pending.delete(challengeId);
    const reason =
      p.digest === undefined
        ? `no answer within the ${p.challenge.deadlineMs} ms deadline`
        : 'the answer bytes were not uploaded in time';
    await record(p, 'missed', { elapsedMs: p.elapsedMs ?? null, gflops: null, reason }).catch((err) =>
      log.error({ err }, 'could not record a missed capability proof'),
    );
  }

  function own(address: string, challengeId: string): Pending {
    const p = pending.get(challengeId);
    if (!p || p.address !== address.toLowerCase()) {
      throw new PlexusError('PLX_CAPABILITY_UNKNOWN', `no open capability challenge ${challengeId}`, {
        details: { challengeId },
      });
    }
    return p;
  }

  /**
   * Remembers what a session claims and, at once, drops GPU trust earned by another claimed class:
   * a provider reconnecting with a new GPU claim gets no GPU work (billed in the new claim's class,
   * market.leaseClass) before a proof for it passes.
   */
  function claim(address: string, hardware: HardwareClaim): HardwareClass {
    const who = address.toLowerCase();
    const hw = claimedHardwareClass(hardware, classes);
    claims.set(who, hw);
    const before = views.get(who);
    if (before && before.class !== hw.id) views.set(who, { ...before, proven: false, gpuTrusted: false });
    return hw;
  }

  return {
    claim,

    /**
     * A provider's session is open: remember its claim, load its stored capability, challenge it
     * now and schedule the re-challenges.
     */
    async start(address: string, hardware: HardwareClaim): Promise<void> {
      const who = address.toLowerCase();
      const hw = claim(who, hardware);
      const row = await db
        .selectFrom('providers')
        .select('capability')
        .where('address', '=', who)
        .executeTakeFirst();
      const stored = row?.capability ? (JSON.parse(row.capability) as CapabilityView) : undefined;
      // A stored proof counts only for the class claimed now (a new GPU claim must be proven).
      views.set(
        who,
        stored && stored.class === hw.id
          ? stored
          : {
              class: hw.id,
              proven: false,
              gpuTrusted: false,
              gflops: stored?.gflops ?? null,
              provenAt: null,
              lastOutcome: 'pending',
              checkedAt: null,
              reason: 'not proven yet',
            },
      );
      challenge(who);
      scheduleRecheck(who);
    },

    /** The session closed: no more re-challenges (open ones still time out and are recorded). */
    stop(address: string): void {
      const who = address.toLowerCase();
      clearTimeout(rechecks.get(who));
      rechecks.delete(who);
    },

    /** The answer's digest arrived: the clock stops here. */
    digest(address: string, msg: { challengeId: string; digest: string }): void {
      const p = own(address, msg.challengeId);
      if (p.digest !== undefined) {
        throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'this challenge was already answered', {
          details: { challengeId: msg.challengeId },
        });
      }
      p.elapsedMs = performance.now() - p.sentAt;
      p.digest = msg.digest;
      clearTimeout(p.timer);
      p.timer = setTimeout(() => void missed(p.challenge.challengeId), p.challenge.deadlineMs);
      p.timer.unref();
    },

    /** The answer's bytes were uploaded as a blob: judge the proof. */
    async answer(
      address: string,
      msg: {
        challengeId: string;
        productCid: string;
        issuedAt?: number | undefined;
        signature?: string | undefined;
      },
    ): Promise<CapabilityView> {
      const p = own(address, msg.challengeId);
      if (p.digest === undefined || p.elapsedMs === undefined) {
        throw new PlexusError('PLX_VERIFICATION_REVEAL_TOO_EARLY', 'send the answer digest first', {
          details: { challengeId: msg.challengeId },
        });
      }
      // A signature that does not hold is refused (the proof stays open, then is missed); none at
      // all (an agent that does not sign) is judged, but earns no emission (capabilityEvidence.ts).
      const signed = msg.signature !== undefined && msg.issuedAt !== undefined;
      if (signed) {
        const fields = { provider: p.address, ...p.challenge, digest: p.digest, issuedAt: msg.issuedAt! };
        const wrong = await capabilityAnswerProblem(deps.chainId, fields, msg.signature!, { fresh: true });
        if (wrong)
          throw new PlexusError('PLX_BAD_SIGNATURE', `capability answer: ${wrong}`, {
            details: { challengeId: msg.challengeId },
          });
      }
      const answerRow = {
        productCid: msg.productCid,
        signedAt: signed ? msg.issuedAt! : null,
        signature: signed ? msg.signature! : null,
      };
      const expected = p.challenge.n * p.challenge.n;
      const size = await deps.blobs.size(msg.productCid);
      if (size === undefined) {
        throw new PlexusError('PLX_UNKNOWN_BLOB', `answer ${msg.productCid} was not uploaded`, {
          details: { cid: msg.productCid },
        });
      }
      pending.delete(p.challenge.challengeId);
      clearTimeout(p.timer);
      const timing = capabilityTiming({
        challenge: p.challenge,
        hardwareClass: p.hw,
        elapsedMs: p.elapsedMs,
        rttMs: 0,
      });
      if (!timing.inTime) {
        // Too slow for the class whatever the bytes: not worth ~1 G multiply-adds of checking.
        // No fault (nothing is proven wrong) and no trust (nothing is proven right).
        const reason = `${tooSlowReason(p.hw, p.elapsedMs, timing.budgetMs, timing.measuredGflops)}; not checked`;
        await record(p, 'slow', { elapsedMs: p.elapsedMs, gflops: null, reason, answer: answerRow });
        return views.get(p.address)!;
      }
      const product = size === expected ? await deps.blobs.read(msg.productCid) : new Uint8Array(0);
      const check =
        size === expected
          ? await verifier.check({
              challenge: p.challenge,
              committedDigest: p.digest,
              product,
              verifierSeed,
            })
          : { digestOk: false, correct: false };
      const verdict = judgeCapability({ hardwareClass: p.hw, elapsedMs: p.elapsedMs, timing, check });
      const outcome = verdict.passed ? 'passed' : verdict.correct ? 'slow' : 'wrong';
      await record(p, outcome, {
        elapsedMs: p.elapsedMs,
        // Capped by the class's most plausible throughput (what a validator recomputes).
        gflops: verdict.correct ? creditedGflops(verdict.measuredGflops, p.hw) : null,
        answer: answerRow,
        reason: size === expected ? verdict.reason : `the answer has ${size} bytes, not ${expected}`,
        evidence: {
          taskId: p.challenge.challengeId,
          kind: 'capability',
          hardwareClass: p.hw.id,
          n: p.challenge.n,
          k: p.challenge.k,
          seed: p.challenge.seed,
          committedDigest: p.digest,
          productCid: msg.productCid,
          reasons: [verdict.reason],
          agreeing: [],
          digests: {},
          faultyDigest: undefined,
          acceptedDigest: undefined,
        },
      });
      return views.get(p.address)!;
    },

    /** Whether the provider's latest proof shows the GPU it claims. */
    gpuTrusted(address: string): boolean {
      return views.get(address.toLowerCase())?.gpuTrusted ?? false;
    },

    /** The capability shown in GET /v1/providers (memory first, then the stored JSON). */
    view(address: string, stored: string | null): CapabilityView | null {
      return views.get(address.toLowerCase()) ?? (stored ? (JSON.parse(stored) as CapabilityView) : null);
    },

    /** Clears every timer and stops the verifier thread (coordinator shutdown). */
    close(): void {
      void verifier.close();
      for (const t of rechecks.values()) clearTimeout(t);
      for (const p of pending.values()) clearTimeout(p.timer);
      rechecks.clear();
      pending.clear();
    },
  };
}

/** The capability-proof service's interface. */
export type CapabilityProofs = ReturnType<typeof createCapabilityProofs>;
