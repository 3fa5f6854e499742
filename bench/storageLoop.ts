/**
 * What coding a put costs the coordinator's event loop (issue 19, docs/storage.md "Limits and
 * abuse"): the longest gap between ticks of a 1 ms timer while an object is coded, in-process
 * (`encodeObject` on the event loop, as before) and in the erasure thread (as now), same object,
 * same run. Part of `npm run bench -- storage`.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_ERASURE, encodeObject } from '../src/storage/erasure.ts';
import { createErasureThread } from '../src/storage/erasureThread.ts';

/** Runs `work` while a 1 ms timer ticks; returns the longest gap between ticks and the work's time. */
async function stall(work: () => Promise<unknown> | unknown): Promise<{ stallMs: number; ms: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    worst = Math.max(worst, t - last);
    last = t;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  const started = performance.now();
  last = started;
  worst = 0;
  await work();
  const ms = performance.now() - started;
  // The gap that ends at the first tick after the work.
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return { stallMs: worst, ms };
}

/**
 * @example const { inlineStallMs, threadStallMs } = await putLoopStall(8 << 20);
 */
export async function putLoopStall(objectBytes: number) {
  const params = { ...DEFAULT_ERASURE, segmentBytes: DEFAULT_ERASURE.segmentBytes };
  const object = new Uint8Array(randomBytes(objectBytes));
  const coder = createErasureThread();
  try {
    await coder.root(new Uint8Array(1024), 1024); // the thread started before measuring
    const inline = await stall(() => encodeObject(object, params));
    const thread = await stall(() => coder.encode(object, params));
    return {
      objectMiB: objectBytes / 2 ** 20,
      inlineStallMs: inline.stallMs,
      inlineMs: inline.ms,
      threadStallMs: thread.stallMs,
      threadMs: thread.ms,
    };
  } finally {
    await coder.close();
  }
}
