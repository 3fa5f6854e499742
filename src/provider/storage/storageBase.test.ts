import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../logger.ts';
import type { ErasureThread } from '../../storage/erasureThread.ts';
import type { PieceStore } from './createPieceStore.ts';
import { createStorageAgent } from './createStorageAgent.ts';

test("with replicas, the storage agent's requests go to the replica the session is on now", async () => {
  let base = 'http://replica-a:8080';
  const urls: string[] = [];
  let served: () => void = () => {};
  const store = {
    list: () => [],
    read: async () => new Uint8Array([1, 2, 3]),
  } as unknown as PieceStore;
  const agent = createStorageAgent({
    base: () => base,
    store,
    send: () => true,
    log: createLogger('storage-base-test', { level: 'silent' }),
    dir: '/nonexistent',
    coder: {} as ErasureThread,
    fetch: (async (url: string) => {
      urls.push(String(url));
      served();
      return new Response(null, { status: 200 });
    }) as unknown as typeof fetch,
  });
  const serve = (orderId: string) =>
    new Promise<void>((resolve) => {
      served = resolve;
      agent.handle({ type: 'store.serve', orderId, pieceRoot: `0x${'1'.repeat(64)}`, token: 't' });
    });
  await serve('o1');
  // The session moved to replica B (replica A died): the next relay goes there.
  base = 'http://replica-b:8080';
  await serve('o2');
  assert.deepEqual(urls, [
    'http://replica-a:8080/v1/storage/relay/o1',
    'http://replica-b:8080/v1/storage/relay/o2',
  ]);
});
