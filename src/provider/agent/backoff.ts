/**
 * Reconnect delay with exponential growth and full jitter (AWS architecture blog, "Exponential
 * Backoff and Jitter"): a fleet of providers dropped at once does not reconnect in lockstep.
 *
 * @example await sleep(backoffDelay(attempt)); // attempt 0, 1, 2, …
 */
export function backoffDelay(
  attempt: number,
  opts: { baseMs?: number; maxMs?: number; random?: () => number } = {},
): number {
  const base = opts.baseMs ?? 250;
  const max = opts.maxMs ?? 30_000;
  const cap = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.floor((opts.random ?? Math.random)() * cap);
}
