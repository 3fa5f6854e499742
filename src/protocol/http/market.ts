/**
 * Wire shapes of the money side of the API (docs/market.md): epochs and their settlement, base
 * prices per resource class, a provider's rewards with its Merkle proof. `GET /v1/chain` answers
 * `chainInfoSchema` (src/protocol/deployment.ts). Amounts are decimal strings of base units.
 */
import { z } from 'zod';
import { amountSchema } from './common.ts';

/** @example epochStatusSchema.parse('settled'); */
export const epochStatusSchema = z.enum(['open', 'closing', 'signed', 'submitted', 'settled']);
/** @example const s: EpochStatus = 'open'; */
export type EpochStatus = z.infer<typeof epochStatusSchema>;

/**
 * One epoch: its window, its summary (final once closed, the figures so far while open), the
 * rewards root and the settlement transaction. Open-ended: a stored summary is sent as it is.
 *
 * @example const settled = (e: EpochView) => e.settledAt !== null;
 */
export const epochViewSchema = z.looseObject({
  epoch: z.number(),
  status: epochStatusSchema,
  startsAt: z.number(),
  endsAt: z.number(),
  tasksSettled: z.number(),
  providerEarnings: amountSchema,
  clientCharges: amountSchema,
  protocolFees: amountSchema,
  slashed: amountSchema,
  emission: amountSchema,
  rewardsRoot: z.string().nullable(),
  /** The sha256 of the epoch's evidence bundle once closed (it changes only if the epoch is reopened). */
  evidenceHash: z.string().nullable(),
  /** Validators whose signatures over this coordinator's payload were collected (addresses). */
  signers: z.array(z.string()),
  /** Validators that refuse the epoch, with the first differing fact each names. */
  disputes: z.array(z.object({ validator: z.string(), fact: z.string() })),
  txHash: z.string().nullable(),
  settledAt: z.number().nullable(),
});
/** @example const fees = (e: EpochView) => BigInt(e.protocolFees); */
export type EpochView = z.infer<typeof epochViewSchema>;

/**
 * `GET /v1/epochs`: epochs, newest first (the current one always present).
 *
 * @example const { epochs } = epochListSchema.parse(await res.json());
 */
export const epochListSchema = z.object({ epochs: z.array(epochViewSchema) });
/** @example const none: EpochList = { epochs: [] }; */
export type EpochList = z.infer<typeof epochListSchema>;

/**
 * One resource class's base price now, its last measured utilization, the target, and history
 * (newest first as served).
 *
 * @example const p: PriceClassView = { class: 'cpu', unit: 'cpu-second', basePrice: '1', utilization: 0, targetUtilization: 0.7, history: [] };
 */
export const priceClassViewSchema = z.object({
  class: z.string(),
  unit: z.string(),
  basePrice: amountSchema,
  utilization: z.number(),
  targetUtilization: z.number(),
  history: z.array(z.object({ epoch: z.number(), basePrice: amountSchema, utilization: z.number() })),
});
/** @example const price = (p: PriceClassView) => BigInt(p.basePrice); */
export type PriceClassView = z.infer<typeof priceClassViewSchema>;

/**
 * `GET /v1/prices`: every resource class.
 *
 * @example const { classes } = priceListSchema.parse(await res.json());
 */
export const priceListSchema = z.object({ classes: z.array(priceClassViewSchema) });
/** @example const none: PriceList = { classes: [] }; */
export type PriceList = z.infer<typeof priceListSchema>;

/**
 * `GET /v1/rewards/:address`: cumulative rewards in the epoch whose root is on chain, what was
 * already claimed, and the Merkle proof a claim needs.
 *
 * @example const owed = (r: RewardsView) => BigInt(r.cumulativeAmount) - BigInt(r.claimed);
 */
export const rewardsViewSchema = z.object({
  address: z.string(),
  epoch: z.number(),
  cumulativeAmount: amountSchema,
  claimed: amountSchema,
  proof: z.array(z.string()),
  rewardsRoot: z.string(),
});
/** @example const r: RewardsView = { address: '0x…', epoch: 3, cumulativeAmount: '5', claimed: '0', proof: [], rewardsRoot: '0x…' }; */
export type RewardsView = z.infer<typeof rewardsViewSchema>;
