/**
 * Which verdicts are billed only when their job ends (docs/verification.md, "Caught: unchecked
 * outputs re-run"; docs/render.md, "Caught: earlier frames re-rendered"): a task of an audited job
 * (`onnx.infer` or `blender.render`) accepted without any check — the audit draw left it out or its
 * audit was waived — and, since issue 15, a `redundant(k)` task whose agreeing replicas were all
 * untrusted (no trusted provider could take a seat): billed at its verdict it was paid for as
 * verified work, and a replica caught later could not have it re-run. If its provider is proven faulty on any task before the job ends, the task is
 * reopened and run again (work/recheckCaught.ts), so the client is never billed for it. Training
 * jobs are left out: their rounds and end belong to the round manager.
 */
import type { JobSpec } from '../../protocol/schemas.ts';
import { policyOfSpec } from '../verification/policy.ts';
import type { Verdict } from '../verification/taskVerification.ts';

/**
 * True when a job's unchecked outputs are billed at its end (and can be reopened before then): an
 * audited or `redundant(k)` job that is not a training job. Pure.
 *
 * @example defersUncheckedOutputs(job.spec) // true for an audited onnx.infer job
 */
export function defersUncheckedOutputs(spec: JobSpec): boolean {
  const policy = policyOfSpec(spec).kind;
  return spec.kind !== 'train.diloco' && (policy === 'audit' || policy === 'redundant');
}

/**
 * True when a verdict's bill waits for its job's end: an accepted, unverified task of an audited
 * job ({@link defersUncheckedOutputs}). Pure.
 *
 * @example defersBilling(job.spec, verdict) // true for a sampled-out frame or an unaudited task
 */
export function defersBilling(spec: JobSpec, verdict: Pick<Verdict, 'status' | 'verified'>): boolean {
  return defersUncheckedOutputs(spec) && verdict.status === 'accepted' && !verdict.verified;
}
