/**
 * A provider's piece store (issue 19): the pieces it keeps for the storage network, each with its
 * Merkle tree, in one folder it offers (`--storage-dir`, at most `--storage-gib`). A challenge is
 * answered by reading only the challenged leaves from the piece file and their paths from the
 * stored tree, so answering costs a few small reads whatever the piece size.
 *
 * Files: `<root>.piece` (the bytes) and `<root>.tree` (PieceTree.toBytes()), written to a temporary
 * name and renamed, so a crash never leaves half a piece under its root.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';
import { type Challenge, type ChallengeAnswer, challengeIndices } from '../../storage/challenge.ts';
import { leafCount, PieceTree } from '../../storage/pieceTree.ts';

export type PieceStore = {
  /** Bytes offered. */
  readonly capacityBytes: number;
  /** Bytes used by pieces (their data; trees are small and not counted). */
  usedBytes(): number;
  /** Roots of the pieces held. */
  list(): Hex[];
  has(root: Hex): boolean;
  /**
   * Keeps a piece after checking it against its root (PLX_STORAGE_PIECE_INVALID otherwise) and the
   * offer (PLX_STORAGE_FULL).
   */
  put(root: Hex, piece: Uint8Array, leafBytes: number): Promise<void>;
  /** The piece's bytes (PLX_NOT_FOUND when not held). */
  read(root: Hex): Promise<Uint8Array>;
  /** The challenged leaves and their paths, read from disk (throws when the files are gone or bad). */
  answer(c: Challenge): Promise<ChallengeAnswer>;
  drop(root: Hex): Promise<void>;
};

const ROOT_FILE = /^(0x[0-9a-f]{64})\.piece$/;

/**
 * Opens (creating) a piece store and indexes what it already holds.
 *
 * @example const store = await createPieceStore({ dir: '.plexus/provider/storage', capacityBytes: 10 * 2 ** 30 });
 */
export async function createPieceStore(opts: { dir: string; capacityBytes: number }): Promise<PieceStore> {
  await mkdir(opts.dir, { recursive: true });
  const sizes = new Map<Hex, number>();
  for (const name of await readdir(opts.dir)) {
    const m = ROOT_FILE.exec(name);
    if (m) sizes.set(m[1] as Hex, (await stat(join(opts.dir, name))).size);
    else if (name.endsWith('.tmp')) await rm(join(opts.dir, name), { force: true });
  }
  const pieceFile = (root: Hex) => join(opts.dir, `${root}.piece`);
  const treeFile = (root: Hex) => join(opts.dir, `${root}.tree`);
  const used = () => [...sizes.values()].reduce((a, b) => a + b, 0);

  return {
    capacityBytes: opts.capacityBytes,
    usedBytes: used,
    list: () => [...sizes.keys()],
    has: (root) => sizes.has(root),
    async put(root, piece, leafBytes) {
      if (sizes.has(root)) return;
      if (used() + piece.length > opts.capacityBytes)
        throw new PlexusError('PLX_STORAGE_FULL', `no room for ${piece.length} more bytes`, {
          details: { capacityBytes: opts.capacityBytes, usedBytes: used() },
        });
      const tree = PieceTree.build(piece, leafBytes);
      if (tree.root !== root)
        throw new PlexusError('PLX_STORAGE_PIECE_INVALID', `the piece does not match root ${root}`);
      const tmp = `${pieceFile(root)}.${process.pid}.tmp`;
      await writeFile(`${tmp}t`, tree.toBytes());
      await rename(`${tmp}t`, treeFile(root));
      await writeFile(tmp, piece);
      await rename(tmp, pieceFile(root));
      sizes.set(root, piece.length);
    },
    async read(root) {
      if (!sizes.has(root)) throw new PlexusError('PLX_NOT_FOUND', `no piece ${root} here`);
      return new Uint8Array(await readFile(pieceFile(root)));
    },
    async answer(c) {
      const tree = PieceTree.fromBytes(new Uint8Array(await readFile(treeFile(c.pieceRoot))));
      if (tree.root !== c.pieceRoot || tree.pieceBytes !== c.pieceBytes || tree.leafBytes !== c.leafBytes)
        throw new PlexusError('PLX_STORAGE_PIECE_INVALID', 'the stored tree is for another piece');
      const n = leafCount(c.pieceBytes, c.leafBytes);
      const fh = await open(pieceFile(c.pieceRoot), 'r');
      try {
        const out: ChallengeAnswer = [];
        for (const index of challengeIndices(c)) {
          const start = index * c.leafBytes;
          const length = index === n - 1 ? c.pieceBytes - start : c.leafBytes;
          const leaf = new Uint8Array(Math.max(0, length));
          const { bytesRead } = await fh.read(leaf, 0, leaf.length, start);
          out.push({ index, leaf: leaf.subarray(0, bytesRead), path: tree.path(index) });
        }
        return out;
      } finally {
        await fh.close();
      }
    },
    async drop(root) {
      sizes.delete(root);
      await rm(pieceFile(root), { force: true });
      await rm(treeFile(root), { force: true });
    },
  };
}
