/**
 * Waits for what the public sees of a provider's record only once an epoch ended (issue 15): its
 * reputation (the epoch's start, src/coordinator/work/publicReputation.ts) and who agreed with a
 * fault (src/coordinator/api/explorerViews.ts `faultView`). Devnet epochs are short.
 */
import type { Page } from 'playwright-core';
import { waitUntil } from './net.ts';

/** A provider's fault history as `GET /v1/providers/:address/history` lists it. */
export type FaultHistory = {
  faults: {
    jobId: string;
    kind: string;
    slashed: string | null;
    evidence: { agreeing: string[]; reasons: string[] };
  }[];
};

/**
 * Reloads `page` until `check` holds (at most `timeoutMs`).
 *
 * @example await reloadUntil(page, 'its record', async () => Number(await dd.textContent()) >= 1);
 */
export async function reloadUntil(
  page: Page,
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 120_000,
): Promise<void> {
  await waitUntil(
    what,
    async () => {
      if (await check()) return true;
      await page.reload();
      return false;
    },
    timeoutMs,
  );
}

/**
 * The provider's fault history once the fault of job `jobId` shows who agreed (its epoch ended).
 *
 * @example const history = await faultHistoryShown(url, cheater, jobId);
 */
export async function faultHistoryShown(url: string, provider: string, jobId: string): Promise<FaultHistory> {
  let history: FaultHistory = { faults: [] };
  await waitUntil(
    `the evidence of ${provider}'s fault on ${jobId}`,
    async () => {
      history = (await (await fetch(`${url}/v1/providers/${provider}/history`)).json()) as FaultHistory;
      return history.faults.some((x) => x.jobId === jobId && x.evidence.agreeing.length > 0);
    },
    120_000,
  );
  return history;
}
