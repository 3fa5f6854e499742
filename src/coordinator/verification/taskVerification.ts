/**
 * The per-task verification state machine. It tells the coordinator which extra executions to
 * request (replicas, an auditor, tie-breakers), runs commit–reveal over every round of executions,
 * groups the revealed outputs by agreement and reaches a verdict with faults, evidence and slash
 * entries. It does no I/O: the coordinator feeds it assignments, commitments, reveals and lease
 * expiries. For restarts it keeps a JSON-safe event log ({@link TaskVerification.log}); replaying it
 * with {@link TaskVerification.restore} rebuilds the same state, since every step is deterministic.
 *
 * Rounds: round 0 is the primary (or the k replicas of `redundant(k)`); an audit is a later round
 * with one trusted provider, so the primary sees exactly the same protocol whether it is audited or
 * not; each tie-breaker round asks for the fewest executions that could still produce a strict
 * majority. The coordinator must never hand a task's outputs to another provider before the verdict,
 * so later rounds cannot copy earlier ones; within a round, commit–reveal makes copying impossible.
 */
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { normalizeAddress } from '../../protocol/address.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import { CommitRevealRound } from './commitReveal.ts';
import { compareRenderOutputs, isRegionRenderOutput } from './compareRenders.ts';
import { compareTensorSets } from './compareTensors.ts';
import { MAX_EXECUTIONS_PER_TASK } from './constants.ts';
import { type FaultKind, makeSlashEntry } from './slashing.ts';
import type {
  CanaryAnswer,
  ExecutionRequest,
  ExecutionRole,
  InvalidUpdate,
  ProviderOutcome,
  RevealedOutput,
  TaskVerificationInit,
  Verdict,
  VerificationEvent,
} from './taskVerificationTypes.ts';

export type {
  CanaryAnswer,
  ExecutionRequest,
  ExecutionRole,
  InvalidUpdate,
  ProviderOutcome,
  RevealedOutput,
  TaskVerificationInit,
  Verdict,
  VerificationEvent,
};

/** `void`: a non-finite training update, dropped without a fault (protocol/trainUpdate.ts). */
type ExecStatus = 'assigned' | 'revealed' | 'bad-reveal' | 'abandoned' | 'void';
type Exec = {
  provider: Hex;
  role: ExecutionRole;
  /** The provider was trusted when it was assigned (what the verdict weighs, see advance()). */
  trusted: boolean;
  round: number;
  status: ExecStatus;
  output?: RevealedOutput;
};
/**
 * `groundTruth`: only a provider trusted now may fill it — no best-scored fallback (the round
 * waits for one): it decides between untrusted executions that disagree.
 */
type Round = {
  role: ExecutionRole;
  wanted: number;
  trustedOnly: boolean;
  groundTruth: boolean;
  crr: CommitRevealRound;
};
type Group = { members: Exec[]; digest: Hex };

/**
 * Verification of one task from first assignment to verdict.
 *
 * @example
 * const tv = new TaskVerification({ taskId, policy: { kind: 'audit' }, audit: true, reward, stakeOf });
 * for (const req of tv.pending()) for (const p of pick(req)) tv.assign(p, req.role);
 * tv.commit(p, commitment); tv.reveal(p, { outputDigest, salt, tensors });
 * const verdict = tv.verdict(); // undefined until decided
 */
export class TaskVerification {
  readonly taskId: string;
  private readonly init: TaskVerificationInit;
  private readonly maxExecutions: number;
  private readonly rounds: Round[] = [];
  private readonly execs: Exec[] = [];
  private readonly badReveals: Array<{ exec: Exec; reason: string; update?: InvalidUpdate }> = [];
  private result: Verdict | undefined;
  private readonly events: VerificationEvent[] = [];

  constructor(init: TaskVerificationInit) {
    this.taskId = init.taskId;
    this.init = init;
    this.maxExecutions = init.maxExecutions ?? MAX_EXECUTIONS_PER_TASK;
    if (init.policy.kind === 'redundant') {
      this.openRound('replica', init.policy.k, false);
    } else {
      this.openRound('primary', 1, false);
    }
  }

  private openRound(role: ExecutionRole, wanted: number, trustedOnly: boolean, groundTruth = false): void {
    this.rounds.push({
      role,
      wanted,
      trustedOnly: trustedOnly || groundTruth,
      groundTruth,
      crr: new CommitRevealRound(this.taskId, [], { sealed: false }),
    });
  }

  private get involved(): Hex[] {
    return this.execs.map((e) => e.provider);
  }

  /** Executions still to assign, one entry per open round (empty once all are assigned or decided). */
  pending(): ExecutionRequest[] {
    if (this.result) return [];
    const out: ExecutionRequest[] = [];
    this.rounds.forEach((r, i) => {
      const assigned = this.execs.filter((e) => e.round === i).length;
      if (assigned < r.wanted) {
        out.push({
          role: r.role,
          count: r.wanted - assigned,
          exclude: this.involved,
          trustedOnly: r.trustedOnly,
          ...(r.groundTruth ? { groundTruth: true } : {}),
        });
      }
    });
    return out;
  }

  /**
   * Records that the coordinator assigned this task to `provider` for an open slot of `role`;
   * `trusted`: the provider was trusted (isTrusted) when assigned.
   */
  assign(provider: Hex, role: ExecutionRole, trusted = false): void {
    if (this.result)
      throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'the task already has a verdict');
    if (this.involved.includes(normalizeAddress(provider))) {
      throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'a provider executes a task at most once', {
        details: { taskId: this.taskId, provider },
      });
    }
    const idx = this.rounds.findIndex(
      (r, i) => r.role === role && this.execs.filter((e) => e.round === i).length < r.wanted,
    );
    const round = this.rounds[idx];
    if (!round) {
      throw new PlexusError('PLX_VERIFICATION_NOT_ASSIGNED', `no open ${role} slot on this task`, {
        details: { taskId: this.taskId, provider },
      });
    }
    round.crr.add(provider);
    this.execs.push({ provider: normalizeAddress(provider), role, trusted, round: idx, status: 'assigned' });
    if (this.execs.filter((e) => e.round === idx).length === round.wanted) round.crr.seal();
    this.events.push({
      type: 'assign',
      provider: normalizeAddress(provider),
      role,
      ...(trusted ? { trusted } : {}),
    });
  }

  private exec(provider: Hex): Exec {
    const who = normalizeAddress(provider);
    const e = this.execs.find((x) => x.provider === who && x.status !== 'abandoned');
    if (!e) {
      throw new PlexusError('PLX_VERIFICATION_NOT_ASSIGNED', `provider ${provider} has no live execution`, {
        details: { taskId: this.taskId, provider },
      });
    }
    return e;
  }

  /** Whether `provider` may reveal now (its round's commit phase is over). */
  canReveal(provider: Hex): boolean {
    const e = this.exec(provider);
    return this.rounds[e.round]!.crr.phase === 'reveal';
  }

  /**
   * Records a commitment (throws on the commit–reveal rule violations); `ref` is the task reference
   * it is over (protocol v3: the execution's assignment id; absent: the task id).
   */
  commit(provider: Hex, commitment: Hex, ref?: Hex): void {
    const e = this.exec(provider);
    this.rounds[e.round]!.crr.commit(provider, commitment, ref);
    this.events.push({ type: 'commit', provider: e.provider, commitment, ...(ref ? { ref } : {}) });
  }

  /**
   * Records a reveal and the output behind it. A reveal that does not open the commitment, or whose
   * output does not hash to the revealed digest, is a proven fault. May produce the verdict.
   */
  reveal(provider: Hex, output: RevealedOutput): void {
    const e = this.exec(provider);
    const opened = this.rounds[e.round]!.crr.reveal(provider, {
      outputDigest: output.outputDigest,
      salt: output.salt,
    });
    if (!opened) {
      this.markBad(e, 'the reveal does not open the commitment');
    } else if (output.tensors !== undefined && tensorSetDigest(output.tensors) !== output.outputDigest) {
      this.markBad(e, 'the uploaded output does not hash to the revealed digest');
    } else if (output.tensors === undefined && !this.init.deterministic) {
      this.markBad(e, 'no output tensors for a float task');
    } else if (output.invalid?.kind === 'malformed') {
      e.output = output;
      this.markBad(
        e,
        `malformed update: tensor ${output.invalid.tensor} ${output.invalid.why}`,
        output.invalid,
      );
    } else if (output.invalid) {
      // Non-finite: maybe an honestly diverging model, so no fault; not paid, asked for again.
      e.status = 'void';
      this.replace(e.role, this.rounds[e.round]!.groundTruth);
    } else {
      e.status = 'revealed';
      e.output = output;
    }
    this.events.push({
      type: 'reveal',
      provider: e.provider,
      outputDigest: output.outputDigest,
      salt: output.salt,
      ...(output.invalid ? { invalid: output.invalid } : {}),
    });
    this.advance();
  }

  private markBad(e: Exec, reason: string, update?: InvalidUpdate): void {
    e.status = 'bad-reveal';
    this.badReveals.push({ exec: e, reason, ...(update ? { update } : {}) });
    // The lost execution is replaced so the task still gets its answer.
    this.replace(e.role, this.rounds[e.round]!.groundTruth);
  }

  /**
   * The provider will not deliver (lease expired, disconnected, too slow): not a fault, but a
   * `timeout` outcome; its slot is asked for again on another provider.
   */
  abandon(provider: Hex): void {
    const e = this.exec(provider);
    if (e.status !== 'assigned') return;
    e.status = 'abandoned';
    this.rounds[e.round]!.crr.drop(provider);
    this.replace(e.role, this.rounds[e.round]!.groundTruth);
    this.events.push({ type: 'abandon', provider: e.provider });
    this.advance();
  }

  /**
   * The provider signed a commitment and then will not open it (it sent a failure after
   * committing, or its lease ran out after it was asked to reveal). Unlike {@link abandon} this is
   * a proven fault (`bad-reveal`, the commitment as evidence): otherwise a cheater could commit a
   * guess, learn something (its audit draw, a co-executor), and bail out for the price of a
   * timeout. Returns false (and does nothing) when the execution has no commitment: then it is an
   * ordinary {@link abandon}. Its slot is asked for again on another provider.
   */
  withdraw(provider: Hex, commitment: Hex): boolean {
    const e = this.exec(provider);
    if (e.status !== 'assigned') return false;
    this.rounds[e.round]!.crr.drop(provider);
    this.events.push({ type: 'withdraw', provider: e.provider, commitment });
    this.markBad(e, `signed commitment ${commitment} withdrawn without a reveal`);
    this.advance();
    return true;
  }

  /** The outputs revealed so far, in assignment order (a render audit's region looks at them). */
  revealedOutputs(): RevealedOutput[] {
    return this.execs.flatMap((e) => (e.status === 'revealed' && e.output ? [e.output] : []));
  }

  /** The verdict, once reached. */
  verdict(): Verdict | undefined {
    return this.result;
  }

  /** Every accepted call so far, JSON-safe (outputs by digest only), for the store. */
  log(): readonly VerificationEvent[] {
    return this.events;
  }

  /**
   * Rebuilds a task's verification after a restart by replaying its log. `loadTensors` returns a
   * revealed output by its digest (the coordinator keeps outputs as content-addressed blobs).
   */
  static restore(
    init: TaskVerificationInit,
    events: readonly VerificationEvent[],
    loadTensors: (outputDigest: Hex) => TensorSet | undefined,
  ): TaskVerification {
    const tv = new TaskVerification(init);
    for (const ev of events) {
      switch (ev.type) {
        case 'assign':
          tv.assign(ev.provider, ev.role, ev.trusted === true);
          break;
        case 'commit':
          tv.commit(ev.provider, ev.commitment, ev.ref);
          break;
        case 'reveal': {
          const tensors = loadTensors(ev.outputDigest);
          tv.reveal(ev.provider, {
            outputDigest: ev.outputDigest,
            salt: ev.salt,
            ...(tensors ? { tensors } : {}),
            ...(ev.invalid ? { invalid: ev.invalid } : {}),
          });
          break;
        }
        case 'abandon':
          tv.abandon(ev.provider);
          break;
        case 'withdraw':
          tv.withdraw(ev.provider, ev.commitment);
          break;
      }
    }
    return tv;
  }

  private executionsLeft(): number {
    return this.maxExecutions - this.execs.length;
  }

  /** Every round has all its members and none of them still owes a reveal. */
  private allRoundsDone(): boolean {
    return this.rounds.every((r, i) => {
      const members = this.execs.filter((e) => e.round === i);
      return members.length === r.wanted && members.every((e) => e.status !== 'assigned');
    });
  }

  /** Asks for a replacement of a lost execution unless the execution cap is reached. */
  private replace(role: ExecutionRole, groundTruth = false): void {
    if (this.executionsLeft() > 0)
      this.openRound(role, 1, role === 'auditor' || role === 'tiebreaker', groundTruth);
  }

  private sameOutput(a: RevealedOutput, b: RevealedOutput): { ok: boolean; reasons: string[] } {
    if (a.outputDigest === b.outputDigest) return { ok: true, reasons: [] };
    if (this.init.policy.outputs === 'image') {
      if (!a.tensors || !b.tensors) return { ok: false, reasons: ['no image to compare'] };
      return compareRenderOutputs(a.tensors, b.tensors);
    }
    if (this.init.deterministic || !a.tensors || !b.tensors) {
      return { ok: false, reasons: [`digest ${a.outputDigest} ≠ ${b.outputDigest} (exact match required)`] };
    }
    const cmp = compareTensorSets(a.tensors, b.tensors, this.init.tolerances ?? {});
    return { ok: cmp.ok, reasons: cmp.reasons };
  }

  private advance(): undefined {
    if (this.result || !this.allRoundsDone()) return;
    const revealed = this.execs.filter((e) => e.status === 'revealed');
    // Nothing usable and no replacement left to wait for (the cap was reached): re-run the task.
    if (revealed.length === 0) return this.finish('rejected', [], false, []);
    const policy = this.init.policy;

    if (this.init.canary) {
      const primary = revealed[0]!;
      const expected: RevealedOutput = {
        outputDigest: this.init.canary.expectedDigest,
        salt: '0x',
        ...(this.init.canary.expected ? { tensors: this.init.canary.expected } : {}),
      };
      const same = this.sameOutput(primary.output!, expected);
      if (same.ok) return this.finish('accepted', [primary], true, []);
      return this.finish('rejected', [], true, [
        { exec: primary, kind: 'canary', reasons: same.reasons, accepted: this.init.canary.expectedDigest },
      ]);
    }

    const needsSecondOpinion =
      policy.kind === 'redundant' || (policy.kind === 'audit' && this.init.audit === true);
    if (!needsSecondOpinion) {
      return this.finish('accepted', [revealed[0]!], false, []);
    }

    const groups = this.group(revealed);
    const trustedVote = this.trustedVote(groups);
    if (trustedVote) return trustedVote();
    const n = revealed.length;
    const best = groups[0];
    const quorum = policy.kind === 'redundant' ? policy.k : 2;
    if (
      best &&
      best.members.length >= 2 &&
      best.members.length * 2 > n &&
      (n > best.members.length || n >= quorum)
    ) {
      const losers = groups.slice(1).flatMap((g) => g.members);
      // No ground truth: a head count of untrusted executions proves nothing against the minority
      // (two of a ring outvote the honest third). Nobody is faulted; a provider trusted now breaks
      // the tie (the task waits for one), and a dispute past the cap blames nobody.
      if (losers.length > 0 && !best.members.some((m) => m.trusted)) {
        return this.request('tiebreaker', 1, true);
      }
      // Verified only with ground truth: an agreeing group with no member that was trusted when
      // assigned (the auditor or every replica fell back to untrusted providers: no trusted one
      // could take the round) is accepted `unverified` — a ring would otherwise audit itself.
      return this.finish(
        'accepted',
        best.members,
        best.members.some((m) => m.trusted),
        losers.map((exec) => ({
          exec,
          kind: 'outvoted' as const,
          reasons: this.sameOutput(exec.output!, best.members[0]!.output!).reasons,
          accepted: best.digest,
        })),
      );
    }
    // Not decided: the audit slot is still to come, or a tie-breaker is needed.
    if (policy.kind === 'audit' && !this.rounds.some((r) => r.role === 'auditor')) {
      return this.request('auditor', 1);
    }
    const largest = best?.members.length ?? 0;
    const needed = Math.max(1, n - 2 * largest + 1, 2 - largest);
    // With a trusted execution in, an untrusted tie-breaker (the fallback) adds no ground truth.
    return this.request(
      'tiebreaker',
      needed,
      revealed.some((e) => e.trusted),
    );
  }

  /**
   * When a trusted execution disagrees with the majority (or the majority has no trusted member),
   * the trusted executions decide, not the head count: otherwise two colluding untrusted replicas
   * of `redundant(3)` outvote (and get slashed) the trusted third. The group with a strict
   * majority of the trusted votes, at least two of them, is accepted and everyone else is
   * outvoted; until there is one, trusted tie-breakers are asked for (a dispute past the cap).
   * Undefined (the ordinary head count decides) when no trusted execution disagrees with it.
   */
  private trustedVote(groups: Group[]): (() => undefined) | undefined {
    const trustedOf = (g: Group) => g.members.filter((m) => m.trusted).length;
    // No trusted execution outside the largest group: the head count agrees with every trusted vote.
    if (!groups.slice(1).some((g) => trustedOf(g) > 0)) return undefined;
    const total = groups.reduce((n, g) => n + trustedOf(g), 0);
    const top = [...groups].sort((a, b) => trustedOf(b) - trustedOf(a))[0]!;
    const votes = trustedOf(top);
    if (votes >= 2 && votes * 2 > total) {
      const losers = groups.filter((g) => g !== top).flatMap((g) => g.members);
      return () =>
        this.finish(
          'accepted',
          top.members,
          true,
          losers.map((exec) => ({
            exec,
            kind: 'outvoted' as const,
            reasons: this.sameOutput(exec.output!, top.members[0]!.output!).reasons,
            accepted: top.digest,
          })),
        );
    }
    return () => this.request('tiebreaker', Math.max(1, total - 2 * votes + 1, 2 - votes), true);
  }

  /**
   * Whether the task waits only for a ground-truth round nobody took yet (a trusted provider to
   * break a disagreement): every open slot is a ground-truth one and nothing assigned is pending.
   */
  waitsForGroundTruth(): boolean {
    if (this.result) return false;
    const open = this.pending();
    if (open.length === 0 || !open.every((r) => r.groundTruth === true)) return false;
    return !this.execs.some((e) => e.status === 'assigned');
  }

  /**
   * Ends a task that waited too long for ground truth: disputed, nobody outvoted or slashed for the
   * disagreement (a bad reveal stays the fault it was). Returns the verdict.
   */
  disputeWithoutGroundTruth(): Verdict {
    if (!this.result) this.finish('disputed', [], false, []);
    return this.result!;
  }

  private request(role: ExecutionRole, count: number, groundTruth = false): undefined {
    if (count > this.executionsLeft()) return this.finish('disputed', [], false, []);
    this.openRound(role, count, true, groundTruth);
  }

  private group(revealed: Exec[]): Group[] {
    const groups: Group[] = [];
    for (const e of revealed) {
      const g = groups.find((x) => this.sameOutput(e.output!, x.members[0]!.output!).ok);
      if (g) g.members.push(e);
      else groups.push({ members: [e], digest: e.output!.outputDigest });
    }
    return groups.sort((a, b) => b.members.length - a.members.length);
  }

  private finish(
    status: Verdict['status'],
    winners: Exec[],
    verified: boolean,
    lost: Array<{ exec: Exec; kind: FaultKind; reasons: string[]; accepted: Hex | undefined }>,
  ): undefined {
    const digests: Record<string, Hex> = {};
    for (const e of this.execs) if (e.output) digests[e.provider] = e.output.outputDigest;
    // A render region audit's output (part of the image) is never the one accepted (docs/render.md).
    winners = [...winners].sort(
      (a, b) =>
        Number(isRegionRenderOutput(a.output?.tensors)) - Number(isRegionRenderOutput(b.output?.tensors)),
    );
    const agreeing = winners.map((w) => w.provider);
    const acceptedDigest = winners[0]?.output?.outputDigest;
    const faults: Verdict['faults'] = [];
    const allLost: Array<(typeof lost)[number] & { update?: InvalidUpdate }> = [
      ...lost,
      ...this.badReveals.map((b) => ({
        exec: b.exec,
        kind: b.update ? ('malformed' as const) : ('bad-reveal' as const),
        reasons: [b.reason],
        accepted: acceptedDigest,
        ...(b.update ? { update: b.update } : {}),
      })),
    ];
    for (const l of allLost) {
      const update = l.update;
      faults.push({
        provider: l.exec.provider,
        evidence: {
          taskId: this.taskId,
          kind: l.kind,
          faultyDigest: l.exec.status === 'revealed' || update ? l.exec.output?.outputDigest : undefined,
          acceptedDigest: l.accepted,
          agreeing,
          digests,
          reasons: l.reasons,
          ...(update ? { update: { tensor: update.tensor, why: update.why, weights: update.weights } } : {}),
        },
      });
    }
    const faulty = new Set(faults.map((f) => f.provider));
    const winnerSet = new Set(agreeing);
    const outcomes: ProviderOutcome[] = this.execs.map((e) => ({
      provider: e.provider,
      role: e.role,
      outcome: faulty.has(e.provider)
        ? 'fault'
        : e.status === 'abandoned'
          ? 'timeout'
          : winnerSet.has(e.provider)
            ? verified
              ? 'valid'
              : 'unverified'
            : 'undecided',
    }));
    this.result = {
      taskId: this.taskId,
      status,
      acceptedDigest: status === 'accepted' ? acceptedDigest : undefined,
      acceptedFrom: status === 'accepted' ? winners[0]?.provider : undefined,
      verified: status === 'accepted' && verified,
      outcomes,
      faults,
      slashes: faults.map((f) =>
        makeSlashEntry({
          provider: f.provider,
          reward: this.init.reward,
          stake: this.init.stakeOf(f.provider),
          evidence: f.evidence,
        }),
      ),
      executions: this.execs.length,
    };
  }
}
