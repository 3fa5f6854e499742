/**
 * Per-job frame sampling of `blender.render` audits (docs/render.md, "Frame sampling"). A render
 * job is many tasks of one kind from one client, and a provider that skimps skimps on its frames
 * alike (fewer samples, a lower resolution, a stock image), so what protects the job is that each
 * provider working on it is audited on a few of its frames, not on every one. Under the adaptive
 * rule (auditPolicy.ts) a provider without a record from trusted checkers is audited on every
 * frame: `consecutiveValid` grows only from canaries and trusted auditors, which a young network
 * has none of, and a job's frames are all drawn before the first verdict comes back. Here a render
 * task's rate is capped at `RENDER_JOB_AUDIT_SAMPLE / tasks` (tasks: the job's task count, from
 * its client-signed spec), never below the bounds every draw keeps (the economic bound
 * `C / (R + F)`, the floor, the value floor), and only for a provider with a clean record: at
 * least `RENDER_SAMPLE_MIN_RECORD` verified results and no fault. A provider with a fault, or one
 * still without a record, is audited by the adaptive rule alone. The draw itself is unchanged
 * (`hashUnit(seed, 'audit', provider, taskId) < rate`, the epoch's committed seed), so validators
 * check it as any draw: recomputed from the revealed seed, its rate at least the floor and the
 * economic bound of the economics it records (src/validator/checkDraws.ts).
 */
import type { ReputationState } from './reputation.ts';

/** Frames of a job a provider with a clean record is expected to be audited on, were it to render them all. */
export const RENDER_JOB_AUDIT_SAMPLE = 4;

/** Verified results (agreed or valid) without any fault before a provider's render audits are sampled per job. */
export const RENDER_SAMPLE_MIN_RECORD = 4;

/**
 * The audit rate of one render task: `max(lower, min(rate, RENDER_JOB_AUDIT_SAMPLE / tasks))` for
 * a provider with a clean record, else `rate`. `rate` is the adaptive rate (auditPolicy.ts, value
 * floor included), `lower` the bounds no draw may go under (economic bound, floor, value floor),
 * `tasks` the job's task count.
 *
 * @example
 * renderAuditRate({ rate: 1, lower: 0.04, tasks: 24, reputation }); // 1/6 with a clean record, else 1
 */
export function renderAuditRate(args: {
  rate: number;
  lower: number;
  tasks: number;
  reputation: Pick<ReputationState, 'verifiedValid' | 'faults'>;
}): number {
  const { rate, lower, tasks, reputation } = args;
  if (reputation.faults > 0 || reputation.verifiedValid < RENDER_SAMPLE_MIN_RECORD) return rate;
  if (!(tasks > 0)) return rate;
  return Math.min(1, Math.max(lower, Math.min(rate, RENDER_JOB_AUDIT_SAMPLE / tasks)));
}

/**
 * The probability that a provider skimping on every frame it renders, `frames` of them, is
 * audited on at least one (each audit catches such a frame with probability `catchRate`; every
 * cheat of `npm run bench -- render-audit` was caught by every region the draw can give, so 1):
 * `1 − (1 − rate · catchRate)^frames`.
 *
 * @example
 * jobDetection(1 / 6, 12); // 0.888
 */
export function jobDetection(rate: number, frames: number, catchRate = 1): number {
  return 1 - (1 - Math.min(1, rate) * catchRate) ** frames;
}
