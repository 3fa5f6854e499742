/**
 * Requests to one network's coordinator replicas (docs/scaling.md, "Failover"): each request goes
 * to the replica that answered last and, when that one cannot be reached (or a balancer in front
 * of it answers 502/503/504), to the next ones in turn. Any role may use it: it depends on nothing
 * but `fetch`.
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
};

/** Answers of a balancer with no live backend: worth trying the next replica. */
const GATEWAY = new Set([502, 503, 504]);

/**
 * Builds a {@link ReplicaFetch} over `list` (a comma-separated string or a list; see
 * `coordinatorUrls`).
 *
 * @example
 * const r = replicaFetch(['http://a:8080', 'http://b:8080']);
 * const epochs = await (await r.fetch('/v1/epochs', () => ({ signal: AbortSignal.timeout(30_000) }))).json();
 */
export function replicaFetch(list: string | readonly string[], f: typeof fetch = fetch): ReplicaFetch {
  const urls = coordinatorUrls(list);
  let current = 0;
  return {
    urls,
    url: () => urls[current]!,
    async fetch(path, init = () => ({})) {
      let failure: unknown;
      for (let i = 0; i < urls.length; i++) {
        const at = (current + i) % urls.length;
        const req = init();
        try {
          const res = await f(`${urls[at]}${path}`, req);
          if (i < urls.length - 1 && GATEWAY.has(res.status)) {
            failure = new Error(`${urls[at]}${path}: HTTP ${res.status}`);
            await res.body?.cancel();
            continue;
          }
          current = at;
          return res;
        } catch (err) {
          // A caller's own abort is not the replica's fault; a timeout of this try is.
          if (req.signal?.aborted && (req.signal.reason as Error | undefined)?.name === 'AbortError')
            throw err;
          failure = err;
        }
      }
      throw failure;
    },
  };
}
