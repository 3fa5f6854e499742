/**
 * Commit–reveal for redundant execution: each provider first commits to
 * `sha256(abi.encode(taskId, provider, outputDigest, salt))`; reveals are accepted only once every
 * assigned provider of the round has committed, so nobody can copy an answer they have not seen.
 * The provider address inside the commitment stops one provider from replaying another's commitment.
 */
import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { normalizeAddress } from './address.ts';

/**
 * What a provider reveals after the commit phase closes.
 *
 * @example
 * const reveal: Reveal = { outputDigest: tensorSetDigest(outputs), salt };
 */
export type Reveal = { outputDigest: Hex; salt: Hex };

/**
 * The commitment a provider signs and sends before revealing its output digest.
 *
 * @example
 * const salt = toHex(crypto.getRandomValues(new Uint8Array(32)));
 * const c = computeCommitment({ taskId: 'task-1', provider: account.address, outputDigest, salt });
 */
export function computeCommitment(args: {
  taskId: string;
  provider: Hex;
  outputDigest: Hex;
  salt: Hex;
}): Hex {
  // ABI encoding so a contract can recompute it (`sha256(abi.encode(...))`, the sha256 precompile);
  // sha256 rather than keccak256 because Node hashes it natively, ~30× faster than keccak in JS.
  // The encoding of (string, address, bytes32, bytes32) is written out directly (a generic ABI
  // encoder built hex strings for it, twice per result): four head words, the string's offset
  // (0x80), the address left-padded, the two words as they are, then the string's byte length and
  // its UTF-8 bytes right-padded to whole words.
  const text = Buffer.from(args.taskId, 'utf8');
  const encoded = Buffer.alloc(32 * (5 + Math.ceil(text.length / 32)));
  encoded[31] = 0x80;
  encoded.write(normalizeAddress(args.provider).slice(2), 44, 'hex');
  encoded.write(bytes32Hex(args.outputDigest, 'outputDigest'), 64, 'hex');
  encoded.write(bytes32Hex(args.salt, 'salt'), 96, 'hex');
  encoded.writeUIntBE(text.length, 154, 6);
  text.copy(encoded, 160);
  return `0x${createHash('sha256').update(encoded).digest('hex')}`;
}

/** The 64 hex digits of a bytes32 value; anything else is refused. */
function bytes32Hex(value: string, name: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new TypeError(`${name} is not a bytes32 value`);
  return value.slice(2);
}

/**
 * True when `reveal` opens `commitment` for this task and provider.
 *
 * @example
 * verifyReveal({ taskId, provider, commitment, reveal: { outputDigest, salt } }); // true
 */
export function verifyReveal(args: {
  taskId: string;
  provider: Hex;
  commitment: Hex;
  reveal: Reveal;
}): boolean {
  try {
    return (
      computeCommitment({ taskId: args.taskId, provider: args.provider, ...args.reveal }).toLowerCase() ===
      args.commitment.toLowerCase()
    );
  } catch {
    return false; // malformed digest or salt (wrong length) cannot open anything
  }
}

/**
 * Phase of a commit–reveal round.
 *
 * @example
 * if (round.phase === 'reveal') askForReveals();
 */
export type RoundPhase = 'commit' | 'reveal';

type Entry = { provider: Hex; commitment?: Hex; reveal?: Reveal; valid?: boolean };

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

  /** Records a provider's commitment; throws when it is late, repeated or from a stranger. */
  commit(provider: Hex, commitment: Hex): void {
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
    e.valid = verifyReveal({ taskId: this.taskId, provider: e.provider, commitment: e.commitment, reveal });
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
