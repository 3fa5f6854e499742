/**
 * Wire shape of the storage network's public figures (`GET /v1/storage/stats`, docs/storage.md):
 * what the network stores and how healthy it is, for the explorer's Storage page. Network-wide
 * counts and provider faults only: no object ids or clients (which files are stored, and by whom,
 * is not the public's business).
 */
import { z } from 'zod';

/** @example const f: StorageFaultView = { provider: '0xab…', reason: 'missed', window: 12, at: 1760000000 }; */
export const storageFaultViewSchema = z.object({
  provider: z.string(),
  reason: z.string(),
  window: z.int(),
  at: z.number(),
});
export type StorageFaultView = z.infer<typeof storageFaultViewSchema>;

/**
 * Stored objects and bytes, pieces by health, holders, the challenge window reached, the
 * pieces being repaired now, and every fault so far with the latest ones.
 *
 * @example const { pieces } = storageStatsViewSchema.parse(await res.json());
 */
export const storageStatsViewSchema = z.object({
  objects: z.object({ stored: z.int(), placing: z.int() }),
  storedBytes: z.number(),
  pieces: z.object({
    healthy: z.int(),
    pending: z.int(),
    repairing: z.int(),
    lost: z.int(),
    dropped: z.int(),
  }),
  holders: z.int(),
  lastWindow: z.int(),
  faults: z.object({ total: z.int(), recent: z.array(storageFaultViewSchema) }),
});
/** @example const healthy = (s: StorageStatsView) => s.pieces.healthy; */
export type StorageStatsView = z.infer<typeof storageStatsViewSchema>;
