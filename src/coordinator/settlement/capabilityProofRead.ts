/**
 * The close's store read of the capability proofs the evidence carries (version 12; the pure
 * part, shared with validators, is capabilityEvidence.ts).
 */
import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import { type CapabilityProofFact, providersCountingCapacity } from './capabilityEvidence.ts';
import type { EpochInputs } from './epochComputation.ts';

/**
 * The proofs behind {@link providersCountingCapacity}: each provider's passing proof judged at its
 * capability's `checkedAt` (the first by challenge id, as `capabilityAsOf` picks it), signed.
 *
 * @example
 * facts.capabilityProofs = await readCapabilityProofs(trx, inputs);
 */
export async function readCapabilityProofs(
  trx: Transaction<Database>,
  inputs: Pick<EpochInputs, 'sessions' | 'activeOnChain' | 'faulted' | 'providers'>,
): Promise<CapabilityProofFact[]> {
  const checkedAt = new Map(
    inputs.providers.map((p) => [
      p.address.toLowerCase(),
      p.capability ? (JSON.parse(p.capability) as { checkedAt?: number }).checkedAt : undefined,
    ]),
  );
  const out: CapabilityProofFact[] = [];
  for (const provider of providersCountingCapacity(inputs)) {
    const at = checkedAt.get(provider);
    if (typeof at !== 'number') continue;
    const r = await trx
      .selectFrom('capability_proofs')
      .selectAll()
      .where('provider', '=', provider)
      .where('created_at', '=', at)
      .where('outcome', '=', 'passed')
      .where('signature', 'is not', null)
      .orderBy('challenge_id')
      .executeTakeFirst();
    if (!r || r.signature == null || r.seed == null || r.k == null || r.digest == null) continue;
    if (r.product_cid == null || r.signed_at == null || r.elapsed_ms === null) continue;
    out.push({
      provider,
      challengeId: r.challenge_id,
      seed: r.seed,
      hardwareClass: r.hardware_class,
      n: r.n,
      k: r.k,
      digest: r.digest,
      productCid: r.product_cid,
      elapsedMs: r.elapsed_ms,
      checkedAt: r.created_at,
      issuedAt: r.signed_at,
      signature: r.signature,
    });
  }
  return out;
}
