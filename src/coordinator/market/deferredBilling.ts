/**
 * Which verdicts are billed only when their job ends (docs/render.md, "Caught: earlier frames
 * re-rendered"): a frame of an audited `blender.render` job that frame sampling left unchecked. If
 * its provider is caught on another frame of the job before then, the frame is reopened and
 * rendered again (work/renderRecheck.ts), so the client is never billed for it.
 */
import type { JobSpec } from '../../protocol/schemas.ts';
import { policyOfSpec } from '../verification/policy.ts';
import type { Verdict } from '../verification/taskVerification.ts';

/**
 * True when a verdict's bill waits for its job's end: an accepted, unverified task of a
 * `blender.render` job under audits. Pure.
 *
 * @example defersBilling(job.spec, verdict) // true for a sampled-out frame
 */
export function defersBilling(spec: JobSpec, verdict: Pick<Verdict, 'status' | 'verified'>): boolean {
  return (
    spec.kind === 'blender.render' &&
    policyOfSpec(spec).kind === 'audit' &&
    verdict.status === 'accepted' &&
    !verdict.verified
  );
}
