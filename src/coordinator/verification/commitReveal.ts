/**
 * Commit–reveal rounds for redundant execution: reveals are accepted only once every assigned
 * provider of the round has committed, so nobody can copy an answer they have not seen. The
 * commitment itself is the wire format in `src/protocol/commitment.ts`.
 */
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { normalizeAddress } from '../../protocol/address.ts';
import { type Reveal, verifyReveal } from '../../protocol/commitment.ts';

/**
 * Phase of a commit–reveal round.
 *
 * @example
 * if (round.phase === 'reveal') askForReveals();
 */
export type RoundPhase = 'commit' | 'reveal';

/** `ref`: the task reference the commitment is over (protocol v3: the assignment id); absent, the task id. */
type Entry = { provider: Hex; commitment?: Hex; ref?: string; reveal?: Reveal; valid?: boolean };

/**
 * One commit–reveal round among the providers assigned to a task at the same time.
 * Rules: only assigned providers may commit, once each; no reveal is accepted while any assigned
 * provider has not committed; no commitment is accepted once revealing has begun. A provider that
 * never commits is dropped with {@link CommitRevealRound.drop} (lease expired), which may open the
 * reveal phase for the others.
 *
 * @example
 * const round = new CommitRevealRound('task-1', [alice, bob]);
 * round.commit(alice, ca); round.commit(bob, cb);
 * round.reveal(alice, { outputDigest, salt }); // true when it opens ca
 */
export class CommitRevealRound {
  readonly taskId: string;
  private readonly entries: Entry[];
  private revealing = false;
  private sealed: boolean;

  /**
   * @param providers the members, when all are known now; otherwise pass `[]`, {@link add} each
   * member as it is assigned and {@link seal} the round once the last one is.
   */
  constructor(taskId: string, providers: readonly Hex[] = [], opts: { sealed?: boolean } = {}) {
    this.taskId = taskId;
    this.entries = providers.map((p) => ({ provider: normalizeAddress(p) }));
    this.sealed = opts.sealed ?? providers.length > 0;
  }

  /**
   * `commit` until the round is sealed and every member has committed (or was dropped), then
   * `reveal`; once open, the reveal phase never closes again.
   */
  get phase(): RoundPhase {
    if (this.revealing) return 'reveal';
    return this.sealed && this.entries.every((e) => e.commitment !== undefined) ? 'reveal' : 'commit';
  }

  /** Adds a member while the round is still collecting commitments. */
  add(provider: Hex): void {
    if (this.sealed || this.revealing) {
      throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'this round already has all its members', {
        details: { taskId: this.taskId, provider },
      });
    }
    if (this.entries.some((x) => x.provider === normalizeAddress(provider))) {
      throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'this provider is already in the round', {
        details: { taskId: this.taskId, provider },
      });
    }
    this.entries.push({ provider: normalizeAddress(provider) });
  }

  /** Declares the membership complete; reveals can open once everyone has committed. */
  seal(): void {
    this.sealed = true;
  }

  private entry(provider: Hex): Entry {
    const who = normalizeAddress(provider);
    const e = this.entries.find((x) => x.provider === who);
    if (!e) {
      throw new PlexusError(
        'PLX_VERIFICATION_NOT_ASSIGNED',
        `provider ${provider} is not assigned to this round`,
        {
          details: { taskId: this.taskId, provider },
        },
      );
    }
    return e;
  }

  /**
   * Records a provider's commitment; throws when it is late, repeated or from a stranger. `ref` is
   * the task reference it was computed over (protocol v3: the provider's assignment id,
   * src/protocol/taskRef.ts); absent (logs of earlier versions), the round's task id.
   */
  commit(provider: Hex, commitment: Hex, ref?: string): void {
    const e = this.entry(provider);
    if (e.commitment !== undefined) {
      throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'this provider already committed', {
        details: { taskId: this.taskId, provider },
      });
    }
    if (this.phase === 'reveal') {
      throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'the commit phase of this task is closed', {
        details: { taskId: this.taskId, provider },
      });
    }
    e.commitment = commitment;
    if (ref !== undefined) e.ref = ref;
  }

  /**
   * Records a reveal and returns whether it opens the provider's commitment. Throws while the commit
   * phase is still open or on a second reveal.
   */
  reveal(provider: Hex, reveal: Reveal): boolean {
    const e = this.entry(provider);
    if (this.phase !== 'reveal') {
      throw new PlexusError('PLX_VERIFICATION_REVEAL_TOO_EARLY', 'other providers have not committed yet', {
        details: { taskId: this.taskId, provider },
      });
    }
    if (e.commitment === undefined) {
      throw new PlexusError('PLX_VERIFICATION_COMMIT_CLOSED', 'this provider never committed', {
        details: { taskId: this.taskId, provider },
      });
    }
    if (e.reveal !== undefined) {
      throw new PlexusError('PLX_VERIFICATION_DUPLICATE', 'this provider already revealed', {
        details: { taskId: this.taskId, provider },
      });
    }
    this.revealing = true;
    e.reveal = reveal;
    e.valid = verifyReveal({
      taskId: e.ref ?? this.taskId,
      provider: e.provider,
      commitment: e.commitment,
      reveal,
    });
    return e.valid;
  }

  /** Removes a provider that will not commit (lease expired, disconnected). */
  drop(provider: Hex): void {
    const e = this.entry(provider);
    if (e.commitment !== undefined) return; // committed providers stay; their reveal may still come
    this.entries.splice(this.entries.indexOf(e), 1);
  }

  /** Providers still in the round, with their commitment and reveal state. */
  members(): ReadonlyArray<Readonly<Entry>> {
    return this.entries;
  }
}
