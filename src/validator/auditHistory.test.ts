/**
 * The read-only auditor (`plexus validator audit --from 1`, auditHistory.ts) keeps what the bundles
 * it accepted settled (checkSettled.ts): a later bundle that charges an earlier one's execution
 * again is reported, even though it is finalized on chain (review s12, F2). Served over HTTP by a
 * stand-in coordinator; the chain is a stand-in reader.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { PlexusReader } from '../chain/types.ts';
import { GENESIS_EVIDENCE_HASH } from '../coordinator/settlement/evidence.ts';
import { auditHistory } from './auditHistory.ts';
import { honestEpoch, idleEpoch } from './factsFixture.ts';
import { bundleOf, target } from './settledOnce.fixture.ts';

const honest = await honestEpoch();
const idle = idleEpoch(honest);

test('the auditor reports a bundle that charges again what an earlier bundle settled', async () => {
  // Epoch 1 charges the fixture's execution, epoch 2 settles nothing, epoch 3 charges it again.
  const bundles: ReturnType<typeof bundleOf>[] = [];
  let prev: Hex = GENESIS_EVIDENCE_HASH;
  for (const [epoch, e] of [honest, idle, honest].entries()) {
    const b = bundleOf(e.facts, { ...e.inputs, closedAt: e.inputs.closedAt + epoch }, epoch + 1, prev);
    bundles.push(b);
    prev = b.hash;
  }
  const server = createServer((req, res) => {
    const m = /^\/v1\/epochs\/(\d+)\/(evidence|claim)$/.exec(req.url ?? '');
    if (req.url === '/v1/epochs') {
      res.setHeader('content-type', 'application/json');
      return res.end(
        JSON.stringify({ epochs: bundles.map((_b, i) => ({ epoch: i + 1, status: 'settled' })) }),
      );
    }
    const b = m ? bundles[Number(m[1]) - 1] : undefined;
    if (!b) {
      res.statusCode = 404;
      return res.end();
    }
    if (m![2] === 'claim') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify(b.claim));
    }
    res.setHeader('x-plexus-evidence-hash', b.hash);
    res.end(b.text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    // Every epoch finalized with the bundle served and the root and total it claims.
    const chain = {
      addresses: { settlement: target.settlement },
      publicClient: {
        readContract: async ({ functionName, args }: { functionName: string; args?: bigint[] }) =>
          functionName === 'lastFinalizedEpoch' ? 3n : bundles[Number(args![0]) - 1]!.hash,
        getContractEvents: async ({ args }: { args: { epoch: bigint } }) => {
          const p = bundles[Number(args.epoch) - 1]!.claim.payload;
          return [{ args: { rewardsRoot: p.rewardsRoot, totalEarned: BigInt(p.totalEarned) } }];
        },
      },
    } as unknown as PlexusReader;
    const report = await auditHistory({
      coordinator: `http://127.0.0.1:${port}`,
      chain,
      chainId: target.chainId,
      from: 1,
    });
    assert.deepEqual(
      report.map((e) => e.problems.length),
      [0, 0, 1],
      JSON.stringify(report.map((e) => e.problems)),
    );
    assert.match(report[2]!.problems[0]!, /^charge\[exec:0x[0-9a-f]{64}\]\.settled: /);
  } finally {
    server.close();
  }
});
