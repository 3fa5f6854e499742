/**
 * Collusion-aware assignment (docs/verification.md "Kinship"): what the coordinator can tell about
 * providers that may be one operator. Two providers are **network kin** when their sessions come
 * from the same /24 (IPv4) or /48 (IPv6) of a public address, and **burst kin** when both first
 * connected within `BURST_WINDOW_MS` of each other. A task's later executions (replicas, audits,
 * tie-breakers) never go to a network kin of a provider already executing it, and go to a burst
 * kin only when nobody else can take the slot (a whole devnet starts in one burst).
 * Loopback, private and link-local addresses say nothing (a devnet, a test) and make no kin.
 */
import type { WorkState } from './workState.ts';

/** Providers first seen within this window of each other are one registration burst. */
export const BURST_WINDOW_MS = 10 * 60_000;

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
  s.identities.set(address.toLowerCase(), {
    prefix: networkPrefix(who.remoteAddress),
    firstSeen: who.firstSeen,
  });
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
): { network: Set<string>; burst: Set<string> } {
  const network = new Set<string>();
  const burst = new Set<string>();
  if (involved.length === 0) return { network, burst };
  const ids = involved.map((a) => s.identities.get(a.toLowerCase())).filter((x) => x !== undefined);
  if (ids.length === 0) return { network, burst };
  for (const a of s.links.keys()) {
    const me = s.identities.get(a);
    if (!me || involved.includes(a)) continue;
    for (const other of ids) {
      if (me.prefix !== null && me.prefix === other.prefix) network.add(a);
      if (Math.abs(me.firstSeen - other.firstSeen) <= BURST_WINDOW_MS) burst.add(a);
    }
  }
  return { network, burst };
}
