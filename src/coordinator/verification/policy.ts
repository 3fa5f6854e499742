/**
 * The verification policy a job asks for: `none`, `redundant(k)` or `audit` (network default).
 */
import { z } from 'zod';
import type { JobSpec } from '../../protocol/schemas.ts';

/**
 * Zod schema of a job's verification policy (what clients send in a job submission).
 *
 * @example
 * verificationPolicySchema.parse({ kind: 'redundant', k: 3 });
 */
/** `image`: outputs are rendered images, equal when perceptually alike (compareRenders.ts), not bit for bit. */
const outputs = z.literal('image').optional();
export const verificationPolicySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none'), outputs }),
  z.object({ kind: z.literal('redundant'), k: z.number().int().min(2).max(7), outputs }),
  z.object({ kind: z.literal('audit'), outputs }),
]);

/**
 * A job's verification policy.
 *
 * @example
 * const policy: VerificationPolicy = { kind: 'redundant', k: 2 };
 */
export type VerificationPolicy = z.infer<typeof verificationPolicySchema>;

/**
 * The network default: adaptive audit.
 *
 * @example
 * const policy = job.verification ?? DEFAULT_VERIFICATION_POLICY;
 */
export const DEFAULT_VERIFICATION_POLICY: VerificationPolicy = { kind: 'audit' };

/**
 * Parses a policy from a job (absent → default). Throws a ZodError on anything else.
 *
 * @example
 * parseVerificationPolicy({ kind: 'redundant', k: 3 }); // { kind: 'redundant', k: 3 }
 * parseVerificationPolicy(undefined); // { kind: 'audit' }
 */
export function parseVerificationPolicy(json: unknown): VerificationPolicy {
  return json === undefined ? DEFAULT_VERIFICATION_POLICY : verificationPolicySchema.parse(json);
}

/**
 * The verification policy of a job spec (absent → the network default, adaptive audit).
 *
 * @example
 * policyOfSpec({ ...spec, verification: { policy: 'redundant' } }); // { kind: 'redundant', k: 3 }
 */
export function policyOfSpec(
  spec: Pick<JobSpec, 'verification'> & { kind?: JobSpec['kind'] },
): VerificationPolicy {
  const v = spec.verification;
  const images = spec.kind === 'blender.render' ? ({ outputs: 'image' } as const) : {};
  if (!v) return { ...DEFAULT_VERIFICATION_POLICY, ...images };
  if (v.policy === 'redundant') return { kind: 'redundant', k: v.k ?? 3, ...images };
  return { kind: v.policy, ...images };
}
