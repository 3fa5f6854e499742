/**
 * Canary tasks: known-answer tasks mixed into normal work. A canary is a real task descriptor whose
 * answer the network already verified (redundantly, by trusted providers), re-issued under a fresh
 * task id from the same id generator as every other task. Nothing on the wire marks it: the
 * descriptor is passed through untouched and the "is this a canary" fact lives only here.
 */
import type { Hex } from 'viem';
import { hashUnit, Rng } from '../../protocol/rng.ts';
import type { TensorSet } from '../../protocol/tensorSet.ts';
import type { CanaryAnswer, Verdict } from './taskVerification.ts';

type Canary<D> = { id: string; descriptor: D; answer: CanaryAnswer; seenBy: Set<string>; issued: number };

/**
 * Options of a {@link CanaryPool}.
 *
 * @example
 * const opts: CanaryPoolOptions = { seed: secret, rate: 0.02, newTaskId: randomTaskId };
 */
export type CanaryPoolOptions = {
  /** Secret seed for the injection draws (never shared with providers). */
  seed: string;
  /** Share of a provider's tasks that are canaries (default 0.02). */
  rate?: number;
  /** A canary is retired after this many issues, so colluders cannot build a lookup table (default 50). */
  maxIssues?: number;
  /** The coordinator's task-id generator, the same one real tasks use. */
  newTaskId: () => string;
};

/**
 * A pool of known-answer tasks. The scheduler asks {@link CanaryPool.shouldInject} per assignment;
 * when true it {@link CanaryPool.issue}s a canary instead of the next real task, and the verifier
 * looks the answer up by task id with {@link CanaryPool.answerFor}.
 *
 * @example
 * const pool = new CanaryPool<TaskDescriptor>({ seed, newTaskId: () => randomTaskId() });
 * pool.add(descriptor, { expectedDigest, expected: tensors });
 * if (pool.shouldInject(provider, assignmentId)) {
 *   const c = pool.issue(provider); // { taskId, descriptor } (undefined if the provider saw them all)
 * }
 */
export class CanaryPool<D> {
  private readonly canaries: Canary<D>[] = [];
  private readonly byTaskId = new Map<string, Canary<D>>();
  private readonly rng: Rng;
  private readonly seed: string;
  private readonly rate: number;
  private readonly maxIssues: number;
  private readonly newTaskId: () => string;
  private nextId = 0;

  constructor(opts: CanaryPoolOptions) {
    this.seed = opts.seed;
    this.rng = new Rng(`${opts.seed}:canary-pick`);
    this.rate = opts.rate ?? 0.02;
    this.maxIssues = opts.maxIssues ?? 50;
    this.newTaskId = opts.newTaskId;
    if (!(this.rate >= 0 && this.rate <= 1)) throw new RangeError('canary rate must be in [0, 1]');
  }

  /** Adds a known-answer task; returns its pool id (internal, never sent to providers). */
  add(descriptor: D, answer: CanaryAnswer): string {
    const id = `canary-${this.nextId++}`;
    this.canaries.push({ id, descriptor, answer, seenBy: new Set(), issued: 0 });
    return id;
  }

  /**
   * Adds a canary from a task the network verified: the verdict must be `accepted` and `verified`
   * (two or more agreeing providers), and `output` must be the accepted output.
   */
  addFromVerdict(descriptor: D, verdict: Verdict, output: TensorSet | undefined): string | undefined {
    if (verdict.status !== 'accepted' || !verdict.verified || verdict.acceptedDigest === undefined)
      return undefined;
    return this.add(descriptor, {
      expectedDigest: verdict.acceptedDigest,
      ...(output ? { expected: output } : {}),
    });
  }

  /** Canaries still in service. */
  get size(): number {
    return this.canaries.length;
  }

  /**
   * Whether this assignment slot should carry a canary (seeded draw per provider and slot).
   * `rate` overrides the pool's rate for this draw, e.g. 1 for a provider on probation (no verified
   * record yet): its first tasks are then checked against known answers, which costs one execution
   * instead of an audit plus a tie-breaker when it lies.
   */
  shouldInject(provider: Hex, slot: string, rate: number = this.rate): boolean {
    return this.canaries.length > 0 && hashUnit(this.seed, 'canary', provider.toLowerCase(), slot) < rate;
  }

  /**
   * Issues a canary this provider has never seen, under a fresh task id; the descriptor is returned
   * exactly as added. Undefined when the provider has seen every canary in the pool.
   */
  issue(provider: Hex): { taskId: string; descriptor: D } | undefined {
    const who = provider.toLowerCase();
    const fresh = this.canaries.filter((c) => !c.seenBy.has(who));
    if (fresh.length === 0) return undefined;
    const c = this.rng.pick(fresh);
    c.seenBy.add(who);
    c.issued++;
    if (c.issued >= this.maxIssues) this.canaries.splice(this.canaries.indexOf(c), 1);
    const taskId = this.newTaskId();
    this.byTaskId.set(taskId, c);
    return { taskId, descriptor: c.descriptor };
  }

  /** The known answer when `taskId` is a canary, otherwise undefined (the verifier's only lookup). */
  answerFor(taskId: string): CanaryAnswer | undefined {
    return this.byTaskId.get(taskId)?.answer;
  }

  /** Forgets an issued canary task id once its verdict is recorded. */
  settle(taskId: string): void {
    this.byTaskId.delete(taskId);
  }
}
