import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a secret file so that no reader ever sees it half-written or with loose permissions: the
 * bytes go to a temporary file created with `mode` (0600 by default) in the same directory, are
 * fsynced, then moved into place. With `overwrite: false` the move is a hard link, which fails with
 * `EEXIST` instead of replacing an existing file (two processes creating the same keystore cannot
 * clobber each other's key).
 *
 * @example
 * await writeFileAtomic('/home/me/.plexus/keystore.json', json, { overwrite: false });
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number; overwrite?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', options.mode ?? 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (options.overwrite === false) {
      await link(tmp, path);
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // Make the new directory entry itself durable.
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
