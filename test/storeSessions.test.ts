/**
 * Provider sessions owned per coordinator replica (migration 0022, store/replicaRegistry.ts,
 * store/sessionOwnership.ts), on the PostgreSQL server at 127.0.0.1:5432 with real replica
 * processes and scripted providers: a replica starting closes no live replica's sessions; a
 * provider that moves to another replica keeps its new session when the old socket closes; a
 * replica killed with SIGKILL has its sessions closed by the others at its last heartbeat, and
 * only its providers are marked disconnected; a replica stalled past its lease (SIGSTOP) reopens
 * the sessions of the providers it still holds when it runs again. Fails under CI=true if PostgreSQL is unreachable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import type { NodeChild } from '../src/devnet/spawnNode.ts';
import { tempDir } from './helpers/fixtures.ts';
import { createTestDatabase, postgresSkip } from './helpers/postgres.ts';
import { connectRawProvider, type RawProvider } from './helpers/rawProvider.ts';
import { metricOf, startReplica } from './helpers/replicas.ts';

const skip = await postgresSkip();

type Session = {
  id: number;
  provider: string;
  replica: string | null;
  connected_at: number;
  disconnected_at: number | null;
};

async function until<T>(what: string, check: () => Promise<T | undefined | false>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function sessions(store: Store): Promise<Session[]> {
  return (await store.db.selectFrom('provider_sessions').selectAll().orderBy('id').execute()) as Session[];
}

async function connectedFlag(store: Store, address: string): Promise<number | undefined> {
  const rows = await store.db.selectFrom('providers').select(['address', 'connected']).execute();
  return rows.find((r) => r.address.toLowerCase() === address.toLowerCase())?.connected;
}

function key(i: number) {
  return privateKeyToAccount(`0x${(0x5e55 + i).toString(16).padStart(64, '0')}`);
}

test('sessions belong to the replica holding their socket; only a dead replica’s are closed', {
  skip,
}, async () => {
  const { dir, cleanup } = await tempDir();
  const database = await createTestDatabase();
  const children: NodeChild[] = [];
  const raws: RawProvider[] = [];
  const store = await openStore({ url: database.url });
  try {
    const [a, b] = await Promise.all([
      startReplica('a', dir, database.url),
      startReplica('b', dir, database.url),
    ]);
    children.push(a.child, b.child);
    const [ka1, ka2, kb] = [key(1), key(2), key(3)];
    for (const [url, k] of [
      [a.url, ka1],
      [a.url, ka2],
      [b.url, kb],
    ] as const) {
      const p = await connectRawProvider(url, k);
      p.ws.on('error', () => {});
      raws.push(p);
    }
    const open3 = await until('three open sessions, each owned', async () => {
      const s = (await sessions(store)).filter((x) => x.disconnected_at === null && x.replica !== null);
      return s.length === 3 && s;
    });
    const ownerOf = (address: string) => open3.find((s) => s.provider === address.toLowerCase())!.replica;
    const replicaA = ownerOf(ka1.address);
    const replicaB = ownerOf(kb.address);
    assert.equal(ownerOf(ka2.address), replicaA);
    assert.notEqual(replicaA, replicaB);
    const replicas = await store.db.selectFrom('coordinator_replicas').select('id').execute();
    assert.deepEqual(replicas.map((r) => r.id).sort(), [replicaA, replicaB].sort());

    // A third replica starting closes nothing (before ownership it ended every open session).
    const c = await startReplica('c', dir, database.url);
    children.push(c.child);
    const afterC = (await sessions(store)).filter((x) => x.disconnected_at === null);
    assert.deepEqual(
      afterC.map((s) => s.id),
      open3.map((s) => s.id),
    );
    for (const k of [ka1, ka2, kb]) assert.equal(await connectedFlag(store, k.address), 1);

    // kb moves to C while B still holds its old socket; then the old socket closes on B.
    const moved = await connectRawProvider(c.url, kb);
    moved.ws.on('error', () => {});
    raws.push(moved);
    const onC = await until('kb’s session on replica C', async () => {
      const s = (await sessions(store)).filter(
        (x) => x.provider === kb.address.toLowerCase() && x.disconnected_at === null,
      );
      return s.length === 1 && s[0]!.replica !== replicaB && s[0];
    });
    raws[2]!.ws.close();
    await until(
      'replica B to drop the old socket',
      async () => (await metricOf(b.url, 'providers_connected')) === 0,
    );
    const kbNow = (await sessions(store)).filter((x) => x.provider === kb.address.toLowerCase());
    assert.equal(kbNow.find((s) => s.id === onC.id)?.disconnected_at, null, 'C’s session stays open');
    assert.equal(await connectedFlag(store, kb.address), 1, 'kb is still connected (to C)');

    // Replica A dies without a goodbye: after its lease the others close its sessions, at its
    // last heartbeat, and mark its providers disconnected; C's session is untouched.
    a.child.proc.kill('SIGKILL');
    const lastBeat = await store.db
      .selectFrom('coordinator_replicas')
      .select('heartbeat_at')
      .where('id', '=', replicaA!)
      .executeTakeFirstOrThrow();
    const closed = await until('replica A’s sessions closed', async () => {
      const s = (await sessions(store)).filter((x) => x.replica === replicaA);
      return s.every((x) => x.disconnected_at !== null) && s;
    });
    assert.equal(closed.length, 2);
    const finalBeat = await store.db
      .selectFrom('coordinator_replicas')
      .select('heartbeat_at')
      .where('id', '=', replicaA!)
      .executeTakeFirstOrThrow();
    assert.ok(
      finalBeat.heartbeat_at >= lastBeat.heartbeat_at,
      'finalBeat.heartbeat_at >= lastBeat.heartbeat_at',
    );
    for (const s of closed) {
      assert.equal(
        s.disconnected_at,
        Math.max(s.connected_at, finalBeat.heartbeat_at),
        'ended at its last heartbeat',
      );
    }
    for (const k of [ka1, ka2]) assert.equal(await connectedFlag(store, k.address), 0);
    const still = (await sessions(store)).find((s) => s.id === onC.id);
    assert.equal(still?.disconnected_at, null);
    assert.equal(await connectedFlag(store, kb.address), 1);
    const events = await store.db
      .selectFrom('events')
      .select(['type', 'data'])
      .where('type', '=', 'provider.disconnected')
      .execute();
    const died = events.filter((e) => JSON.parse(e.data).replicaDied === true);
    assert.equal(died.length, 2, 'one provider.disconnected event per provider of the dead replica');

    // Replica C stalls past its lease (SIGSTOP): B takes it for dead and closes kb's session; when
    // C runs again it finds its heartbeat lapsed and reopens the session of the provider it holds.
    c.child.proc.kill('SIGSTOP');
    try {
      await until('B to close the stalled replica’s session', async () => {
        const s = (await sessions(store)).find((x) => x.id === onC.id);
        return s?.disconnected_at !== null && (await connectedFlag(store, kb.address)) === 0;
      });
    } finally {
      c.child.proc.kill('SIGCONT');
    }
    const reopened = await until('C to reopen kb’s session', async () => {
      const s = (await sessions(store)).filter(
        (x) => x.provider === kb.address.toLowerCase() && x.disconnected_at === null,
      );
      return s.length === 1 && s[0]!.replica === onC.replica && s[0]!.id !== onC.id && s[0];
    });
    assert.ok(
      reopened.connected_at >= (await sessions(store)).find((x) => x.id === onC.id)!.disconnected_at!,
      'reopened.connected_at >= (await sessions(store)).find((x) => x.id === onC.id)!.disconnected_at!',
    );
    assert.equal(await connectedFlag(store, kb.address), 1);
  } finally {
    for (const r of raws) r.ws.terminate();
    await Promise.all(children.reverse().map((c) => c.stop(10_000)));
    await store.close();
    await database.drop();
    await cleanup();
  }
});
