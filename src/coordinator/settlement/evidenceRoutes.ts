/**
 * The evidence API (docs/validators.md): an epoch's evidence bundle, streamed and resumable, and
 * the outcome the coordinator claims from it (the payload it asks validators to sign and the
 * rewards tree's leaves), so a validator that disagrees can name the first differing fact.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import type { Hex, LocalAccount } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import {
  type ClaimTarget,
  type CoordinatorClaimSignature,
  signEpochClaim,
} from '../../protocol/claimSignature.ts';
import type { Database } from '../store/schema.ts';

/** Bytes per chunk of a streamed bundle: bounded memory per response, whatever the bundle size. */
const CHUNK = 64 * 1024;
/** Claim signatures kept per route instance (the oldest is dropped first). */
const CLAIM_SIGNATURES_KEPT = 256;

/**
 * Parses a single `bytes=a-b` / `bytes=a-` / `bytes=-n` range against a body of `size` bytes.
 * Returns null when the header is absent, 'invalid' when it cannot be satisfied.
 *
 * @example
 * parseRange('bytes=10-', 100); // { start: 10, end: 99 }
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return 'invalid';
  return { start, end };
}

/**
 * Registers `GET /v1/epochs/:epoch/evidence` (the canonical bundle; `Range: bytes=…` answers 206 with
 * that slice, so a download resumes where it stopped; `x-plexus-evidence-hash` and
 * `x-plexus-evidence-prev` carry its sha256 and the previous epoch's) and
 * `GET /v1/epochs/:epoch/claim` (`{ epoch, status, payload, leaves, signatures, coordinator }`: what
 * this coordinator asks to be signed, bigints as decimal strings, the validators' signatures once a
 * quorum signed, and, with `claimSigner`, the network key's signature over the epoch's evidence
 * hash — protocol/claimSignature.ts — that validators check before acting on the claim).
 *
 * @example await app.register(evidenceRoutes({ db, claimSigner: { account: submitter, target } }));
 */
export function evidenceRoutes(deps: {
  db: Kysely<Database>;
  /** The network's identity (every replica holds it): signs each claim's evidence hash. */
  claimSigner?: { account: LocalAccount; target: ClaimTarget } | undefined;
}) {
  const { db } = deps;
  // The claim route is public and unauthenticated: each EIP-712 signature costs CPU (a few ms of
  // secp256k1), so an epoch's is made once per evidence hash and kept (RFC 6979: the same bytes
  // as a fresh one). Concurrent first requests share one signing; a failed one is not kept.
  const signed = new Map<string, Promise<CoordinatorClaimSignature>>();
  const claimSignature = (
    signer: { account: LocalAccount; target: ClaimTarget },
    epoch: number,
    evidenceHash: Hex,
  ): Promise<CoordinatorClaimSignature> => {
    const key = `${epoch}:${evidenceHash}`;
    let sig = signed.get(key);
    if (!sig) {
      sig = signEpochClaim(signer.account, signer.target, epoch, evidenceHash);
      sig.catch(() => signed.delete(key));
      if (signed.size >= CLAIM_SIGNATURES_KEPT) signed.delete(signed.keys().next().value as string);
      signed.set(key, sig);
    }
    return sig;
  };
  return async (app: FastifyInstance) => {
    app.get<{ Params: { epoch: string } }>(
      '/v1/epochs/:epoch/evidence',
      { schema: { hide: true } },
      async (req, reply) => {
        const epoch = Number(req.params.epoch);
        const row = Number.isSafeInteger(epoch)
          ? await db.selectFrom('epoch_evidence').selectAll().where('epoch', '=', epoch).executeTakeFirst()
          : undefined;
        if (!row) throw new PlexusError('PLX_NOT_FOUND', `no evidence for epoch ${req.params.epoch}`);
        const body = Buffer.from(row.body, 'utf8');
        const range = parseRange(req.headers.range, body.length);
        reply
          .header('content-type', 'application/json')
          .header('accept-ranges', 'bytes')
          .header('x-plexus-evidence-hash', row.hash)
          .header('x-plexus-evidence-prev', row.prev_hash)
          // Content-addressed: the body of an epoch never changes once written.
          .header('etag', `"${row.hash}"`);
        if (range === 'invalid') {
          return reply.code(416).header('content-range', `bytes */${body.length}`).send();
        }
        const { start, end } = range ?? { start: 0, end: body.length - 1 };
        if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${body.length}`);
        reply.header('content-length', end - start + 1);
        const slice = body.subarray(start, end + 1);
        return reply.send(
          Readable.from(
            (function* () {
              for (let i = 0; i < slice.length; i += CHUNK) yield slice.subarray(i, i + CHUNK);
            })(),
          ),
        );
      },
    );

    app.get<{ Params: { epoch: string } }>(
      '/v1/epochs/:epoch/claim',
      { schema: { hide: true } },
      async (req) => {
        const epoch = Number(req.params.epoch);
        const row = Number.isSafeInteger(epoch)
          ? await db
              .selectFrom('epochs')
              .select(['epoch', 'status', 'payload', 'tree', 'signatures'])
              .where('epoch', '=', epoch)
              .executeTakeFirst()
          : undefined;
        if (!row?.payload) throw new PlexusError('PLX_NOT_FOUND', `epoch ${req.params.epoch} is not closed`);
        const leaves = row.tree
          ? (JSON.parse(row.tree) as { values: { value: [string, string] }[] }).values.map((v) => ({
              account: v.value[0].toLowerCase(),
              cumulativeAmount: v.value[1],
            }))
          : [];
        // Once a quorum signed, the signatures are public: anyone may submit the finalize transaction.
        const signatures = row.signatures ? JSON.parse(row.signatures) : [];
        const payload = JSON.parse(row.payload) as { evidenceHash: Hex };
        const signer = deps.claimSigner;
        const coordinator = signer ? await claimSignature(signer, row.epoch, payload.evidenceHash) : null;
        return { epoch: row.epoch, status: row.status, payload, leaves, signatures, coordinator };
      },
    );
  };
}
