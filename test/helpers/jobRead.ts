/**
 * A job's client reading its private views (`GET /v1/jobs/:id/…`) with a signed `JobRead`, as the
 * SDK does: for tests that fetch the routes themselves.
 */
import type { LocalAccount } from 'viem';
import { JOB_AUTH_HEADER, signJobRead } from '../../src/protocol/jobRead.ts';

/**
 * GET `base + path` signed by `account` as a read of job `jobId` (chain id from `/v1/health`).
 *
 * @example const res = await fetchAsClient(url, `/v1/jobs/${jobId}/verification`, account, jobId);
 */
export async function fetchAsClient(
  base: string,
  path: string,
  account: LocalAccount,
  jobId: string,
): Promise<Response> {
  const { chainId } = (await (await fetch(`${base}/v1/health`)).json()) as { chainId: number };
  return fetch(`${base}${path}`, {
    headers: { [JOB_AUTH_HEADER]: await signJobRead(account, chainId, jobId) },
  });
}
