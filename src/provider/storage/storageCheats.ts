/**
 * Test-only misbehaviour of a storage holder (the adversary harness of issue 19's challenge tests,
 * like agent/behaviour.ts for compute): what a dishonest provider would do to save disk after
 * being paid to keep a piece. Selected with the hidden `--storage-behaviour` option.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hex } from 'viem';

/**
 * - `honest`: keeps what it stores;
 * - `delete`: deletes the piece and its tree right after reporting it stored;
 * - `root-only`: keeps only the root (deletes the files) and makes answers up;
 * - `corrupt`: flips the first byte of every leaf on disk (keeps its tree);
 * - `late`: keeps everything but answers challenges after their deadline.
 */
export type StorageBehaviour = 'honest' | 'delete' | 'root-only' | 'corrupt' | 'late';

/**
 * Every behaviour, for the CLI's choices.
 *
 * @example new Option('--storage-behaviour <b>').choices(STORAGE_BEHAVIOURS)
 */
export const STORAGE_BEHAVIOURS: readonly StorageBehaviour[] = [
  'honest',
  'delete',
  'root-only',
  'corrupt',
  'late',
];

/**
 * Damages a stored piece the way `behaviour` says (no-op for honest and late).
 *
 * @example await applyStorageCheat(dir, root, 'corrupt');
 */
export async function applyStorageCheat(dir: string, root: Hex, behaviour: StorageBehaviour): Promise<void> {
  const piece = join(dir, `${root}.piece`);
  if (behaviour === 'delete' || behaviour === 'root-only') {
    await rm(piece, { force: true });
    await rm(join(dir, `${root}.tree`), { force: true });
  } else if (behaviour === 'corrupt') {
    const fh = await open(piece, 'r+');
    try {
      const { size } = await fh.stat();
      const b = new Uint8Array(1);
      // Every leaf (at the 1 KiB default and any larger leaf size), so any challenge catches it.
      for (let at = 0; at < size; at += 1024) {
        await fh.read(b, 0, 1, at);
        b[0]! ^= 0xff;
        await fh.write(b, 0, 1, at);
      }
    } finally {
      await fh.close();
    }
  }
}
