/**
 * Placement of an object's pieces (issue 19): every piece of an object on a different provider,
 * spread over as many regions as the fleet allows, emptiest offers first.
 */

/**
 * A provider that can take a piece. `prefix`: the network its session comes from (`a.b.c/24`,
 * `x:y:z::/48`; null or absent for loopback and private addresses, which say nothing).
 */
export type PlacementCandidate = {
  address: string;
  region: string;
  freeBytes: number;
  prefix?: string | null | undefined;
};

/**
 * Chooses `count` distinct holders among `candidates` that have `pieceBytes` free and are not in
 * `exclude`: round-robin over regions (regions already used by `usedRegions` last), the provider
 * with the most free space first within a region. Returns fewer when fewer qualify.
 *
 * Network prefixes come first: a candidate whose prefix is not yet used by a chosen holder or by
 * a connected one in `exclude` (the object's holders, for a repair) is taken before any whose
 * prefix is, whatever the regions. A region and free space are a provider's own claims; its
 * prefix is where its session comes from, so identities on one network get one piece of an
 * object while providers on other networks can take the rest (docs/storage.md "Limits and abuse").
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
  const taken = new Set<string>();
  for (const c of candidates) if (exclude.has(c.address) && c.prefix) taken.add(c.prefix);
  const fresh = (c: PlacementCandidate) => !c.prefix || !taken.has(c.prefix);
  const out: string[] = [];
  while (out.length < count) {
    // A region with a candidate on an unused network first; then the fewest pieces so far.
    let best: string | undefined;
    let bestFresh = false;
    for (const [region, list] of byRegion) {
      if (list.length === 0) continue;
      const f = list.some(fresh);
      const fewer = (used.get(region) ?? 0) < (used.get(best ?? '') ?? 0);
      if (best === undefined || (f && !bestFresh) || (f === bestFresh && fewer)) {
        best = region;
        bestFresh = f;
      }
    }
    if (best === undefined) break;
    const list = byRegion.get(best)!;
    const at = Math.max(0, list.findIndex(fresh));
    const [c] = list.splice(at, 1);
    out.push(c!.address);
    if (c!.prefix) taken.add(c!.prefix);
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

/**
 * One new holder for a piece of one segment (a repair, or a piece re-placed): never a holder of
 * another piece of the same segment (`ofSegment`, which then still loses at most one piece per
 * provider lost), and a provider holding no piece of the object at all (`ofObject`) first.
 * Only a per-object rule would leave an object of several segments unrepairable once every
 * spare provider has taken one repaired piece (a 100 MiB object is 4 segments at K=4 M=2).
 *
 * @example chooseSegmentHolder(online, 8 << 20, holdersOfObject, holdersOfSegment)
 */
export function chooseSegmentHolder(
  candidates: readonly PlacementCandidate[],
  pieceBytes: number,
  ofObject: ReadonlySet<string>,
  ofSegment: ReadonlySet<string>,
): string | undefined {
  return (
    choosePlacement(candidates, 1, pieceBytes, new Set([...ofObject, ...ofSegment]))[0] ??
    choosePlacement(candidates, 1, pieceBytes, ofSegment)[0]
  );
}
