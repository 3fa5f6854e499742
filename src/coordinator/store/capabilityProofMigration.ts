import type { Migration } from 'kysely';

/**
 * `0079_capability_answers` (listed in migrations.ts): what a validator needs to re-check a
 * capability proof (docs/validators.md "Proven capacity"): the challenge's seed and chain length,
 * the answer's digest and blob, and the provider's signature over them (`CapabilityAnswer`,
 * protocol/signedCapabilityAnswer.ts). All null on a proof recorded before, or by an agent that
 * does not sign: such a proof earns no emission (settlement/capabilityEvidence.ts).
 */
export const capabilityProofMigrations: Record<string, Migration> = {
  '0079_capability_answers': {
    async up(db) {
      for (const [name, type] of [
        ['seed', 'text'],
        ['k', 'integer'],
        ['digest', 'text'],
        ['product_cid', 'text'],
        ['signed_at', 'integer'],
        ['signature', 'text'],
      ] as const) {
        await db.schema.alterTable('capability_proofs').addColumn(name, type).execute();
      }
      // The blob collector asks, per blob, whether a passing proof still needs its answer.
      await db.schema
        .createIndex('capability_proofs_product')
        .on('capability_proofs')
        .column('product_cid')
        .execute();
    },
  },
};

/** The columns 0079 adds to `capability_proofs` (null before it, or unsigned). */
export type CapabilityAnswerColumns = {
  seed: string | null;
  k: number | null;
  /** sha256 hex of the answer (`answerDigest`), as the provider committed it. */
  digest: string | null;
  product_cid: string | null;
  /** The signature's `issuedAt` (unix seconds). */
  signed_at: number | null;
  signature: string | null;
};
