/**
 * Placement of an object's pieces (issue 19): every piece of an object on a different provider,
 * spread over as many regions as the fleet allows, emptiest offers first.
 */

/** A provider that can take a piece. */
export type PlacementCandidate = { address: string; region: string; freeBytes: number };

/**
 * Chooses `count` distinct holders among `candidates` that have `pieceBytes` free and are not in
 * `exclude`: round-robin over regions (regions already used by `usedRegions` last), the provider
 * with the most free space first within a region. Returns fewer when fewer qualify.
 *
 * @example choosePlacement(online, 6, 1 << 20) // 6 addresses, regions spread
 */
export function choosePlacement(
  candidates: readonly PlacementCandidate[],
  count: number,
  pieceBytes: number,
  exclude: ReadonlySet<string> = new Set(),
  usedRegions: ReadonlyMap<string, number> = new Map(),
): string[] {
  const byRegion = new Map<string, PlacementCandidate[]>();
  for (const c of candidates) {
    if (exclude.has(c.address) || c.freeBytes < pieceBytes) continue;
    const list = byRegion.get(c.region) ?? [];
    list.push(c);
    byRegion.set(c.region, list);
  }
  for (const list of byRegion.values())
    list.sort((a, b) => b.freeBytes - a.freeBytes || (a.address < b.address ? -1 : 1));
  const used = new Map(usedRegions);
  const out: string[] = [];
  while (out.length < count) {
    // The region with the fewest pieces so far that still has a candidate.
    let best: string | undefined;
    for (const [region, list] of byRegion) {
      if (list.length === 0) continue;
      if (best === undefined || (used.get(region) ?? 0) < (used.get(best) ?? 0)) best = region;
    }
    if (best === undefined) break;
    out.push(byRegion.get(best)!.shift()!.address);
    used.set(best, (used.get(best) ?? 0) + 1);
  }
  return out;
}

/**
 * The repair threshold for K + M pieces: repair once ⌈3M/8⌉ pieces are lost (at least one), which
 * is the default 26 of 32 for K = M = 16 (docs/storage.md) and "at the first loss" for small M.
 *
 * @example repairThreshold(16, 16) // 26; repairThreshold(4, 2) // 5
 */
export function repairThreshold(dataPieces: number, parityPieces: number): number {
  return dataPieces + parityPieces - Math.max(1, Math.ceil((3 * parityPieces) / 8));
}
