/**
 * Who reads a job's private views (docs/verification.md "What the public sees"): the account that
 * signed the request's `x-plexus-auth` EIP-712 `JobRead` over the job id. Every job-scoped view
 * that names tasks is its client's alone, and answers everyone else alike whether the job is
 * real, a canary's shadow job or no job at all, so that nothing tells them apart.
 */
import type { FastifyRequest } from 'fastify';
import type { Address, Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { parseBlobAuth, verifyPlexusMessage } from '../../protocol/eip712.ts';
import { JOB_AUTH_HEADER, JOB_READ_MAX_AGE_SEC } from '../../protocol/jobRead.ts';

/**
 * The lowercase address that signed a read of `jobId` in this request, or undefined when the
 * request carries no `x-plexus-auth`. A malformed, stale or wrong signature throws
 * (`PLX_AUTH_REQUIRED`, `PLX_STALE_MESSAGE`, `PLX_BAD_SIGNATURE`).
 *
 * @example const reader = await jobReader(req, jobId, chainId);
 */
export async function jobReader(
  req: FastifyRequest,
  jobId: string,
  chainId: number,
): Promise<string | undefined> {
  const header = req.headers[JOB_AUTH_HEADER];
  if (header === undefined) return undefined;
  const auth = parseBlobAuth(typeof header === 'string' ? header : undefined);
  if (!auth)
    throw new PlexusError(
      'PLX_AUTH_REQUIRED',
      'x-plexus-auth must be account:issuedAt:signature (EIP-712 JobRead)',
    );
  await verifyPlexusMessage({
    chainId,
    primaryType: 'JobRead',
    message: { account: auth.account, jobId: jobId as Hex, issuedAt: auth.issuedAt },
    signature: auth.signature,
    expectedSigner: auth.account as Address,
    maxSkewSec: JOB_READ_MAX_AGE_SEC,
  });
  return auth.account.toLowerCase();
}

/**
 * Requires the job's client (anyone for a public job: `clientOf` answers null): no signature is `PLX_AUTH_REQUIRED` (before anything is looked up),
 * a signature by anyone else — or a job that does not exist, or a shadow job — `PLX_NOT_FOUND`.
 *
 * @example await requireJobClient(req, id, chainId, async () => (await findJob(db, id))?.client);
 */
export async function requireJobClient(
  req: FastifyRequest,
  jobId: string,
  chainId: number,
  clientOf: () => Promise<string | null | undefined>,
): Promise<string | undefined> {
  // A public job (null client here): its client opened its data to anyone.
  if (req.headers[JOB_AUTH_HEADER] === undefined && (await clientOf()) === null) return undefined;
  const reader = await jobReader(req, jobId, chainId);
  if (reader === undefined)
    throw new PlexusError(
      'PLX_AUTH_REQUIRED',
      "a job's tasks are its client's: sign a JobRead (x-plexus-auth)",
    );
  const client = await clientOf();
  if (client === null) return reader;
  if (client === undefined || client.toLowerCase() !== reader)
    throw new PlexusError('PLX_NOT_FOUND', `no job ${jobId} of ${reader}`);
  return reader;
}
