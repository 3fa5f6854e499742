import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createPublicClient, createWalletClient, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { registerProvider } from '../../chain/actions/provider/registerProvider.ts';
import { transferPlx } from '../../chain/actions/transferPlx.ts';
import { connectPlexus } from '../../chain/connectPlexus.ts';
import { DEFAULT_MIN_STAKE, PLX } from '../../chain/constants.ts';
import { deployPlexus, type PlexusDeployment } from '../../chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../../chain/startAnvil.ts';
import type { PlexusWriter } from '../../chain/types.ts';
import { newReputation } from '../verification/reputation.ts';
import { chainFunderOf } from './funders.ts';
import { fundingChain, kinOf, MAX_FUNDED_FAMILY } from './kinship.ts';
import { providerConnected } from './sessions.ts';
import { type ScriptedProvider, workFixture } from './workFixture.ts';

let anvil: AnvilInstance;
let deployment: PlexusDeployment;
const writer = (key: Hex): PlexusWriter =>
  connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, key);

before(async () => {
  anvil = await startAnvil({ accounts: 8 });
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

/** Marks providers trusted and connects them with `slots` slots each. */
async function connectTrusted(f: Awaited<ReturnType<typeof workFixture>>, ps: ScriptedProvider[], slots = 4) {
  for (const p of ps) {
    f.state.reputations.set(p.address, {
      ...newReputation(f.clock.t),
      alpha: 40,
      consecutiveValid: 20,
      verifiedValid: 20,
    });
    await providerConnected(f.state, f.work, p.link, p.hello(slots));
  }
}

/** Waits until every listed provider's funder lookup answered (generous deadline). */
async function lookedUp(f: Awaited<ReturnType<typeof workFixture>>, addresses: string[]) {
  const end = Date.now() + 60_000;
  while (addresses.some((a) => f.state.identities.get(a)?.funder === undefined)) {
    assert.ok(Date.now() < end, 'funder look-ups did not finish');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('funder kin through an intermediary wallet: A funds X funds P1 and A funds P2 — P1 and P2 never execute one task together (one hop of the old lookup missed it)', async () => {
  const [treasuryKey, , , aKey, xKey] = anvil.privateKeys as Hex[];
  const treasury = writer(treasuryKey!);
  const a = writer(aKey!);
  const x = writer(xKey!);
  const funderOf = chainFunderOf(treasury);
  const f = await workFixture({ funderOf });
  try {
    const [p1, p2, p3] = [await f.provider(), await f.provider(), await f.provider()];
    await transferPlx(treasury, a.walletClient.account.address, 100n * PLX);
    await transferPlx(a, x.walletClient.account.address, 20n * PLX);
    await transferPlx(x, p1.address, 10n * PLX);
    await transferPlx(a, p2.address, 10n * PLX);
    await transferPlx(treasury, p3.address, 10n * PLX);
    const [xAddr, aAddr] = [
      x.walletClient.account.address.toLowerCase(),
      a.walletClient.account.address.toLowerCase(),
    ];
    assert.deepEqual(await fundingChain(funderOf, p1.address), [xAddr, aAddr]);
    assert.deepEqual(await fundingChain(funderOf, p2.address), [aAddr]);
    assert.deepEqual(await fundingChain(funderOf, p3.address), []);
    await connectTrusted(f, [p1, p2, p3]);
    await lookedUp(f, [p1.address, p2.address, p3.address]);
    assert.deepEqual([...kinOf(f.state, [p1.address]).funder], [p2.address]);
    assert.deepEqual([...kinOf(f.state, [p2.address]).funder], [p1.address]);
    assert.deepEqual([...kinOf(f.state, [p3.address]).funder], []);
    const { taskIds } = await f.submitJob({ tasks: 6, verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    const ring = [p1.address, p2.address].sort().join();
    for (const id of taskIds) {
      const holders = (await f.assignments(id)).map((r) => r.provider).sort();
      assert.notEqual(holders.join(), ring, 'P1 and P2 got replicas of one task');
    }
  } finally {
    await f.close();
  }
});

test('two providers whose funder look-ups are still pending are never replicas of one task (pending is unknown, not "no funder")', async () => {
  const treasury = writer(anvil.privateKeys[0] as Hex);
  const real = chainFunderOf(treasury);
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const f = await workFixture({ funderOf: async (account) => gate.then(() => real(account)) });
  try {
    const [q1, q2] = [await f.provider(), await f.provider()];
    await connectTrusted(f, [q1, q2]);
    assert.deepEqual([...kinOf(f.state, [q1.address]).funder], [q2.address], 'pending and pending are kin');
    const { taskIds } = await f.submitJob({ tasks: 4, verification: { policy: 'redundant', k: 2 } });
    await f.work.dispatch();
    await f.idle();
    for (const id of taskIds)
      assert.ok((await f.assignments(id)).length <= 1, 'both pending providers on one task');
    // The look-ups answer (nobody that tells anything funded either): no longer kin.
    open();
    await lookedUp(f, [q1.address, q2.address]);
    assert.deepEqual([...kinOf(f.state, [q1.address]).funder], []);
  } finally {
    await f.close();
  }
});

test('the hub exemption counts distinct registered providers only: a ring wallet that funds throwaway identities (sessions, no stake) does not become a "faucet"', async () => {
  const keys = anvil.privateKeys as Hex[];
  const treasury = writer(keys[0]!);
  const hubFaker = writer(keys[5]!);
  const [r1, r2] = [writer(keys[6]!), writer(keys[7]!)];
  const funderOf = chainFunderOf(treasury);
  const f = await workFixture({ funderOf });
  try {
    await transferPlx(treasury, hubFaker.walletClient.account.address, 3_000n * PLX);
    for (const r of [r1, r2]) {
      await transferPlx(hubFaker, r.walletClient.account.address, DEFAULT_MIN_STAKE + 10n * PLX);
      await registerProvider(r, {
        stake: DEFAULT_MIN_STAKE,
        capabilitiesDigest: `0x${'11'.repeat(32)}`,
        region: 'test',
        uri: 'https://example.test',
      });
    }
    const ring = [await f.provider(keys[6]), await f.provider(keys[7])];
    // More throwaway identities than MAX_FUNDED_FAMILY, each funded by the ring wallet, each
    // connecting a session: every identity ever seen would have made the wallet a hub.
    const throwaways = [];
    for (let i = 0; i < MAX_FUNDED_FAMILY + 1; i++) {
      const t = await f.provider();
      await transferPlx(hubFaker, t.address, 1n * PLX);
      throwaways.push(t);
    }
    assert.equal(await funderOf.isRegistered!(ring[0]!.address), true);
    assert.equal(await funderOf.isRegistered!(throwaways[0]!.address), false);
    await connectTrusted(f, [...ring, ...throwaways], 1);
    await lookedUp(
      f,
      [...ring, ...throwaways].map((p) => p.address),
    );
    assert.ok(
      kinOf(f.state, [ring[0]!.address]).funder.has(ring[1]!.address),
      'the ring is still funder kin',
    );
  } finally {
    await f.close();
  }
});
