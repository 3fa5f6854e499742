import type { z } from 'zod';
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { coordinatorUrls } from '../protocol/coordinatorUrls.ts';

/** Coordinator answers the CLI reads are small; anything bigger is refused unread. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const TIMEOUT_MS = 15_000;

/**
 * GETs `path` from a coordinator and validates the JSON against `schema`. An error response keeps
 * the coordinator's `PLX_…` code (a `PLX_NOT_FOUND` stays one); an unreachable coordinator, a
 * timeout, an oversized or malformed answer are `PLX_UPSTREAM_UNAVAILABLE` naming the URL.
 *
 * @example
 * const chain = await fetchCoordinator('http://127.0.0.1:8080', '/v1/chain', chainInfoSchema);
 */
export async function fetchCoordinator<S extends z.ZodType>(
  baseUrl: string,
  path: string,
  schema: S,
): Promise<z.infer<S>> {
  // Replicas (`URL1,URL2`): the first that answers.
  const bases = coordinatorUrls(baseUrl);
  let url = '';
  let res: Response | undefined;
  for (const [i, base] of bases.entries()) {
    url = `${base}${path}`;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
      break;
    } catch (cause) {
      if (i < bases.length - 1) continue;
      // undici says only "fetch failed"; the OS error (ECONNREFUSED, ENOTFOUND…) is its cause.
      const os = (cause as { cause?: { code?: string; message?: string } }).cause;
      throw new PlexusError(
        'PLX_UPSTREAM_UNAVAILABLE',
        `cannot reach the coordinator at ${url}: ${os?.code ?? os?.message ?? String(cause)}`,
        { details: { url }, cause },
      );
    }
  }
  if (!res) throw new PlexusError('PLX_UPSTREAM_UNAVAILABLE', `cannot reach the coordinator at ${url}`);
  if (!res.ok) throw await errorFromResponse(res);
  const text = await res.text();
  if (text.length > MAX_RESPONSE_BYTES)
    throw new PlexusError(
      'PLX_UPSTREAM_UNAVAILABLE',
      `${url} answered more than ${MAX_RESPONSE_BYTES} bytes`,
    );
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new PlexusError('PLX_UPSTREAM_UNAVAILABLE', `${url} did not answer JSON`, { cause });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new PlexusError(
      'PLX_UPSTREAM_UNAVAILABLE',
      `${url} answered an unexpected shape: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}
