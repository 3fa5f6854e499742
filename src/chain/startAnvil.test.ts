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

test('anvil does not outlive a process that is killed without cleaning up', async () => {
  const { spawn } = await import('node:child_process');
  const script = `const { startAnvil } = await import(${JSON.stringify(new URL('./startAnvil.ts', import.meta.url).href)});
const a = await startAnvil({ accounts: 1 });
process.stdout.write(a.rpcUrl + '\\n');
setInterval(() => {}, 1000);`;
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rpcUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    parent.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('http://'));
      if (line) resolve(line.trim());
    });
    parent.once('exit', (code) => reject(new Error(`helper exited early (${code})`)));
  });
  const call = () =>
    fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    });
  assert.equal((await call()).ok, true);
  parent.kill('SIGKILL'); // no exit handlers run
  const deadline = Date.now() + 10_000;
  let alive = true;
  while (alive && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    alive = await call().then(
      () => true,
      () => false,
    );
  }
  assert.equal(alive, false, 'anvil still answers after its parent was killed');
});
