import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import { resolveChain } from './chainCli.ts';

const addresses = {
  token: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  registry: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  escrow: '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0',
  settlement: '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9',
} as const;

let dir: string;
let server: Server;
let url: string;
/** What the stand-in coordinator answers at GET /v1/chain. */
let chainAnswer: { status: number; body: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plexus-chaincli-'));
  server = createServer((_req, res) => {
    res.writeHead(chainAnswer.status, { 'content-type': 'application/json' });
    res.end(chainAnswer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((resolve) => server?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function code(c: 'PLX_VALIDATION' | 'PLX_NOT_FOUND' | 'PLX_UPSTREAM_UNAVAILABLE', pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isPlexusError(err, c), `expected ${c}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  };
}

test('a deployment file gives the chain; --rpc-url overrides its RPC; bad files are PLX_VALIDATION', async () => {
  const file = join(dir, 'deployment.json');
  await writeFile(
    file,
    JSON.stringify({ rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, ...addresses, minStake: '1' }),
  );
  const base = { coordinator: 'http://127.0.0.1:1', deployment: file, json: false };
  assert.deepEqual(await resolveChain(base), { rpcUrl: 'http://127.0.0.1:8545', chainId: 31337, addresses });
  assert.equal(
    (await resolveChain({ ...base, rpcUrl: 'https://rpc.example' })).rpcUrl,
    'https://rpc.example',
  );
  await assert.rejects(
    resolveChain({ ...base, rpcUrl: 'file:///etc/passwd' }),
    code('PLX_VALIDATION', /http\(s\)/),
  );

  await writeFile(file, JSON.stringify({ chainId: 31337, ...addresses }));
  await assert.rejects(resolveChain(base), code('PLX_VALIDATION', /give --rpc-url/));
  await writeFile(file, JSON.stringify({ chainId: 31337, ...addresses, escrow: '0x1234' }));
  await assert.rejects(
    resolveChain(base),
    code('PLX_VALIDATION', /escrow: must be a 0x-prefixed 20-byte address/),
  );
  await writeFile(file, '{"chainId":');
  await assert.rejects(resolveChain(base), code('PLX_VALIDATION', /not valid JSON/));
  await writeFile(file, ' '.repeat(70_000));
  await assert.rejects(resolveChain(base), code('PLX_VALIDATION', /64 KiB/));
  await assert.rejects(
    resolveChain({ ...base, deployment: join(dir, 'missing.json') }),
    code('PLX_VALIDATION', /cannot read --deployment/),
  );
});

test("without a file the chain comes from the coordinator's GET /v1/chain, checked", async () => {
  const o = { coordinator: url, json: false };
  chainAnswer = {
    status: 200,
    body: JSON.stringify({
      chainId: 8453,
      rpcUrl: 'http://10.0.0.5:8545',
      ...addresses,
      epochDuration: 3600,
    }),
  };
  assert.deepEqual(await resolveChain(o), { rpcUrl: 'http://10.0.0.5:8545', chainId: 8453, addresses });
  chainAnswer = {
    status: 404,
    body: JSON.stringify({ error: { code: 'PLX_NOT_FOUND', message: 'no chain' } }),
  };
  await assert.rejects(resolveChain(o), code('PLX_NOT_FOUND', /no chain/));
  chainAnswer = { status: 200, body: JSON.stringify({ chainId: 'one', ...addresses }) };
  await assert.rejects(resolveChain(o), code('PLX_UPSTREAM_UNAVAILABLE', /unexpected shape: chainId/));
  chainAnswer = { status: 200, body: '<html>' };
  await assert.rejects(resolveChain(o), code('PLX_UPSTREAM_UNAVAILABLE', /did not answer JSON/));
  await assert.rejects(
    resolveChain({ coordinator: 'http://127.0.0.1:9', json: false }),
    code('PLX_UPSTREAM_UNAVAILABLE', /cannot reach the coordinator/),
  );
});
