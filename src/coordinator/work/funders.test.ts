import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createPublicClient, createWalletClient, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { transferPlx } from '../../chain/actions/transferPlx.ts';
import { connectPlexus } from '../../chain/connectPlexus.ts';
import { PLX } from '../../chain/constants.ts';
import { deployPlexus, type PlexusDeployment } from '../../chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../../chain/startAnvil.ts';
import type { PlexusWriter } from '../../chain/types.ts';
import { newReputation } from '../verification/reputation.ts';
import { chainFunderOf } from './funders.ts';
import { kinOf } from './kinship.ts';
import { providerConnected } from './sessions.ts';
import { workFixture } from './workFixture.ts';

let anvil: AnvilInstance;
let deployment: PlexusDeployment;
const writer = (key: Hex): PlexusWriter =>
  connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, key);

before(async () => {
  anvil = await startAnvil({ accounts: 3 });
  const publicClient = createPublicClient({ chain: anvil.chain, transport: http(anvil.rpcUrl) });
  const walletClient = createWalletClient({
    account: privateKeyToAccount(anvil.privateKeys[0] as Hex),
    chain: anvil.chain,
    transport: http(anvil.rpcUrl),
  });
  deployment = await deployPlexus({
    publicClient: publicClient as PlexusWriter['publicClient'],
    walletClient,
    validators: [walletClient.account.address],
    threshold: 1,
  });
});
after(async () => {
  await anvil?.stop();
});

test('funder kin from the chain: providers whose stake one wallet funded, or one funded by another, never execute one task together; a treasury funding others says nothing', async () => {
  const [treasuryKey, ringKey, ownerKey] = anvil.privateKeys as [Hex, Hex, Hex];
  const treasury = writer(treasuryKey);
  const ring = writer(ringKey);
  const funderOf = chainFunderOf(writer(treasuryKey));
  const f = await workFixture({ funderOf });
  try {
    // p1 (an anvil account, so it can send) and p2 funded by one ring wallet; p4 funded by p1
    // (its owner); p3 funded by the treasury like everyone on a devnet (no kin from that).
    const p1 = await f.provider(ownerKey);
    const [p2, p3, p4] = [await f.provider(), await f.provider(), await f.provider()];
    await transferPlx(treasury, ring.walletClient.account.address, 100n * PLX);
    await transferPlx(ring, p1.address, 10n * PLX);
    await transferPlx(ring, p2.address, 10n * PLX);
    await transferPlx(treasury, p3.address, 10n * PLX);
    await transferPlx(writer(ownerKey), p4.address, 1n * PLX);
    assert.equal(await funderOf(p1.address), ring.walletClient.account.address.toLowerCase());
    assert.equal(await funderOf(p4.address), p1.address);
    assert.equal(
      await funderOf(p3.address),
      null,
      'the treasury (it received the genesis mint) says nothing',
    );
    assert.equal(await funderOf(deployment.token), null, 'never funded by an account');

    // Everyone trusted with 4 slots (so slots, not reputation, bound the leases).
    for (const p of [p1, p2, p3, p4]) {
      f.state.reputations.set(p.address, {
        ...newReputation(f.clock.t),
        alpha: 40,
        consecutiveValid: 20,
        verifiedValid: 20,
      });
      await providerConnected(f.state, f.work, p.link, p.hello(4));
    }
    // The funder look-ups run in the background: wait for them (generous deadline).
    const end = Date.now() + 60_000;
    while ([p1, p2, p3, p4].some((p) => f.state.identities.get(p.address)?.funder === undefined)) {
      assert.ok(Date.now() < end, 'funder look-ups did not finish');
      await new Promise((r) => setTimeout(r, 50));
    }
    const kin = kinOf(f.state, [p1.address]);
    assert.deepEqual([...kin.funder].sort(), [p2.address, p4.address].sort());
    assert.deepEqual([...kinOf(f.state, [p3.address]).funder], [], 'a treasury-funded provider has no kin');

    const { taskIds } = await f.submitJob({ tasks: 6, verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    const forbidden = new Set(
      [
        [p1, p2],
        [p1, p4],
      ].map((x) =>
        x
          .map((p) => p.address)
          .sort()
          .join(),
      ),
    );
    let paired = 0;
    for (const id of taskIds) {
      const holders = (await f.assignments(id)).map((a) => a.provider).sort();
      assert.ok(!forbidden.has(holders.join()), `funder kin got both replicas: ${holders}`);
      if (holders.length === 2) paired++;
    }
    assert.ok(paired >= 4, `most tasks got both replicas (${paired} of 6)`);
  } finally {
    await f.close();
  }
});
