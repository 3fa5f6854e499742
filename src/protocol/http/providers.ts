/**
 * Wire shapes of `GET /v1/providers`: each provider with its signed hardware claim, load,
 * reputation, audit rate, latest capability proof, earnings and stake.
 */
import { z } from 'zod';
import { hardwareClaimSchema } from '../schemas.ts';
import { amountSchema } from './common.ts';

/**
 * A provider's reputation (a Beta(alpha, beta) over verified outcomes) with its score and whether
 * it counts as trusted (docs/verification.md).
 *
 * @example const r: ReputationView = { alpha: 1, beta: 1, consecutiveValid: 0, verifiedValid: 0, faults: 0, timeouts: 0, updatedAt: 0, score: 0.5, trusted: false };
 */
export const reputationViewSchema = z.looseObject({
  alpha: z.number(),
  beta: z.number(),
  consecutiveValid: z.number(),
  verifiedValid: z.number(),
  faults: z.number(),
  timeouts: z.number(),
  updatedAt: z.number(),
  score: z.number(),
  trusted: z.boolean(),
});
/** @example const good = (r: ReputationView) => r.trusted; */
export type ReputationView = z.infer<typeof reputationViewSchema>;

/**
 * What the coordinator's capability proofs established about a provider's claimed hardware.
 *
 * @example const c: CapabilityView = { class: 'cpu', proven: false, gpuTrusted: false, gflops: null, provenAt: null, lastOutcome: 'pending', checkedAt: null, reason: '' };
 */
export const capabilityViewSchema = z.object({
  class: z.string(),
  proven: z.boolean(),
  gpuTrusted: z.boolean(),
  gflops: z.number().nullable(),
  provenAt: z.number().nullable(),
  lastOutcome: z.enum(['pending', 'passed', 'slow', 'wrong', 'missed']),
  checkedAt: z.number().nullable(),
  reason: z.string(),
});
/** @example const ok = (c: CapabilityView) => c.proven; */
export type CapabilityView = z.infer<typeof capabilityViewSchema>;

/**
 * Why a provider gets no work, each with the next step in `message`: `offline` (no session),
 * `not-registered`, `below-min-stake` (slashed or never staked enough), `unbonding` (a provider with
 * stake unbonding takes no new work), `stake-unknown` (its on-chain record was not read yet).
 *
 * @example eligibilityReasonCodeSchema.parse('unbonding');
 */
export const eligibilityReasonCodeSchema = z.enum([
  'offline',
  'not-registered',
  'below-min-stake',
  'unbonding',
  'stake-unknown',
]);
/** @example const c: EligibilityReasonCode = 'offline'; */
export type EligibilityReasonCode = z.infer<typeof eligibilityReasonCodeSchema>;

/**
 * Whether the coordinator leases work to a provider now and, if not, why (every reason, each with
 * what to do). `gpuWork`: its latest capability proof showed the GPU it claims, so GPU jobs may go
 * to it too (CPU work needs no proof).
 *
 * @example const e: EligibilityView = { eligible: false, reasons: [{ code: 'unbonding', message: '…' }], gpuWork: false };
 */
export const eligibilityViewSchema = z.object({
  eligible: z.boolean(),
  reasons: z.array(z.object({ code: eligibilityReasonCodeSchema, message: z.string() })),
  gpuWork: z.boolean(),
});
/** @example const why = (e: EligibilityView) => e.reasons.map((r) => r.message).join('; '); */
export type EligibilityView = z.infer<typeof eligibilityViewSchema>;

/**
 * One provider of `GET /v1/providers`. Open-ended (the verification view may grow fields).
 * `earnings` is cumulative (ledger); `stake` is on chain, null without a chain.
 *
 * @example const online = (p: ProviderView) => p.connected;
 */
export const providerViewSchema = z.looseObject({
  address: z.string(),
  connected: z.boolean(),
  region: z.string(),
  slots: z.number(),
  active: z.number(),
  hardware: hardwareClaimSchema,
  agentVersion: z.string(),
  tasksCompleted: z.number(),
  tasksFailed: z.number(),
  reputation: reputationViewSchema,
  /** Probability that this provider's next result is audited. */
  auditRate: z.number(),
  capability: capabilityViewSchema.nullable(),
  firstSeen: z.number(),
  lastSeen: z.number(),
  earnings: amountSchema,
  stake: amountSchema.nullable(),
  eligibility: eligibilityViewSchema,
});
/** @example const gpus = (p: ProviderView) => p.hardware.gpus.length; */
export type ProviderView = z.infer<typeof providerViewSchema>;

/**
 * `GET /v1/providers`: every provider this coordinator knows, oldest first.
 *
 * @example const { providers } = providerListSchema.parse(await res.json());
 */
export const providerListSchema = z.object({ providers: z.array(providerViewSchema) });
/** @example const none: ProviderList = { providers: [] }; */
export type ProviderList = z.infer<typeof providerListSchema>;
