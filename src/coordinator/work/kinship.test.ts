import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BURST_WINDOW_MS, networkPrefix } from './kinship.ts';
import { providerConnected } from './sessions.ts';
import { type ScriptedProvider, workFixture } from './workFixture.ts';

type Fixture = Awaited<ReturnType<typeof workFixture>>;

test('network prefixes: /24 of public IPv4 (also IPv4-mapped), /48 of public IPv6, none for local addresses', () => {
  assert.equal(networkPrefix('203.0.113.7'), '203.0.113/24');
  assert.equal(networkPrefix('::ffff:203.0.113.200'), '203.0.113/24');
  assert.equal(networkPrefix('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
  assert.equal(networkPrefix('2001:0db8:0abc::7'), '2001:db8:abc::/48');
  assert.equal(networkPrefix('2001:db8::7'), '2001:db8:0::/48');
  for (const local of [
    '127.0.0.1',
    '::1',
    '10.1.2.3',
    '192.168.0.4',
    '172.20.0.1',
    'fe80::1',
    'fd00::1',
    undefined,
  ]) {
    assert.equal(networkPrefix(local), null, String(local));
  }
});

async function connectFrom(f: Fixture, ip: string, slots = 1): Promise<ScriptedProvider> {
  const p = await f.provider();
  await providerConnected(f.state, f.work, p.link, { ...p.hello(slots), remoteAddress: ip });
  return p;
}

const holders = async (f: Fixture, taskId: string) =>
  (await f.assignments(taskId)).map((a) => a.provider).sort();

test('replicas of a task never go to two providers of one /24; the second replica waits for a provider elsewhere', async () => {
  const f = await workFixture();
  try {
    const a = await connectFrom(f, '203.0.113.7');
    f.clock.t += BURST_WINDOW_MS + 1;
    const b = await connectFrom(f, '203.0.113.99');
    const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    const first = await holders(f, taskIds[0]!);
    assert.equal(first.length, 1, `one replica only, not both on one network: ${first}`);
    assert.ok(
      [a.address, b.address].includes(first[0] as `0x${string}`),
      '[a.address, b.address].includes(first[0] as `0x{string}`)',
    );
    f.clock.t += BURST_WINDOW_MS + 1;
    const c = await connectFrom(f, '198.51.100.5');
    await f.idle();
    const both = await holders(f, taskIds[0]!);
    assert.deepEqual(both, [first[0], c.address].sort());
  } finally {
    await f.close();
  }
});

test('replicas avoid two providers of one registration burst while someone else can take the slot', async () => {
  for (let round = 0; round < 6; round++) {
    const f = await workFixture();
    try {
      const a = await connectFrom(f, '203.0.113.7');
      const e = await connectFrom(f, '198.51.100.7');
      f.clock.t += BURST_WINDOW_MS + 1;
      await connectFrom(f, '192.0.2.7');
      const { taskIds } = await f.submitJob({ verification: { policy: 'redundant', k: 2 } });
      await f.work.dispatch();
      await f.idle();
      const pair = await holders(f, taskIds[0]!);
      assert.equal(pair.length, 2);
      assert.notDeepEqual(pair, [a.address, e.address].sort(), 'the burst pair got both replicas');
    } finally {
      await f.close();
    }
  }
});
