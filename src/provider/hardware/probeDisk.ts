/**
 * Free disk space where a provider offers storage (issue 19): `plexus provider start --storage-gib`
 * refuses to offer more than the disk has free.
 */
import { mkdir, statfs } from 'node:fs/promises';
import { PlexusError } from '../../errors/PlexusError.ts';

/**
 * Bytes free to an unprivileged process on the filesystem holding `dir` (created if missing).
 *
 * @example const free = await freeDiskBytes('.plexus/provider/storage');
 */
export async function freeDiskBytes(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/**
 * Checks that `dir` can take `offeredBytes` on top of the `usedBytes` already there; throws
 * PLX_STORAGE_NO_SPACE naming both figures otherwise.
 *
 * @example await checkDiskOffer('.plexus/provider/storage', 10 * 2 ** 30, 0);
 */
export async function checkDiskOffer(dir: string, offeredBytes: number, usedBytes: number): Promise<number> {
  const free = await freeDiskBytes(dir);
  if (offeredBytes - usedBytes > free)
    throw new PlexusError(
      'PLX_STORAGE_NO_SPACE',
      `--storage-gib offers ${(offeredBytes / 2 ** 30).toFixed(2)} GiB but ${dir} has ${(free / 2 ** 30).toFixed(2)} GiB free`,
      { details: { offeredBytes, freeBytes: free, usedBytes } },
    );
  return free;
}
