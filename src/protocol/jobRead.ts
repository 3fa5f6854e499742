/**
 * The signed read of a job's private views (docs/verification.md "What the public sees"): a job's
 * tasks, results, assignments, verification and events are its client's alone, so that nobody can
 * tell a canary from real work by looking a task up. The client signs an EIP-712 `JobRead` over the
 * job id (the zero hash for its own job list) and sends it in `x-plexus-auth`.
 */
import type { Hex, LocalAccount } from 'viem';
import { BLOB_AUTH_HEADER, signPlexusMessage } from './eip712.ts';

/** The header of a signed job read: the same `x-plexus-auth` as blob requests. */
export const JOB_AUTH_HEADER = BLOB_AUTH_HEADER;

/**
 * How long a signed job read stays good: an hour, so that the explorer link `plexus job status`
 * prints keeps working while the client watches its job (a blob read: 300 s).
 */
export const JOB_READ_MAX_AGE_SEC = 3600;

/** The `jobId` a client signs to read its own job list (`GET /v1/jobs?client=…`). */
export const JOB_LIST_READ = `0x${'0'.repeat(64)}` as Hex;

/**
 * The `x-plexus-auth` value of a read of job `jobId` (or of the account's job list, with
 * {@link JOB_LIST_READ}): `account:issuedAt:signature`, EIP-712 `JobRead` in the chain-only domain.
 * Good for {@link JOB_READ_MAX_AGE_SEC}.
 *
 * @example const header = await signJobRead(account, 31337, jobId);
 */
export async function signJobRead(
  account: LocalAccount,
  chainId: number,
  jobId: string,
  issuedAt = Math.floor(Date.now() / 1000),
): Promise<string> {
  const signature = await signPlexusMessage(account, chainId, 'JobRead', {
    account: account.address,
    jobId: jobId as Hex,
    issuedAt: BigInt(issuedAt),
  });
  return `${account.address}:${issuedAt}:${signature}`;
}
