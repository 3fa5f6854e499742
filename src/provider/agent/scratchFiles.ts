/**
 * Output files of the provider's runs, reused from task to task. Creating and deleting a file per
 * task cost more than the bytes it holds: a new inode and directory entry on the way in, freed
 * pages and a recently deleted inode (which slows the next allocation on ext4) on the way out. A
 * worker overwrites a reused file in place and truncates it to its output's size, so the file
 * always holds exactly the last output written to it.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A pool of scratch file paths in one directory (which belongs to the pool alone).
 *
 * @example
 * const path = scratch.take();
 * try { await runtime.runFile(model, input, path); scratch.give(path); } catch (e) { scratch.discard(path); throw e; }
 */
export type ScratchFiles = {
  /** A path no one else uses until it is given back or discarded. */
  take(): string;
  /** Returns a path whose writer has finished with it, for a later task. */
  give(path: string): void;
  /** Deletes the file (its writer may have died mid-write): the path is not used again. */
  discard(path: string): void;
};

/**
 * Creates the pool; it holds at most `maxIdle` idle paths (more are deleted when given back).
 *
 * @example const scratch = createScratchFiles(join(dataDir, 'scratch'), 8);
 */
export function createScratchFiles(dir: string, maxIdle: number): ScratchFiles {
  const idle: string[] = [];
  const remove = (path: string) => {
    try {
      unlinkSync(path);
    } catch {
      // never written, or already gone
    }
  };
  return {
    take: () => idle.pop() ?? join(dir, `${randomBytes(12).toString('hex')}.safetensors`),
    give(path) {
      if (idle.length < maxIdle) idle.push(path);
      else remove(path);
    },
    discard: remove,
  };
}
