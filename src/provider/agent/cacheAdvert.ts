/**
 * What the agent advertises of its blob cache to the coordinator, within the coordinator's bound
 * (MAX_ADVERTISED_CACHE: a `cache` message over it is refused, a strike; review s12 F1).
 */
import { MAX_ADVERTISED_CACHE } from '../../protocol/constants.ts';

/**
 * Most cids one `cache` message or the auth carries: 2,048 cids are about 137 KiB of JSON, so the
 * frame stays under the coordinator's 256 KiB with room for the rest of an auth (1,024 in-flight
 * ids, the hardware claim). The auth advertises this many; `cache` messages add the rest.
 */
export const CACHE_IDS_PER_MESSAGE = 2048;

/**
 * The cids of a `cache` message that fit: `added` cut so that the advertised set, `advertised`
 * cids now less the `removed` ones, stays within the bound (those cut stay unadvertised).
 *
 * @example
 * const added = addsWithinBound(newCids, goneCids, advertised.size);
 */
export function addsWithinBound(added: string[], removed: string[], advertised: number): string[] {
  return added.slice(0, Math.max(0, MAX_ADVERTISED_CACHE - (advertised - removed.length)));
}

/**
 * The next `cache` message: of the cids that entered or left the cache (`changed`, in order), at
 * most CACHE_IDS_PER_MESSAGE, adds cut to the bound (those cut stay unadvertised). `handled` are
 * the changed cids it settles (the rest waits for the next message).
 *
 * @example
 * const { added, removed, handled } = cacheAdvert(cacheChanged, (cid) => cache.has(cid), advertised);
 */
export function cacheAdvert(
  changed: Iterable<string>,
  has: (cid: string) => boolean,
  advertised: ReadonlySet<string>,
): { added: string[]; removed: string[]; handled: string[] } {
  const added: string[] = [];
  const removed: string[] = [];
  const handled: string[] = [];
  for (const cid of changed) {
    if (added.length + removed.length >= CACHE_IDS_PER_MESSAGE) break;
    handled.push(cid);
    const present = has(cid);
    if (present && !advertised.has(cid)) added.push(cid);
    else if (!present && advertised.has(cid)) removed.push(cid);
  }
  return { added: addsWithinBound(added, removed, advertised.size), removed, handled };
}

/**
 * The cids advertised at authentication: the most recently used that fit one frame
 * (CACHE_IDS_PER_MESSAGE; `list` is least recently used first, as the blob cache lists it).
 *
 * @example
 * advertised = new Set(advertisedAtAuth(cache.list()));
 */
export function advertisedAtAuth(list: string[]): string[] {
  return list.length > CACHE_IDS_PER_MESSAGE ? list.slice(-CACHE_IDS_PER_MESSAGE) : list;
}
