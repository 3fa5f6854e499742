/**
 * Requests to one network's coordinator replicas (docs/scaling.md, "Failover"): each request goes
 * to the replica that answered last and, when that one cannot be reached (or a balancer in front
 * of it answers 502/503/504), to the next ones in turn. A network that moved off its first replica
 * (the primary) tries it again after a cool-down and returns to it once it answers. Any role may
 * use it: it depends on nothing but `fetch`.
 */
import { coordinatorUrls } from './coordinatorUrls.ts';

/**
 * Fetches over a list of replicas.
 *
 * @example
 * const replicas = replicaFetch('http://a:8080,http://b:8080');
 * const res = await replicas.fetch('/v1/epochs');
 * replicas.url(); // the replica that answered
 */
export type ReplicaFetch = {
  /**
   * `path` on the replica in use, then on the next ones; the first answer that is not a gateway
   * error (the last replica's answer whatever it is). Throws the last failure when none answered.
   * `init` is called per try, so a body or a timeout signal is fresh each time.
   */
  fetch(path: string, init?: () => RequestInit): Promise<Response>;
  /** The base URL of the replica in use (the last that answered; the first before any answer). */
  url(): string;
  /** Every replica's base URL, in the order given. */
  readonly urls: readonly string[];
  /**
   * Stops using replica `url` for `forMs` (default {@link DISTRUST_MS}): it answers, but with what
   * its network did not sign (docs/validators.md, "Whose claim"). Until then requests skip it (it is
   * tried only when no other replica answers) and it is not returned to as the primary. Moves off
   * it when it is in use. False (nothing changes) when no other replica is left to use.
   */
  distrust(url: string, forMs?: number): boolean;
};

/** Answers of a balancer with no live backend: worth trying the next replica. */
const GATEWAY = new Set([502, 503, 504]);

/** How long a network stays on a later replica before its first replica is tried again. */
export const RETURN_TO_PRIMARY_MS = 30_000;

/** How long a replica that served a claim its network did not sign is left out. */
export const DISTRUST_MS = 600_000;

/**
 * Builds a {@link ReplicaFetch} over `list` (a comma-separated string or a list; see
 * `coordinatorUrls`). After a move away from the first replica (the primary), the first request
 * once `returnAfterMs` have passed tries the primary first again: when it answers, it is in use
 * again; when it still does not, the request goes on to the replica in use and the cool-down
 * starts over (one failed try per cool-down, not per request).
 *
 * @example
 * const r = replicaFetch(['http://a:8080', 'http://b:8080']);
 * const epochs = await (await r.fetch('/v1/epochs', () => ({ signal: AbortSignal.timeout(30_000) }))).json();
 */
export function replicaFetch(
  list: string | readonly string[],
  f: typeof fetch = fetch,
  opts: { returnAfterMs?: number; now?: () => number } = {},
): ReplicaFetch {
  const urls = coordinatorUrls(list);
  const returnAfterMs = opts.returnAfterMs ?? RETURN_TO_PRIMARY_MS;
  const now = opts.now ?? Date.now;
  let current = 0;
  /** When the primary was last left or last tried in vain (meaningful while `current` is not 0). */
  let awaySince = 0;
  /** Until when each replica is left out (by index; absent: trusted). */
  const distrusted = new Map<number, number>();
  const isDistrusted = (i: number) => (distrusted.get(i) ?? 0) > now();
  return {
    urls,
    url: () => urls[current]!,
    distrust(url, forMs = DISTRUST_MS) {
      const at = urls.indexOf(url.replace(/\/+$/, ''));
      if (at < 0) return false;
      const next = urls.map((_u, i) => (at + i) % urls.length).find((i) => i !== at && !isDistrusted(i));
      if (next === undefined) return false;
      distrusted.set(at, now() + forMs);
      if (current === at) {
        if (current === 0) awaySince = now();
        current = next;
      }
      return true;
    },
    async fetch(path, init = () => ({})) {
      let failure: unknown;
      // The replica in use, then the next ones in turn; the primary first once its cool-down is
      // over; a distrusted replica last (only when no other answers).
      const order = urls.map((_u, i) => (current + i) % urls.length);
      const retryPrimary = current !== 0 && now() - awaySince >= returnAfterMs && !isDistrusted(0);
      if (retryPrimary) order.unshift(...order.splice(order.indexOf(0), 1));
      order.sort((a, b) => Number(isDistrusted(a)) - Number(isDistrusted(b)));
      for (const [i, at] of order.entries()) {
        const req = init();
        try {
          const res = await f(`${urls[at]}${path}`, req);
          if (i < order.length - 1 && GATEWAY.has(res.status)) {
            failure = new Error(`${urls[at]}${path}: HTTP ${res.status}`);
            await res.body?.cancel();
            if (at === 0 && retryPrimary) awaySince = now();
            continue;
          }
          if (at !== 0 && current === 0) awaySince = now();
          current = at;
          return res;
        } catch (err) {
          // A caller's own abort is not the replica's fault; a timeout of this try is.
          if (req.signal?.aborted && (req.signal.reason as Error | undefined)?.name === 'AbortError')
            throw err;
          failure = err;
          if (at === 0 && retryPrimary) awaySince = now();
        }
      }
      throw failure;
    },
  };
}
