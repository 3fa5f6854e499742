/**
 * Repair placement (orderRepair.ts) against a real store: an object of two segments whose six
 * holders each keep one piece of every segment loses two holders. Each lost piece is ordered to a
 * provider holding no other piece of its segment, the spare providers first; once the spares
 * hold repaired pieces of segment 0 they still take segment 1's (a per-object rule left the
 * 100 MiB object of issue 19 half repaired: every online provider then held some piece of it).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import type { StorageCoordinatorMessage } from '../../protocol/storageSession.ts';
import { openStore } from '../store/openStore.ts';
import { createGrantBook } from './grantBook.ts';
import { createOrderBook } from './orderProof.ts';
import { createRepairer } from './orderRepair.ts';
import type { StorageSession } from './storageNetworkTypes.ts';
import { storageDb } from './storageTables.ts';

type Repair = Extract<StorageCoordinatorMessage, { type: 'store.repair' }>;

test('lost pieces of two segments are repaired onto providers holding no piece of that segment, spares first', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-order-repair-'));
  const store = await openStore({ path: join(dir, 'plexus.db') });
  try {
    const db = storageDb(store.db);
    const t = Date.now();
    const holders = Array.from({ length: 6 }, (_, i) => `0x${String(i + 1).repeat(40)}`);
    const spares = [`0x${'a'.repeat(40)}`, `0x${'b'.repeat(40)}`];
    /** Who was sent each repair order, in the order they left. */
    const sent: { to: string; m: Repair }[] = [];
    const sessions = new Map<string, StorageSession>();
    for (const a of [...holders, ...spares]) {
      sessions.set(a, {
        address: a,
        region: 'eu',
        freeBytes: 1 << 30,
        send: (m: StorageCoordinatorMessage) => {
          if (m.type === 'store.repair') sent.push({ to: a, m });
          return true;
        },
      } as unknown as StorageSession);
    }
    await db
      .insertInto('storage_objects')
      .values({
        ...{ object_id: 'ab'.repeat(32), client: `0x${'c'.repeat(40)}`, object_bytes: 100 },
        ...{ data_pieces: 4, parity_pieces: 2, manifest: JSON.stringify({ leafBytes: 1024 }), epochs: 1 },
        ...{ price_per_gib_epoch: '0', escrow: '0', start_epoch: 0, status: 'stored' },
        ...{ created_at: t, updated_at: t, put_request: '{}' },
      })
      .execute();
    const killed = [holders[0]!, holders[5]!];
    for (const segment of [0, 1])
      for (const [idx, holder] of holders.entries())
        await db
          .insertInto('storage_pieces')
          .values({
            ...{ object_id: 'ab'.repeat(32), segment, idx, root: `${segment}${idx}`.padEnd(64, '0') },
            ...{ piece_bytes: 1000, order_id: null, updated_at: t },
            ...(killed.includes(holder) ? { holder: null, status: 'lost' } : { holder, status: 'healthy' }),
          })
          .execute();
    for (const a of killed) sessions.delete(a);
    const holdersOf = async (objectId: string) =>
      new Set(
        (
          await db
            .selectFrom('storage_pieces')
            .select('holder')
            .where('object_id', '=', objectId)
            .where('status', 'in', ['pending', 'healthy', 'repairing'])
            .execute()
        ).flatMap((r) => (r.holder ? [r.holder] : [])),
      );
    const grants = createGrantBook({ now: () => t });
    const repair = createRepairer({
      db,
      log: createLogger('test', { level: 'silent' }),
      now: () => t,
      orderTtlMs: 60_000,
      grants,
      orders: createOrderBook((token) => grants.delete(token)),
      session: (a) => sessions.get(a),
      candidates: () => [...sessions.values()],
      holdersOf,
    });
    await repair('ab'.repeat(32), 0);
    await repair('ab'.repeat(32), 1);
    const pieces = await db
      .selectFrom('storage_pieces')
      .selectAll()
      .orderBy('segment')
      .orderBy('idx')
      .execute();
    for (const segment of [0, 1]) {
      const seg = pieces.filter((p) => p.segment === segment);
      assert.equal(
        seg.filter((p) => p.status === 'repairing').length,
        2,
        `segment ${segment}: both lost pieces ordered`,
      );
      assert.equal(new Set(seg.map((p) => p.holder)).size, 6, `segment ${segment}: six distinct holders`);
    }
    const ordered = sent.map((o) => o.to);
    assert.equal(ordered.length, 4, 'four repair orders sent');
    assert.deepEqual(new Set(ordered.slice(0, 2)), new Set(spares), 'segment 0 to the spares first');
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
