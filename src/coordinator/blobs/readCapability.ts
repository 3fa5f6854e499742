/**
 * Lease read capabilities (docs/security.md, "Reads"): the coordinator hands a provider, with each
 * assignment, a token that lets it read that task's model and input while it holds the lease, so
 * the agent signs nothing per read and the coordinator recovers no signature per read (an EIP-712
 * signature cost ≈ 4 ms of agent and 2 ms of coordinator CPU per blob; an HMAC costs microseconds).
 *
 * Token: `cap1.<provider>.<assignmentId>.<expiresAtMs>.<mac>`, `mac` the base64url HMAC-SHA256 of
 * the rest under a random key of this coordinator process (tokens die with it: the agent then
 * signs its reads again). The token binds the provider and the assignment; which blobs it opens
 * and whether the lease still holds are checked in the store on every read (blobAccess.ts), so a
 * token opens exactly what its lease opens, and nothing once the lease ended (result, failure,
 * expiry, cancellation) even before `expiresAtMs`. It is a bearer token: a provider that leaks it
 * leaks what it could leak anyway, the data it was leased.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of a lease token in `x-plexus-auth` (a signed header starts with `0x`). */
export const READ_TOKEN_PREFIX = 'cap1.';
/** Kept on top of the task's timeout: the lease check in the store is the real bound. */
const SLACK_MS = 60_000;
const TOKEN = /^cap1\.(0x[0-9a-f]{40})\.(0x[0-9a-f]{64})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

export type ReadCapabilities = {
  /** A token for `provider`'s assignment, valid for the task's timeout (plus a minute). */
  mint(provider: string, assignmentId: string, timeoutMs: number): string;
  /** The provider and assignment a token names, or undefined when it is forged, malformed or expired. */
  check(token: string): { provider: string; assignmentId: string } | undefined;
};

/**
 * @example
 * const caps = createReadCapabilities();
 * const token = caps.mint('0xab…', '0x12…', 120_000);
 * caps.check(token); // { provider: '0xab…', assignmentId: '0x12…' }
 */
export function createReadCapabilities(opts: { key?: Buffer; now?: () => number } = {}): ReadCapabilities {
  const key = opts.key ?? randomBytes(32);
  const now = opts.now ?? Date.now;
  const mac = (body: string) => createHmac('sha256', key).update(body).digest('base64url');
  return {
    mint(provider, assignmentId, timeoutMs) {
      const body = `${READ_TOKEN_PREFIX}${provider.toLowerCase()}.${assignmentId.toLowerCase()}.${now() + timeoutMs + SLACK_MS}`;
      return `${body}.${mac(body)}`;
    },
    check(token) {
      const m = TOKEN.exec(token);
      if (!m) return undefined;
      const body = token.slice(0, token.length - m[4]!.length - 1);
      const want = Buffer.from(mac(body));
      const got = Buffer.from(m[4]!);
      if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
      if (Number(m[3]) < now()) return undefined;
      return { provider: m[1]!, assignmentId: m[2]! };
    },
  };
}
