/**
 * Revoked outputs in the SDK (docs/verification.md "Caught: unchecked outputs re-run"): an output
 * delivered unchecked by a provider later proven faulty is re-verified by two independent trusted
 * providers; where both disagree with it, it is revoked. `GET /v1/jobs/:id` and `/results` then
 * carry `revoked: { replacement, checkedBy, refund, at }` on the task and the output: the
 * replacement is the checks' output (a blob the job's client may read) and `refund` says the task's
 * charges are refunded to the client from the faulty provider's seized stake.
 */
import type { JobEvent, JobOutput, RevokedOutput } from '../protocol/http/jobs.ts';

export type { JobOutput, RevokedOutput };

/**
 * The `output.revoked` event of a job's stream (work/recheckCaught.ts `revokeOverturnedOutput`):
 * the task, the revoked and the replacement output, the checkers, and whether the client is
 * refunded.
 */
export type OutputRevokedEvent = {
  taskId: string;
  provider: string | null;
  revoked: string;
  replacement: string;
  checkedBy: string[];
  refund: boolean;
};

/**
 * The revocation an event of a job's stream carries, typed, or undefined for any other event.
 *
 * @example await plexus.waitForJob(jobId, (e) => { const r = outputRevoked(e); if (r) console.log(r.replacement); });
 */
export function outputRevoked(e: JobEvent): OutputRevokedEvent | undefined {
  if (e.type !== 'output.revoked') return undefined;
  const d = e.data;
  if (typeof d.taskId !== 'string' || typeof d.revoked !== 'string' || typeof d.replacement !== 'string')
    return undefined;
  return {
    taskId: d.taskId,
    provider: typeof d.provider === 'string' ? d.provider : null,
    revoked: d.revoked,
    replacement: d.replacement,
    checkedBy: Array.isArray(d.checkedBy)
      ? d.checkedBy.filter((c): c is string => typeof c === 'string')
      : [],
    refund: d.refund === true,
  };
}

/**
 * The output to use for one result: the replacement when the delivered output was revoked, else
 * the delivered output.
 *
 * @example const bytes = await plexus.downloadBlob(currentOutput(results.outputs[0]));
 */
export function currentOutput(o: Pick<JobOutput, 'output' | 'revoked'>): string {
  return o.revoked?.replacement ?? o.output;
}

/**
 * The outputs of a job's results with each revoked one replaced by its replacement (`revoked`
 * kept on it, `delivered`: the revoked cid), in the same order.
 *
 * @example for (const o of currentOutputs(results.outputs)) await save(o.index, o.output);
 */
export function currentOutputs<T extends Pick<JobOutput, 'index' | 'output' | 'revoked'>>(
  outputs: readonly T[],
): (T & { delivered: string })[] {
  return outputs.map((o) => ({ ...o, output: currentOutput(o), delivered: o.output }));
}

/**
 * The revoked outputs of a job's results: task index, the revoked and the replacement cid, the
 * checkers and whether the client is refunded.
 *
 * @example for (const r of revokedOutputs(results.outputs)) console.log(`#${r.index} → ${r.replacement}`);
 */
export function revokedOutputs(
  outputs: readonly Pick<JobOutput, 'index' | 'output' | 'revoked'>[],
): ({ index: number; revoked: string } & RevokedOutput)[] {
  return outputs.flatMap((o) => (o.revoked ? [{ index: o.index, revoked: o.output, ...o.revoked }] : []));
}
