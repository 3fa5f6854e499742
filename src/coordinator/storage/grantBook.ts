/**
 * The storage network's live grants (the one-use tokens behind piece requests, see
 * storageNetworkTypes.ts), bounded (docs/storage.md, "Limits and abuse"): expired grants are swept
 * at most every `sweepEveryMs` as new ones are made, a client's read grants are capped per reader
 * (the oldest dropped), and an order's grant is dropped when the order ends. Before, an owner
 * looping signed `read` requests kept every grant (with every piece root of the object) forever.
 */
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Grant } from './storageNetworkTypes.ts';

/** Live read grants one reader may hold at once (a newer one drops the oldest). */
export const MAX_READ_GRANTS_PER_READER = 8;

/**
 * @example
 * const grants = createGrantBook({ now: Date.now });
 * grants.setRead(token, { kind: 'read', reader, objectId, roots, expiresAt });
 */
export function createGrantBook(opts: { now: () => number; perReader?: number; sweepEveryMs?: number }) {
  const perReader = opts.perReader ?? MAX_READ_GRANTS_PER_READER;
  const sweepEveryMs = opts.sweepEveryMs ?? 10_000;
  const grants = new Map<string, Grant>();
  /** A reader's client read grants, oldest first (may name tokens already gone). */
  const byReader = new Map<string, string[]>();
  let lastSweep = opts.now();

  /** Drops expired grants (not relays: those end with their reader's request). */
  function sweep(): void {
    const t = opts.now();
    lastSweep = t;
    for (const [k, g] of grants) if (g.kind !== 'relay' && g.expiresAt < t) grants.delete(k);
    for (const [reader, tokens] of byReader) {
      const live = tokens.filter((k) => grants.has(k));
      if (live.length === 0) byReader.delete(reader);
      else byReader.set(reader, live);
    }
  }

  function set(token: string, g: Grant): void {
    if (opts.now() - lastSweep >= sweepEveryMs) sweep();
    grants.set(token, g);
  }

  return {
    /** A grant for an order or a relay (bounded by the orders themselves). */
    set,
    /** A client's read grant: at most `perReader` live per reader, the oldest dropped. */
    setRead(token: string, g: Extract<Grant, { kind: 'read' }>): void {
      set(token, g);
      const tokens = (byReader.get(g.reader) ?? []).filter((k) => grants.has(k));
      tokens.push(token);
      while (tokens.length > perReader) grants.delete(tokens.shift()!);
      byReader.set(g.reader, tokens);
    },
    /** The live grant of `token`, or PLX_STORAGE_TOKEN_INVALID (an expired one is dropped). */
    live(token: string | undefined): Grant {
      const g = token === undefined ? undefined : grants.get(token);
      if (!g || g.expiresAt < opts.now()) {
        if (token !== undefined) grants.delete(token);
        throw new PlexusError('PLX_STORAGE_TOKEN_INVALID', 'unknown or expired storage token');
      }
      return g;
    },
    delete: (token: string) => grants.delete(token),
    values: () => grants.values(),
    sweep,
    /** Grants held now (tests, and the memory they stand for). */
    size: () => grants.size,
  };
}
