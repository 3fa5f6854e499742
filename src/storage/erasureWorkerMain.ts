/**
 * The erasure-coding thread (erasureThread.ts): runs one coding job per message and posts
 * `{ id, result }` (its buffers transferred, not copied), or `{ id, error, code }` when it threw.
 */
import { parentPort } from 'node:worker_threads';
import { PlexusError } from '../errors/PlexusError.ts';
import { type ErasureJob, runErasureJob } from './erasureJobs.ts';

parentPort!.on('message', (job: ErasureJob & { id: number }) => {
  try {
    const { result, transfer } = runErasureJob(job);
    parentPort!.postMessage({ id: job.id, result }, transfer);
  } catch (err) {
    parentPort!.postMessage({
      id: job.id,
      error: err instanceof Error ? err.message : String(err),
      ...(err instanceof PlexusError ? { code: err.code, details: err.details } : {}),
    });
  }
});
