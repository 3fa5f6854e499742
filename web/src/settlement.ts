/**
 * Settlement and market data as the coordinator serves it (`/v1/epochs`, `/v1/prices`,
 * `/v1/rewards/:address`, `/v1/chain`, and the `earnings`/`stake` fields of `/v1/providers`):
 * schemas that check every document before a view draws it, and the formatting of token amounts.
 *
 * Amounts travel as decimal strings of base units of the 18-decimal PLX token. They stay bigints
 * here, are formatted with viem's `formatUnits` and cut as strings: never a float, so 0.1 + 0.2
 * never shows as 0.30000000000000004 PLX and a 10^24 balance keeps every digit.
 *
 * No DOM in this file: test/dashboard.test.ts runs it under Node.
 */
import { formatUnits } from 'viem';
import * as z from 'zod/mini';
import type { ChainInfo } from '../../src/protocol/http/chain.ts';
import type { EpochView, PriceClassView, RewardsView } from '../../src/protocol/http/market.ts';

/**
 * The documents' types are the wire contract's (src/protocol/). The explorer still checks each
 * document with its own zod/mini schema below (the full zod schemas of src/ would triple the
 * bundle); each schema is declared as a `ZodMiniType` of the contract's type, so it cannot drift
 * from it without failing the typecheck.
 */
/** @example const chain: ChainInfo = parseChain(await res.json()); */
export type { ChainInfo };
/** @example const epochs: Epoch[] = parseEpochs(await res.json()); */
export type Epoch = EpochView;
/** @example const classes: PriceClass[] = parsePrices(await res.json()); */
export type PriceClass = PriceClassView;
/** @example const r: Rewards = parseRewards(await res.json()); */
export type Rewards = RewardsView;

/** Decimals of the PLX token. */
export const PLX_DECIMALS = 18;

const amount = z.string().check(z.regex(/^(0|[1-9][0-9]{0,77})$/));
const hash32 = z.string().check(z.regex(/^0x[0-9a-fA-F]{64}$/));
const address = z.string().check(z.regex(/^0x[0-9a-fA-F]{40}$/));
const unixMs = z.int().check(z.minimum(0));
const fraction = z.number().check(z.minimum(0), z.maximum(1));
/** Utilization is agreed as 0..1; a measured value a little over 1 still shows (as >100%), it is not malformed. */
const utilization = z.number().check(z.minimum(0));

export const EPOCH_STATUSES = ['open', 'closing', 'signed', 'submitted', 'settled'] as const;

const epochSchema: z.ZodMiniType<EpochView> = z.object({
  epoch: z.int().check(z.minimum(0)),
  status: z.enum(EPOCH_STATUSES),
  startsAt: unixMs,
  endsAt: unixMs,
  tasksSettled: z.int().check(z.minimum(0)),
  providerEarnings: amount,
  clientCharges: amount,
  protocolFees: amount,
  slashed: amount,
  emission: amount,
  rewardsRoot: z.nullable(hash32),
  evidenceHash: z.nullable(hash32),
  signers: z.array(address),
  disputes: z.array(
    z.object({ validator: z.string().check(z.maxLength(300)), fact: z.string().check(z.maxLength(500)) }),
  ),
  txHash: z.nullable(hash32),
  settledAt: z.nullable(unixMs),
});
const epochsSchema = z.object({ epochs: z.array(epochSchema) });

const priceClassSchema: z.ZodMiniType<PriceClassView> = z.object({
  class: z.string().check(z.minLength(1), z.maxLength(100)),
  unit: z.string().check(z.minLength(1), z.maxLength(100)),
  basePrice: amount,
  utilization,
  targetUtilization: fraction,
  history: z.array(z.object({ epoch: z.int().check(z.minimum(0)), basePrice: amount, utilization })),
});
const pricesSchema = z.object({ classes: z.array(priceClassSchema) });

const rewardsSchema: z.ZodMiniType<RewardsView> = z.object({
  address,
  epoch: z.int().check(z.minimum(0)),
  cumulativeAmount: amount,
  claimed: amount,
  proof: z.array(hash32),
  rewardsRoot: hash32,
});

const chainSchema = z.object({
  chainId: z.int().check(z.minimum(1)),
  rpcUrl: z.string(),
  token: address,
  registry: address,
  escrow: address,
  settlement: address,
  epochDuration: z.int().check(z.minimum(1)),
  blockExplorerUrl: z.optional(z.string()),
});

/** A document that does not have the agreed shape: the view shows this instead of guessing. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

function parseWith<T>(schema: z.ZodMiniType<T>, what: string, json: unknown): T {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const where = r.error.issues
    .slice(0, 3)
    .map((i) => i.path.join('.') || '(root)')
    .join(', ');
  throw new ShapeError(`${what} has an unexpected shape (at ${where})`);
}

/**
 * Checks `GET /v1/epochs` and returns its epochs, newest first as served.
 * @example const epochs = parseEpochs(await res.json());
 */
export function parseEpochs(json: unknown): Epoch[] {
  return parseWith(epochsSchema, '/v1/epochs', json).epochs;
}

/**
 * Checks `GET /v1/prices`; each class's history is returned sorted by epoch, oldest first.
 * @example const classes = parsePrices(await res.json());
 */
export function parsePrices(json: unknown): PriceClass[] {
  return parseWith(pricesSchema, '/v1/prices', json).classes.map((c) => ({
    ...c,
    history: [...c.history].sort((a, b) => a.epoch - b.epoch),
  }));
}

/** @example const r = parseRewards(await res.json()); */
export function parseRewards(json: unknown): Rewards {
  return parseWith(rewardsSchema, '/v1/rewards', json);
}

/** @example const chain = parseChain(await res.json()); */
export function parseChain(json: unknown): ChainInfo {
  // The address checks above guarantee the 0x-prefixed strings the contract's type names.
  return parseWith(chainSchema, '/v1/chain', json) as ChainInfo;
}

/**
 * An amount a provider row may carry: the value, or why there is none (the field is not served
 * by this coordinator yet, or there is no chain to read a stake from).
 */
export type MaybeAmount = { value: bigint } | { value: null; why: string };

/**
 * Reads `earnings` (cumulative, from the ledger) and `stake` (on chain, `null` without a chain)
 * of one `/v1/providers` item. A provider list from before settlement lacks both fields.
 * @example providerMoney({ earnings: '5', stake: null }) // { earnings: { value: 5n }, stake: { value: null, why: 'no chain' } }
 */
export function providerMoney(p: { earnings?: unknown; stake?: unknown }): {
  earnings: MaybeAmount;
  stake: MaybeAmount;
} {
  const notServed = { value: null, why: 'not served by this coordinator yet' } as const;
  const read = (v: unknown): MaybeAmount | null =>
    typeof v === 'string' && amount.safeParse(v).success ? { value: BigInt(v) } : null;
  return {
    earnings: p.earnings === undefined ? notServed : (read(p.earnings) ?? { value: null, why: 'malformed' }),
    stake:
      p.stake === undefined
        ? notServed
        : p.stake === null
          ? { value: null, why: 'no chain' }
          : (read(p.stake) ?? { value: null, why: 'malformed' }),
  };
}

/**
 * What a provider can claim now: its cumulative amount in the last settled root minus what it
 * already claimed on chain (never below zero).
 * @example claimable({ cumulativeAmount: '30', claimed: '10' }) // 20n
 */
export function claimable(r: Pick<Rewards, 'cumulativeAmount' | 'claimed'>): bigint {
  const d = BigInt(r.cumulativeAmount) - BigInt(r.claimed);
  return d > 0n ? d : 0n;
}

/**
 * A base-unit amount in whole tokens for people: thousands separated, cut (never rounded up) to
 * `significant` digits after the leading zeros of a fraction below one token, at most
 * `maxFraction` decimals when there is a whole part, trailing zeros dropped. A non-zero amount
 * therefore never shows as 0 (a price of 10^-12 PLX per unit stays readable).
 *
 * @example
 * formatAmount(1_500_000_000_000_000_000n) // '1.5'
 * formatAmount('1234567000000000000000000') // '1,234,567'
 * formatAmount(1_200_000_000_000n) // '0.0000012'
 */
export function formatAmount(
  base: bigint | string,
  opts: { decimals?: number; significant?: number; maxFraction?: number } = {},
): string {
  const decimals = opts.decimals ?? PLX_DECIMALS;
  const significant = opts.significant ?? 4;
  const maxFraction = opts.maxFraction ?? 4;
  const v = typeof base === 'bigint' ? base : BigInt(base);
  const negative = v < 0n;
  const [whole = '0', frac = ''] = formatUnits(negative ? -v : v, decimals).split('.');
  let keep: number;
  if (whole !== '0') keep = maxFraction;
  else {
    const firstNonZero = frac.search(/[1-9]/);
    keep = firstNonZero < 0 ? 0 : firstNonZero + significant;
  }
  const cut = frac.slice(0, keep).replace(/0+$/, '');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${negative ? '-' : ''}${grouped}${cut ? `.${cut}` : ''}`;
}

/**
 * An amount with its unit: `1.5 PLX`.
 * @example plx('1500000000000000000') // '1.5 PLX'
 */
export function plx(base: bigint | string): string {
  return `${formatAmount(base)} PLX`;
}

/**
 * The exact amount in tokens (every decimal), for tooltips.
 * @example exactPlx(1n) // '0.000000000000000001 PLX'
 */
export function exactPlx(base: bigint | string): string {
  return `${formatUnits(typeof base === 'bigint' ? base : BigInt(base), PLX_DECIMALS)} PLX`;
}

/**
 * Where on a 0…1 scale `v` lies between 0 and `max`, computed in bigints (for chart geometry: the
 * amounts themselves never become floats).
 * @example ratio(5n, 10n) // 0.5
 */
export function ratio(v: bigint, max: bigint): number {
  if (max <= 0n) return 0;
  return Number((v * 1_000_000n) / max) / 1_000_000;
}
