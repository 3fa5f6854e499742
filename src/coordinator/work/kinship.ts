/**
 * Collusion-aware assignment (docs/verification.md "Kinship"): what the coordinator can tell about
 * providers that may be one operator. Two providers are **network kin** when their sessions come
 * from the same /24 (IPv4) or /48 (IPv6) of a public address, and **burst kin** when both first
 * connected within `BURST_WINDOW_MS` of each other. A task's later executions (replicas, audits,
 * tie-breakers) never go to a network kin of a provider already executing it, and go to a burst
 * kin only when nobody else can take the slot (a whole devnet starts in one burst).
 * Loopback, private and link-local addresses say nothing (a devnet, a test) and make no kin.
 * **Funder kin** (with a chain): the same account sent both providers the first PLX they
 * received (what their stake came from, funders.ts), or one provider funded the other (its
 * owner). Funder kin never execute one task together. A funder of more than
 * `MAX_FUNDED_FAMILY` known providers (a treasury, a faucet, an exchange) says nothing.
 */
import type { WorkState } from './workState.ts';

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
  const a = address.toLowerCase();
  const known = s.identities.get(a)?.funder;
  const id: { prefix: string | null; firstSeen: number; funder?: string | null } = {
    prefix: networkPrefix(who.remoteAddress),
    firstSeen: who.firstSeen,
    ...(known !== undefined ? { funder: known } : {}),
  };
  s.identities.set(a, id);
  // Who funded its stake, looked up once (a chain read; the answer never changes).
  if (known === undefined && s.funderOf) {
    s.funderOf(a).then(
      (f) => {
        id.funder = f?.toLowerCase() ?? null;
      },
      () => undefined, // unknown for now: looked up again on its next connection
    );
  }
}

/** How many known providers each funder funded (hubs make no kin). */
function familySizes(s: WorkState): Map<string, number> {
  const n = new Map<string, number>();
  for (const id of s.identities.values()) if (id.funder) n.set(id.funder, (n.get(id.funder) ?? 0) + 1);
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
    .filter((x) => x.id !== undefined) as Array<{
    a: string;
    id: { prefix: string | null; firstSeen: number; funder?: string | null };
  }>;
  if (ids.length === 0) return { network, burst, funder };
  const families = ids.some((x) => x.id.funder) ? familySizes(s) : undefined;
  const tells = (f: string | null | undefined): f is string =>
    !!f && (families?.get(f) ?? 0) <= MAX_FUNDED_FAMILY;
  for (const a of s.links.keys()) {
    const me = s.identities.get(a);
    if (!me || involved.includes(a)) continue;
    for (const { a: b, id: other } of ids) {
      if (me.prefix !== null && me.prefix === other.prefix) network.add(a);
      if (Math.abs(me.firstSeen - other.firstSeen) <= BURST_WINDOW_MS) burst.add(a);
      if (
        (tells(me.funder) && me.funder === other.funder) ||
        me.funder === b ||
        other.funder === a.toLowerCase()
      ) {
        funder.add(a);
      }
    }
  }
  return { network, burst, funder };
}
