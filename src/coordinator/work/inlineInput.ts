import { INLINE_INPUT_MAX_BYTES } from '../../protocol/constants.ts';
import type { WorkDeps } from './workState.ts';

/**
 * A tiny input's bytes (base64) to send inside its assignment, sparing the provider's download
 * (an HTTP request, its lease check and its reply); undefined for a larger one, or one that cannot
 * be read now (the provider then downloads it, as it would anyway). Real work and canaries both
 * use it, so the two assignments keep one shape (a canary must not be told apart).
 *
 * @example send(s, provider, { type: 'assign', …, ...((b = await inlineInput(d, cid)) ? { inputBytes: b } : {}) });
 */
export async function inlineInput(d: Pick<WorkDeps, 'blobs'>, cid: string): Promise<string | undefined> {
  const n = await d.blobs.size(cid).catch(() => undefined);
  if (n === undefined || n > INLINE_INPUT_MAX_BYTES) return undefined;
  const bytes = await d.blobs.read(cid).catch(() => undefined);
  return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
