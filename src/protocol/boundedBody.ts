/**
 * Reading a response body with a byte limit (docs/validators.md, "Bounded reads"). `fetch`'s
 * `arrayBuffer()`/`json()`/`text()` read whatever a server sends; a server that streams without end
 * (a rogue URL listed as a coordinator replica, a chunked response with no `content-length`) would
 * fill the reader's memory. Here a declared `content-length` over the limit is refused before any
 * byte is read, and the bytes are counted as they arrive: the transfer is cancelled as soon as the
 * count passes the limit.
 */
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * Throws PLX_RESPONSE_TOO_LARGE (body cancelled) when `res` declares more than `limit` bytes.
 *
 * @example
 * await refuseDeclaredOver(res, 1 << 20, url);
 */
export async function refuseDeclaredOver(res: Response, limit: number, url: string): Promise<void> {
  const header = res.headers.get('content-length');
  const declared = header === null ? Number.NaN : Number(header);
  if (!(declared > limit)) return;
  await res.body?.cancel().catch(() => {});
  throw new PlexusError(
    'PLX_RESPONSE_TOO_LARGE',
    `${url}: declares ${declared} bytes, over the limit ${limit}`,
    {
      details: { url, limit, declared },
    },
  );
}

/**
 * Streams `res`'s body into chunks, calling `onChunk` per chunk with the running total (from
 * `already`, bytes read before, e.g. by an earlier ranged attempt), and cancels it with
 * PLX_RESPONSE_TOO_LARGE once the total passes `limit`.
 *
 * @example
 * const parts: Buffer[] = [];
 * await streamBounded(res, 1 << 20, url, (c) => parts.push(c));
 */
export async function streamBounded(
  res: Response,
  limit: number,
  url: string,
  onChunk: (chunk: Buffer) => void,
  already = 0,
): Promise<void> {
  await refuseDeclaredOver(res, limit - already, url);
  if (!res.body) return;
  let total = already;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new PlexusError('PLX_RESPONSE_TOO_LARGE', `${url}: over ${limit} bytes, cut off`, {
        details: { url, limit, received: total },
      });
    }
    onChunk(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }
}

/**
 * The whole body as bytes, at most `limit` of them (PLX_RESPONSE_TOO_LARGE past it).
 *
 * @example
 * const bytes = await readBounded(res, 512 * 2 ** 20, url);
 */
export async function readBounded(res: Response, limit: number, url: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  await streamBounded(res, limit, url, (c) => parts.push(c));
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * The body parsed as JSON, at most `limit` bytes of it.
 *
 * @example
 * const claim = await readJsonBounded<EpochClaim>(res, MAX_CLAIM_BYTES, url);
 */
export async function readJsonBounded<T>(res: Response, limit: number, url: string): Promise<T> {
  return JSON.parse(Buffer.from(await readBounded(res, limit, url)).toString('utf8')) as T;
}
