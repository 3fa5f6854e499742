/**
 * Several coordinator replicas (docs/scaling.md, "Failover"): `--coordinator URL1,URL2` and
 * `PLEXUS_COORDINATOR=URL1,URL2` name them, and the SDK, CLI and provider agent move to the next
 * one when the one they use stops answering.
 */

/**
 * The coordinator base URLs in a comma-separated list (or a list), trimmed, trailing slashes
 * removed, duplicates dropped, in the order given. Throws when none is left.
 *
 * @example coordinatorUrls('http://a:8080, http://b:8080/') // ['http://a:8080', 'http://b:8080']
 */
export function coordinatorUrls(list: string | readonly string[]): string[] {
  const parts = (typeof list === 'string' ? list.split(',') : list)
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u.length > 0);
  const urls = [...new Set(parts)];
  if (urls.length === 0) throw new Error('no coordinator URL given');
  return urls;
}
