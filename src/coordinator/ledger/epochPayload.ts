/**
 * The store's form of an epoch payload (`epochs.payload`): JSON with bigints as decimal strings.
 * Settlement writes it when it closes an epoch; `ledger verify` and the API read it back.
 */
import type { Address, Hex } from 'viem';
import type { EpochPayload } from '../../chain/types.ts';

const ZERO_HASH: Hex = `0x${'0'.repeat(64)}`;

/**
 * An epoch payload in JSON (bigints as decimal strings): how it is stored and how
 * `GET /v1/epochs/:epoch/claim` sends it.
 *
 * @example
 * const j: EpochPayloadJson = JSON.parse(row.payload!);
 */
export type EpochPayloadJson = {
  epoch: string;
  rewardsRoot: Hex;
  totalEarned: string;
  charges: { client: Address; amount: string }[];
  slashes: { provider: Address; amount: string }[];
  emission: string;
  evidenceHash?: Hex;
};

/**
 * An epoch payload as stored (bigints as decimal strings).
 *
 * @example
 * const json = payloadToJson(payload); // '{"epoch":"3","rewardsRoot":"0x…",…}'
 */
export function payloadToJson(p: EpochPayload): string {
  return JSON.stringify(p, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/**
 * Parses a stored payload.
 *
 * @example
 * const payload = payloadFromJson(row.payload!); // payload.epoch === 3n
 */
export function payloadFromJson(s: string): EpochPayload {
  const j = JSON.parse(s) as EpochPayloadJson;
  return {
    epoch: BigInt(j.epoch),
    rewardsRoot: j.rewardsRoot,
    totalEarned: BigInt(j.totalEarned),
    charges: j.charges.map((c) => ({ client: c.client, amount: BigInt(c.amount) })),
    slashes: j.slashes.map((s) => ({ provider: s.provider, amount: BigInt(s.amount) })),
    emission: BigInt(j.emission),
    // Payloads stored before evidence bundles existed carry none: the zero hash, as the contract had.
    evidenceHash: j.evidenceHash ?? ZERO_HASH,
  };
}
