import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import type { CoordinatorMessage } from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import { createEventLog } from '../events/createEventLog.ts';
import { createMetrics } from '../metrics.ts';
import { createLeastLoadedScheduler } from '../scheduler/leastLoadedScheduler.ts';
import { openStore } from '../store/openStore.ts';
import { createWorkLoop } from './createWorkLoop.ts';
import type { ProviderLink } from './workState.ts';

test('the facade wires a session through the modules: connect, dispatch, draining, view, disconnect', async () => {
  const store = await openStore({ path: ':memory:' });
  const loop = createWorkLoop({
    db: store.db,
    blobs: {} as BlobStore,
    events: createEventLog(store.db, store.raw),
    scheduler: createLeastLoadedScheduler(),
    chainId: 31337,
    log: createLogger('work-test', { level: 'silent' }),
    metrics: createMetrics(),
    canaries: { rate: 0 },
    raw: store.raw,
  });
  try {
    const address = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
    const sent: CoordinatorMessage[] = [];
    const link: ProviderLink = { address, send: (m) => sent.push(m) > 0 };
    await loop.providerConnected(link, {
      address,
      hardware: { cpuModel: 't', cpuCores: 2, memoryBytes: 2 ** 30, gpus: [], executionProviders: ['cpu'] },
      slots: 2,
      region: 'test',
      agentVersion: '0',
      cached: [],
      inFlight: [],
    });
    assert.equal(loop.connectedProviders(), 1);
    assert.equal(loop.activeOf(address), 0);
    await loop.providerDraining(address);
    loop.providerCacheChanged(address, ['a'.repeat(64)], []);
    await loop.dispatch();
    await loop.sweep();
    const view = loop.verificationView(address, null);
    assert.equal(view.reputation.trusted, false);
    assert.equal(view.reputation.score, 0.5, 'a newcomer');
    assert.equal(view.auditRate, 1, 'a newcomer is always audited');
    assert.equal(view.capability, null, 'no proof started yet');
    await loop.providerDisconnected(link);
    assert.equal(loop.connectedProviders(), 0);
    assert.deepEqual(sent, []);
    const row = await store.db.selectFrom('providers').selectAll().executeTakeFirstOrThrow();
    assert.equal(row.connected, 0);
  } finally {
    loop.close();
    await store.close();
  }
});
