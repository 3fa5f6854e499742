/**
 * Tells the person running the agent whether the coordinator will lease it work, and if not why
 * (issue 22: a provider with no stake authenticated, answered its capability proof, then sat idle
 * with nothing saying so). Reads `GET /v1/providers/:address` (its `eligibility`) a few seconds
 * after each session starts, then every `intervalMs`, and logs when the answer changes: a warning
 * with every reason and its next step, or one line when it becomes eligible. A still-ineligible
 * provider is reminded every `remindEvery` checks.
 */
import { type EligibilityView, providerViewSchema } from '../../protocol/http/providers.ts';

type Log = {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
};

/** What {@link watchEligibility} returns: `sessionStarted` on each welcome, `stop` at shutdown. */
export type EligibilityWatch = {
  sessionStarted(): void;
  /** The last answer read (undefined before the first). */
  last(): EligibilityView | undefined;
  stop(): void;
};

/**
 * The one line the agent logs for an eligibility answer.
 *
 * @example
 * eligibilityLine({ eligible: false, reasons: [{ code: 'not-registered', message: 'not registered on chain: …' }], gpuWork: false });
 * // 'not eligible for work: not registered on chain: …'
 */
export function eligibilityLine(e: EligibilityView): string {
  if (e.eligible) return `eligible for work${e.gpuWork ? ' (GPU work too)' : ''}`;
  return `not eligible for work: ${e.reasons.map((r) => r.message).join('; ')}`;
}

/**
 * Starts watching. Nothing is read until the first `sessionStarted()`.
 *
 * @example
 * const watch = watchEligibility({ base: 'http://127.0.0.1:8080', address, log });
 * watch.sessionStarted(); // on 'welcome'
 */
export function watchEligibility(o: {
  /** The coordinator's base URL, or a function answering the replica in use now. */
  base: string | (() => string);
  address: string;
  log: Log;
  /** First read after a session starts (the coordinator reads the chain at connect). */
  firstDelayMs?: number;
  intervalMs?: number;
  remindEvery?: number;
}): EligibilityWatch {
  const firstDelay = o.firstDelayMs ?? 3000;
  const interval = o.intervalMs ?? 30_000;
  const remindEvery = o.remindEvery ?? 10;
  const baseOf = typeof o.base === 'string' ? () => o.base as string : o.base;
  const urlNow = () => `${baseOf()}/v1/providers/${o.address.toLowerCase()}`;
  let timer: NodeJS.Timeout | undefined;
  let last: EligibilityView | undefined;
  let lastLine = '';
  let sameCount = 0;
  let stopped = false;

  async function check(): Promise<void> {
    let e: EligibilityView;
    const url = urlNow();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) {
        o.log.debug({ status: res.status, url }, 'could not read this provider from the coordinator');
        return;
      }
      const view = providerViewSchema.partial().safeParse(await res.json());
      // A coordinator from before eligibility was served: nothing to say.
      if (!view.success || !view.data.eligibility) return;
      e = view.data.eligibility;
    } catch (err) {
      o.log.debug({ err: String(err), url }, 'could not read this provider from the coordinator');
      return;
    }
    // Right after connecting the chain record may not be read yet: not worth a warning alone.
    const onlyUnread =
      !e.eligible && e.reasons.every((r) => r.code === 'stake-unknown' || r.code === 'offline');
    last = e;
    const line = eligibilityLine(e);
    if (line === lastLine && ++sameCount % remindEvery !== 0) return;
    if (line !== lastLine) sameCount = 0;
    lastLine = line;
    const fields = { reasons: e.reasons.map((r) => r.code), gpuWork: e.gpuWork };
    if (e.eligible) o.log.info(fields, line);
    else if (onlyUnread) o.log.debug(fields, line);
    else o.log.warn(fields, line);
  }

  function schedule(ms: number): void {
    clearTimeout(timer);
    if (stopped) return;
    timer = setTimeout(() => {
      void check().finally(() => schedule(interval));
    }, ms);
    timer.unref();
  }

  return {
    sessionStarted() {
      schedule(firstDelay);
    },
    last: () => last,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
