/**
 * Where a provider may ask readers to fetch its pieces (docs/storage.md, "Direct serving",
 * "Serve addresses"). A holder's `serveUrl` is its own claim, and readers (clients, other
 * providers' agents) send requests there: a URL naming a loopback, private, link-local or other
 * internal address would make them request hosts inside their own networks (SSRF: a cloud
 * metadata service at 169.254.169.254, an admin port on 127.0.0.1, a router on 192.168.0.1).
 * So a serve URL must be `http(s)://HOST:PORT` and nothing more, with HOST a public IP address
 * (a host name could resolve to an internal address after this check) and PORT 80, 443 or
 * 1024–65535; only on a local network (a devnet or a test: the coordinator listens on loopback,
 * or its operator says so) may HOST be loopback, private or a name. The coordinator refuses an
 * offer whose URL fails (`PLX_STORAGE_SERVE_ADDRESS`, the session is closed), the provider's
 * agent refuses to start with one, and readers check again before each request.
 */
import { BlockList, isIP } from 'node:net';
import { PlexusError } from '../errors/PlexusError.ts';

/** The longest serve URL accepted (the offer's schema allows no more either). */
export const MAX_SERVE_URL_CHARS = 200;

/**
 * Addresses that are not a public host on the Internet (IANA special-purpose registries), one list
 * per family: a BlockList also matches IPv4 addresses against IPv6 rules (as IPv4-mapped), so
 * one list with `::ffff:0:0/96` would refuse every IPv4 address.
 */
const internal4 = new BlockList();
const internal6 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata services)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  internal4.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::ffff:0:0', 96], // IPv4-mapped: a public server advertises its IPv4 address as such
  ['64:ff9b::', 96], // NAT64 (embeds an IPv4 address)
  ['64:ff9b:1::', 48], // local NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 (embeds an IPv4 address)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  internal6.addSubnet(net, bits, 'ipv6');

/**
 * Whether an IP address literal is a public host (not loopback, private, link-local, multicast,
 * documentation or otherwise reserved). Anything that is not an IP literal is not public.
 *
 * @example
 * isPublicIp('8.8.8.8'); // true
 * isPublicIp('169.254.169.254'); // false
 */
export function isPublicIp(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  const v = isIP(h);
  if (v === 4) return !internal4.check(h, 'ipv4');
  return v === 6 && !internal6.check(h, 'ipv6') && !/^::ffff:/i.test(h);
}

/**
 * Whether a URL's host is on a local network: loopback, private, link-local or `localhost`. A
 * reader whose coordinator is there is in a devnet or a test, where serve URLs may be local too.
 *
 * @example
 * isLocalUrl('http://127.0.0.1:8080'); // true
 */
export function isLocalUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return false;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  return isIP(host) !== 0 && !isPublicIp(host);
}

/**
 * Whether a coordinator listening on `host` runs a local network (the devnet and tests listen on
 * 127.0.0.1, the default): then providers may offer loopback and private serve addresses.
 *
 * @example
 * isLocalListenHost('127.0.0.1'); // true
 * isLocalListenHost('0.0.0.0'); // false
 */
export function isLocalListenHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || /^127\./.test(h) || h === '::1';
}

/**
 * Checks a serve URL (see the module comment) and returns it normalised (`http://host:port`).
 * Throws PLX_STORAGE_SERVE_ADDRESS with the reason.
 *
 * @example
 * checkServeUrl('http://203.0.114.7:7070', { allowLocal: false }); // 'http://203.0.114.7:7070'
 * checkServeUrl('http://169.254.169.254:80', { allowLocal: false }); // throws
 */
export function checkServeUrl(url: string, o: { allowLocal: boolean }): string {
  const refuse = (why: string): never => {
    throw new PlexusError('PLX_STORAGE_SERVE_ADDRESS', `serve address ${url.slice(0, 80)}: ${why}`, {
      details: { reason: why },
    });
  };
  if (typeof url !== 'string' || url.length > MAX_SERVE_URL_CHARS)
    refuse(`longer than ${MAX_SERVE_URL_CHARS} characters`);
  if (!/^https?:\/\/[A-Za-z0-9.\-[\]:]+$/.test(url)) refuse('must be http(s)://HOST:PORT and nothing more');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return refuse('not a URL');
  }
  if (u.username || u.password || u.search || u.hash || u.pathname !== '/')
    refuse('must be http(s)://HOST:PORT and nothing more');
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) refuse('no valid port');
  if (port < 1024 && port !== 80 && port !== 443)
    refuse(`port ${port} is a system port (80, 443 or 1024-65535)`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!o.allowLocal) {
    if (isIP(host) === 0)
      refuse('the host must be a public IP address on this network (a name may resolve inside)');
    if (!isPublicIp(host)) refuse('the host is a loopback, private, link-local or reserved address');
  }
  return `${u.protocol}//${u.host}`;
}
