/**
 * `GET /v1/jobs/:id` for `plexus job status`, without the SDK: the SDK loads viem for signing,
 * which a status read does not need and which would triple the command's start-up time.
 */
import type { JobView } from '../client/createClient.ts';
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { coordinatorUrls } from '../protocol/coordinatorUrls.ts';

/**
 * Reads one job and its tasks from a coordinator.
 *
 * @example
 * const job = await readJob('http://127.0.0.1:8080', '0x12…');
 */
export async function readJob(coordinator: string, jobId: string): Promise<JobView> {
  // Replicas (`URL1,URL2`): the first that answers.
  const bases = coordinatorUrls(coordinator);
  let url = '';
  let res: Response | undefined;
  for (const [i, base] of bases.entries()) {
    url = `${base}/v1/jobs/${encodeURIComponent(jobId)}`;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
      break;
    } catch (cause) {
      if (i < bases.length - 1) continue;
      const c = (cause as { cause?: { code?: string; message?: string } }).cause;
      throw new PlexusError(
        'PLX_UPSTREAM_UNAVAILABLE',
        `cannot reach the coordinator at ${base}: ${c?.code ?? c?.message ?? String(cause)}`,
        { details: { url }, cause },
      );
    }
  }
  if (!res)
    throw new PlexusError('PLX_UPSTREAM_UNAVAILABLE', `cannot reach the coordinator at ${coordinator}`);
  if (!res.ok) throw await errorFromResponse(res);
  const body = (await res.json()) as Partial<JobView>;
  if (typeof body.id !== 'string' || typeof body.status !== 'string')
    throw new PlexusError('PLX_UPSTREAM_UNAVAILABLE', `${url} did not answer a job`);
  return body as JobView;
}
