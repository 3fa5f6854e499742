import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPublicClient, http } from 'viem';
import { startAnvil } from './startAnvil.ts';

test('two anvils start on distinct free ports and stop cleanly', async () => {
  const [x, y] = await Promise.all([
    startAnvil({ accounts: 2 }),
    startAnvil({ accounts: 1, chainId: 31338 }),
  ]);
  try {
    assert.notEqual(x.port, y.port);
    assert.equal(x.privateKeys.length, 2);
    assert.equal(y.privateKeys.length, 1);
    const client = createPublicClient({ chain: y.chain, transport: http(y.rpcUrl) });
    assert.equal(await client.getChainId(), 31338);
  } finally {
    await Promise.all([x.stop(), y.stop()]);
  }
  await assert.rejects(fetch(x.rpcUrl, { method: 'POST' }));
});
