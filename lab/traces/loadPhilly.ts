/**
 * Loader for the Microsoft Philly deep-learning trace as prepared by Pollux/AdaptDL
 * (`../shared/data/traces/philly_pollux.csv`).
 */
import { requireSharedData } from './dataDir.ts';
import { readCsv } from './readCsv.ts';

/** Relative path of the Philly trace under the shared data folder. */
export const PHILLY = 'traces/philly_pollux.csv';

/** One Philly job: submit time, measured run time and GPU count. */
export type PhillyJob = {
  /** Submission time, Unix seconds (the trace's wall clock is read as UTC). */
  submit: number;
  /** Measured run time in seconds. */
  duration: number;
  gpus: number;
  /** Virtual cluster id (a team's quota in Philly). */
  cluster: string;
};

/**
 * Philly jobs sorted by submission time.
 *
 * @example
 * const jobs = loadPhilly(); // 82,247 jobs, Sep–Dec 2017
 */
export function loadPhilly(limit?: number): PhillyJob[] {
  const jobs = readCsv(requireSharedData(PHILLY), limit).map((r) => ({
    submit: Date.parse(`${(r.timestamp ?? '').replace(' ', 'T')}Z`) / 1000,
    duration: Number(r.duration),
    gpus: Number(r.num_gpus),
    cluster: r.cluster ?? '',
  }));
  return jobs.filter((j) => Number.isFinite(j.submit) && j.duration >= 0).sort((a, b) => a.submit - b.submit);
}
