import { PlexusError } from '../../errors/PlexusError.ts';
import { backoffDelay } from './backoff.ts';
import type { BlobHttp } from './blobHttp.ts';

/**
 * Uploads a task's output (or a capability answer), retrying a failed transfer up to five times
 * with backoff; a refusal by the coordinator (a PlexusError) is final, and so is any failure once
 * `stopping()` says the agent is stopping.
 *
 * @example await putWithRetry(blobs, { cid, bytes }, () => stopping);
 */
export async function putWithRetry(
  blobs: Pick<BlobHttp, 'put'>,
  out: { cid: string; bytes: Uint8Array },
  stopping: () => boolean,
): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await blobs.put(out.cid, out.bytes);
      return;
    } catch (err) {
      if (err instanceof PlexusError || i >= 5 || stopping()) throw err;
      await new Promise((r) => setTimeout(r, backoffDelay(i)));
    }
  }
}
