/**
 * Collusion-aware assignment (docs/verification.md "Kinship"): what the coordinator can tell about
 * providers that may be one operator. Two providers are **network kin** when their sessions come
 * from the same /24 (IPv4) or /48 (IPv6) of a public address, and **burst kin** when both first
 * connected within `BURST_WINDOW_MS` of each other. A task's later executions (replicas, audits,
 * tie-breakers) never go to a network kin of a provider already executing it, and go to a burst
 * kin only when nobody else can take the slot (a whole devnet starts in one burst).
 * Loopback, private and link-local addresses say nothing (a devnet, a test) and make no kin.
 * **Funder kin** (with a chain): both providers' funding chains (who sent each its first PLX,
 * funders.ts, followed up to `MAX_FUNDER_HOPS` accounts back: A funds X funds P1 and A funds P2
 * makes P1 and P2 kin through A) share an account, or one provider is on the other's chain (its
 * owner). Funder kin never execute one task together. A funder of more than `MAX_FUNDED_FAMILY`
 * distinct registered providers (a treasury, a faucet, an exchange) says nothing; identities that
 * connected but are not registered providers do not count toward that. While a provider's lookup
 * is pending its funders are unknown, and two providers with pending lookups are treated as kin
 * (never replicas of one task) until at least one lookup answers.
 */
import type { WorkState } from './workState.ts';

/** What the coordinator knows about where a provider comes from (see the module comment). */
export type Identity = {
  prefix: string | null;
  firstSeen: number;
  /** Its direct funder: undefined while the lookup is pending, null when nobody tells anything. */
  funder?: string | null;
  /** Its funding chain, nearest first (set with `funder`). */
  funders?: readonly string[];
  /** Whether it is a registered provider (counts toward a funder's family size). */
  registered?: boolean;
};

/** How many accounts back a provider's funding chain is followed. */
export const MAX_FUNDER_HOPS = 3;

/** Providers first seen within this window of each other are one registration burst. */
export const BURST_WINDOW_MS = 10 * 60_000;

/** A funder of more known providers than this is a hub (treasury, faucet, exchange): no kin. */
export const MAX_FUNDED_FAMILY = 8;

/**
 * The network prefix of a public address (`a.b.c/24`, `x:y:z::/48`), or null when the address
 * says nothing about the operator (absent, loopback, private, link-local, unique-local).
 *
 * @example
 * networkPrefix('203.0.113.7'); // '203.0.113/24'
 * networkPrefix('127.0.0.1'); // null
 */
export function networkPrefix(ip: string | undefined): string | null {
  if (!ip) return null;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/i.exec(ip);
  if (v4) {
    const [a, b, c] = [Number(v4[1]), Number(v4[2]), Number(v4[3])];
    if (a === 127 || a === 10 || a === 0 || (a === 169 && b === 254)) return null;
    if ((a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) {
      return null;
    }
    return `${a}.${b}.${c}/24`;
  }
  if (!ip.includes(':')) return null;
  const lower = ip.toLowerCase();
  if (lower === '::1' || lower === '::' || /^fe[89ab]/.test(lower) || /^f[cd]/.test(lower)) return null;
  const [head = '', tail] = lower.split('::');
  const groups = head.split(':').filter((g) => g.length > 0);
  // With '::' the missing groups are zeros; the /48 is the first three groups.
  while (tail !== undefined && groups.length < 3) groups.push('0');
  return `${groups
    .slice(0, 3)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/48`;
}

/**
 * Remembers where a provider's session comes from and when it was first seen.
 *
 * @example
 * recordIdentity(state, address, { remoteAddress: req.ip, firstSeen });
 */
export function recordIdentity(
  s: WorkState,
  address: string,
  who: { remoteAddress?: string | undefined; firstSeen: number },
): void {
  rememberIdentity(s, address, networkPrefix(who.remoteAddress), who.firstSeen);
}

/**
 * Remembers a provider's network prefix and first sighting (from a session, or from the store for a
 * provider connected to another replica) and starts its funder lookup once.
 *
 * @example
 * rememberIdentity(state, address, '203.0.113/24', firstSeen);
 */
export function rememberIdentity(
  s: WorkState,
  address: string,
  prefix: string | null,
  firstSeen: number,
): void {
  const a = address.toLowerCase();
  const prev = s.identities.get(a);
  const id: Identity = {
    ...(prev?.funder !== undefined ? prev : {}),
    prefix,
    firstSeen,
  };
  s.identities.set(a, id);
  // Who funded its stake, looked up once (chain reads; the answers never change).
  if (id.funder === undefined && s.funderOf) {
    const lookup = s.funderOf;
    Promise.all([fundingChain(lookup, a), lookup.isRegistered ? lookup.isRegistered(a) : true]).then(
      ([funders, registered]) => {
        id.funders = funders;
        id.registered = registered;
        id.funder = funders[0] ?? null; // last: a defined funder marks the lookup done
      },
      () => undefined, // unknown for now: looked up again on its next connection
    );
  }
}

/**
 * The funding chain of `account`, nearest first: its funder, that account's funder, … up to
 * `MAX_FUNDER_HOPS` accounts, stopping at an account nobody that tells anything funded.
 *
 * @example
 * await fundingChain(funderOf, p1); // ['0x…x', '0x…a']
 */
export async function fundingChain(
  lookup: (account: string) => Promise<string | null>,
  account: string,
): Promise<string[]> {
  const chain: string[] = [];
  const seen = new Set([account.toLowerCase()]);
  let cur = account;
  for (let hop = 0; hop < MAX_FUNDER_HOPS; hop++) {
    const f = (await lookup(cur))?.toLowerCase();
    if (!f || seen.has(f)) break;
    chain.push(f);
    seen.add(f);
    cur = f;
  }
  return chain;
}

/** How many distinct registered providers each account is on the funding chain of. */
function familySizes(s: WorkState): Map<string, number> {
  const n = new Map<string, number>();
  for (const id of s.identities.values()) {
    if (id.registered === false) continue;
    for (const f of id.funders ?? (id.funder ? [id.funder] : [])) n.set(f, (n.get(f) ?? 0) + 1);
  }
  return n;
}

/**
 * The connected providers that are kin of any of `involved`: `network` (must not take another
 * execution of the task) and `burst` (only if nobody else can).
 *
 * @example
 * const { network, burst } = kinOf(state, ['0xabc…']);
 */
export function kinOf(
  s: WorkState,
  involved: readonly string[],
): { network: Set<string>; burst: Set<string>; funder: Set<string> } {
  const network = new Set<string>();
  const burst = new Set<string>();
  const funder = new Set<string>();
  if (involved.length === 0) return { network, burst, funder };
  const ids = involved
    .map((a) => ({ a: a.toLowerCase(), id: s.identities.get(a.toLowerCase()) }))
    .filter((x): x is { a: string; id: Identity } => x.id !== undefined);
  if (ids.length === 0) return { network, burst, funder };
  const families = ids.some((x) => chainOf(x.id).length > 0) ? familySizes(s) : undefined;
  for (const a of s.links.keys()) {
    const me = s.identities.get(a);
    if (!me || involved.includes(a)) continue;
    for (const { a: b, id: other } of ids) {
      if (me.prefix !== null && me.prefix === other.prefix) network.add(a);
      if (Math.abs(me.firstSeen - other.firstSeen) <= BURST_WINDOW_MS) burst.add(a);
      if (funderKin(s, families, a, me, b, other)) funder.add(a);
    }
  }
  return { network, burst, funder };
}

const chainOf = (id: Identity) => id.funders ?? (id.funder ? [id.funder] : []);

/** Whether two identities share a funding chain (see the module comment); pending and pending are kin. */
function funderKin(
  s: WorkState,
  families: Map<string, number> | undefined,
  a: string,
  me: Identity,
  b: string,
  other: Identity,
): boolean {
  const tells = (f: string) => (families?.get(f) ?? 0) <= MAX_FUNDED_FAMILY;
  // A lookup still pending (with a chain to ask): its funders are unknown, not "none".
  const pending = (id: Identity) => s.funderOf !== undefined && id.funder === undefined;
  const mine = chainOf(me);
  const theirs = chainOf(other);
  return (
    mine.includes(b) ||
    theirs.includes(a.toLowerCase()) ||
    mine.some((f) => tells(f) && theirs.includes(f)) ||
    (pending(me) && pending(other))
  );
}

/**
 * What the coordinator knows now of `addresses`' identities, as a review check's basis records it
 * (`ReviewCheckBasis`: network prefix and funding chain per address, and which funders on those
 * chains are hubs), so a validator re-derives `checkerKinship` (work/checkerIndependence.ts).
 * Addresses with no identity are left out (the rule then says `unknown`).
 *
 * @example
 * const { identities, hubs } = identityBasis(state, [checker, ...parties]);
 */
export function identityBasis(
  s: WorkState,
  addresses: readonly string[],
): { identities: Record<string, { prefix: string | null; funders: string[] }>; hubs: string[] } {
  const identities: Record<string, { prefix: string | null; funders: string[] }> = {};
  const funders = new Set<string>();
  for (const a of addresses) {
    const id = s.identities.get(a.toLowerCase());
    if (!id) continue;
    const chain = [...chainOf(id)];
    identities[a.toLowerCase()] = { prefix: id.prefix, funders: chain };
    for (const f of chain) funders.add(f);
  }
  const families = funders.size > 0 ? familySizes(s) : new Map<string, number>();
  const hubs = [...funders].filter((f) => (families.get(f) ?? 0) > MAX_FUNDED_FAMILY).sort();
  return { identities, hubs };
}

/**
 * Whether `checker` is network or funder kin of any of `parties`, for a check that can overturn a
 * verdict: `unknown` (fail closed) when an identity is missing from `s.identities` or a funder
 * lookup of either side is still pending. Unlike `kinOf` it needs no party to be connected here.
 *
 * @example
 * if (checkerKinship(state, checker, parties) !== 'clear') return undefined;
 */
export function checkerKinship(
  s: WorkState,
  checker: string,
  parties: readonly string[],
): 'kin' | 'unknown' | 'clear' {
  const c = checker.toLowerCase();
  const me = s.identities.get(c);
  if (!me) return 'unknown';
  const pending = (id: Identity) => s.funderOf !== undefined && id.funder === undefined;
  if (pending(me)) return 'unknown';
  const families = familySizes(s);
  for (const p of parties) {
    const b = p.toLowerCase();
    if (b === c) return 'kin';
    const other = s.identities.get(b);
    if (!other || pending(other)) return 'unknown';
    if (me.prefix !== null && me.prefix === other.prefix) return 'kin';
    if (funderKin(s, families, c, me, b, other)) return 'kin';
  }
  return 'clear';
}
