/**
 * Reopening a disputed epoch (src/coordinator/settlement/reopenEpochs.ts) on a real chain (anvil)
 * and a real store: a dishonest close (a provider's earnings +1 in its claim) is reopened and closed
 * again from the store; the new claim is the honest one, nothing is posted twice, the books still
 * verify. A first close whose books (not only its claim) were wrong is not silently re-closed, and
 * an epoch sent to the chain is never reopened.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { createPublicClient, createWalletClient, type Hex, http, keccak256, toBytes } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { getSettlementState } from '../src/chain/actions/coordinator/getSettlementState.ts';
import { connectPlexus } from '../src/chain/connectPlexus.ts';
import { deployPlexus } from '../src/chain/deployPlexus.ts';
import { type AnvilInstance, startAnvil } from '../src/chain/startAnvil.ts';
import type { PlexusWriter } from '../src/chain/types.ts';
import { postEntry } from '../src/coordinator/ledger/postEntry.ts';
import { verifyLedger } from '../src/coordinator/ledger/verifyLedger.ts';
import { createMarket, type Market } from '../src/coordinator/market/createMarket.ts';
import { createEpochClock } from '../src/coordinator/market/epochClock.ts';
import { closeEpoch, type EpochTamper } from '../src/coordinator/settlement/closeEpoch.ts';
import { decodeEvidence } from '../src/coordinator/settlement/evidence.ts';
import { reopenEpochs } from '../src/coordinator/settlement/reopenEpochs.ts';
import { openStore, type Store } from '../src/coordinator/store/openStore.ts';
import { createLogger } from '../src/logger.ts';
import { signSensorMessage } from '../src/sensors/identity/sensorMessages.ts';
import { datasetQueryHash, datasetQuerySchema } from '../src/sensors/protocol.ts';
import { verifyEpoch } from '../src/validator/verifyEpoch.ts';

const EPOCH_S = 3600;
const clientKey = privateKeyToAccount(`0x${'c1'.repeat(32)}`);
const CLIENT = clientKey.address.toLowerCase();
const PROVIDER = `0x${'a1'.repeat(20)}`;
let anvil: AnvilInstance;
let chain: PlexusWriter;
let genesisMs: number;
let store: Store;
let market: Market;

/** The claim's rewards leaves: account → cumulative amount. */
async function leaves(epoch: number): Promise<Map<string, bigint>> {
  const row = await store.db
    .selectFrom('epochs')
    .select('tree')
    .where('epoch', '=', epoch)
    .executeTakeFirstOrThrow();
  const tree = StandardMerkleTree.load(JSON.parse(row.tree!));
  return new Map([...tree.entries()].map(([, [a, v]]) => [String(a).toLowerCase(), BigInt(v as string)]));
}

/** What a validator decides about the stored bundle and claim of `epoch` (src/validator/verifyEpoch.ts). */
async function validatorVerdict(epoch: number, prevHash: Hex | null) {
  const row = await store.db
    .selectFrom('epochs')
    .selectAll()
    .where('epoch', '=', epoch)
    .executeTakeFirstOrThrow();
  const evidence = await store.db
    .selectFrom('epoch_evidence')
    .select('body')
    .where('epoch', '=', epoch)
    .executeTakeFirstOrThrow();
  const leaves = (JSON.parse(row.tree!) as { values: { value: [string, string] }[] }).values.map((v) => ({
    account: v.value[0].toLowerCase(),
    cumulativeAmount: v.value[1],
  }));
  return verifyEpoch({
    evidence: evidence.body,
    claim: { epoch, payload: JSON.parse(row.payload!), leaves },
    target: { chainId: anvil.chain.id, settlement: chain.addresses.settlement },
    prevHash,
  });
}

const close = (epoch: number, tamper?: EpochTamper) =>
  closeEpoch({
    db: store.db,
    market,
    chain,
    epoch,
    emissionPerEpoch: 0n,
    now: genesisMs + (epoch * EPOCH_S + 10) * 1000,
    ...(tamper ? { tamper } : {}),
  });

/** A dishonest claim whose aggregates agree: the provider +1, the fees −1 (as in crashingCoordinator.ts). */
const raiseEarnings: EpochTamper = (inputs) => {
  const account = `provider:${PROVIDER}:earnings`;
  inputs.providerBalances.find((x) => x.account === account)!.balance -= 1n;
  const add = (a: string, v: bigint) => {
    const b = inputs.epochBalances.find((x) => x.account === a);
    if (b) b.balance += v;
    else inputs.epochBalances.push({ account: a, balance: v });
  };
  add(account, -1n);
  add('protocol:fees', 1n);
};

before(async () => {
  anvil = await startAnvil({ accounts: 1 });
  const [k0] = anvil.privateKeys as [Hex];
  const transport = http(anvil.rpcUrl);
  const publicClient = createPublicClient({ chain: anvil.chain, transport });
  const walletClient = createWalletClient({
    account: privateKeyToAccount(k0),
    chain: anvil.chain,
    transport,
  });
  const deployment = await deployPlexus({
    publicClient: publicClient as PlexusWriter['publicClient'],
    walletClient,
    validators: [walletClient.account.address],
    threshold: 1,
    epochDuration: BigInt(EPOCH_S),
    withdrawalDelay: BigInt(EPOCH_S),
  });
  chain = connectPlexus({ rpcUrl: anvil.rpcUrl, chainId: anvil.chain.id, addresses: deployment }, k0);
  genesisMs = Number((await getSettlementState(chain)).genesisTime) * 1000;
});

beforeEach(async () => {
  await store?.close();
  store = await openStore({ path: ':memory:' });
  const log = createLogger('test', { level: 'silent' });
  const clock = createEpochClock(genesisMs, EPOCH_S * 1000);
  market = createMarket({ db: store.db, clock, chain, log, now: () => genesisMs + 10_000 });
  for (const epoch of [1, 2])
    await store.db
      .insertInto('epochs')
      .values({
        epoch,
        status: 'open',
        starts_at: clock.startsAt(epoch),
        ends_at: clock.endsAt(epoch),
        payload: null,
        tree: null,
        summary: null,
        signatures: null,
        tx_hash: null,
        settled_at: null,
        updated_at: genesisMs,
      })
      .execute();
  // Epoch 1: a client bought 10 readings at 100 (a dataset sale it signed): 1000 base units, 950
  // to the devices' owner, 50 in fees. The client has no escrow on chain, so the close also posts
  // bad debt: entries a re-close must match.
  const query = datasetQuerySchema.parse({ bbox: '0,0,1,1', from: 0, to: 1, variables: 'pm25' });
  const issuedAt = Math.floor(genesisMs / 1000);
  const signature = await signSensorMessage(clientKey, anvil.chain.id, 'DatasetRequest', {
    client: clientKey.address,
    queryHash: datasetQueryHash(query),
    nonce: 1n,
    maxCost: 1000n,
    issuedAt: BigInt(issuedAt),
  });
  const purchaseId = keccak256(toBytes(`dataset:${CLIENT}:1`));
  await store.db
    .insertInto('sensor_purchases')
    .values({
      id: purchaseId,
      client: CLIENT,
      nonce: '1',
      query: JSON.stringify(query),
      readings: 10,
      amount: '1000',
      created_at: genesisMs + 60_000,
      auth: JSON.stringify({ maxCost: '1000', issuedAt, signature }),
      owners: JSON.stringify({ [PROVIDER]: '10' }),
    })
    .execute();
  await postEntry(
    store.db,
    {
      ref: `dataset:${purchaseId}`,
      kind: 'dataset-charge',
      epoch: 1,
      memo: { purchase: purchaseId, readings: 10, pricePerReading: '100' },
      postings: [
        { account: `client:${CLIENT}:unsettled`, amount: 1000n },
        { account: `provider:${PROVIDER}:earnings`, amount: -950n },
        { account: 'protocol:fees', amount: -50n },
      ],
    },
    genesisMs + 60_000,
  );
});

after(async () => {
  await store?.close();
  await anvil?.stop();
});

test('a dishonest claim is reopened and closed again honestly; nothing is posted twice', async () => {
  // A reputation change the first close reports (issue 17, the journal validators replay).
  await store.db
    .insertInto('reputation_journal')
    .values({ provider: PROVIDER.toLowerCase(), kind: 'valid', at: genesisMs, detail: null })
    .execute();
  const journalOf = async () => {
    const row = await store.db.selectFrom('epoch_evidence').select('body').executeTakeFirstOrThrow();
    return decodeEvidence(row.body).bundle.facts.reputation ?? [];
  };
  await close(1, raiseEarnings);
  assert.equal((await journalOf()).length, 1, 'the first close reports the change');
  assert.equal((await leaves(1)).get(PROVIDER), 951n, 'the dishonest claim');
  const refused = await validatorVerdict(1, null);
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.fact, /earnings/, 'a validator refuses it');
  const entriesBefore = (await store.db.selectFrom('ledger_entries').select('ref').execute()).length;
  const evidenceBefore = await store.db.selectFrom('epoch_evidence').select('hash').executeTakeFirstOrThrow();

  assert.deepEqual(await reopenEpochs(store.db, { from: 1, now: genesisMs }), [1]);
  const reopened = await store.db
    .selectFrom('epochs')
    .selectAll()
    .where('epoch', '=', 1)
    .executeTakeFirstOrThrow();
  assert.equal(reopened.status, 'open');
  assert.equal(reopened.payload, null);
  assert.equal(await store.db.selectFrom('epoch_evidence').select('hash').executeTakeFirst(), undefined);

  await close(1);
  assert.equal((await leaves(1)).get(PROVIDER), 950n, 'the honest claim');
  const accepted = await validatorVerdict(1, null);
  assert.ok(accepted.ok, `a validator accepts the re-closed epoch (${accepted.ok ? '' : accepted.fact})`);
  assert.deepEqual(
    (await journalOf()).map((e) => e.kind),
    ['valid'],
    'the re-closed bundle reports the reputation change again',
  );
  const evidenceAfter = await store.db.selectFrom('epoch_evidence').select('hash').executeTakeFirstOrThrow();
  assert.notEqual(evidenceAfter.hash, evidenceBefore.hash, 'a new bundle');
  const refs = (await store.db.selectFrom('ledger_entries').select('ref').execute()).map((r) => r.ref);
  assert.equal(refs.length, entriesBefore, 'the settlement entries of the first close are not posted again');
  assert.ok(refs.includes(`epoch:1:bad-debt:${CLIENT}`), 'the shortfall became bad debt');
  const report = await verifyLedger(store.db);
  assert.deepEqual(report.problems, []);
});

test('reopening from a disputed epoch reopens every later closed epoch, and they close again in order', async () => {
  await close(1, raiseEarnings);
  await close(2, raiseEarnings);
  assert.equal((await leaves(2)).get(PROVIDER), 951n);
  assert.deepEqual(await reopenEpochs(store.db, { from: 1, now: genesisMs }), [1, 2]);
  await close(1);
  await close(2);
  assert.equal((await leaves(2)).get(PROVIDER), 950n, 'cumulative earnings, honest again');
  const [e1, e2] = await store.db.selectFrom('epoch_evidence').selectAll().orderBy('epoch').execute();
  assert.equal(e2!.prev_hash, e1!.hash, 'the new bundles are chained');
  for (const [epoch, prev] of [
    [1, null],
    [2, e1!.hash as Hex],
  ] as const) {
    const v = await validatorVerdict(epoch, prev);
    assert.ok(v.ok, `epoch ${epoch} re-closed passes a validator (${v.ok ? '' : v.fact})`);
  }
});

test('a first close that posted wrong entries is not re-closed over them', async () => {
  // Dishonest books, not only a dishonest claim: the client is settled 1 base unit more.
  await close(1, (inputs) => {
    inputs.unsettled[0]!.amount += 1n;
  });
  await reopenEpochs(store.db, { from: 1, now: genesisMs });
  await assert.rejects(close(1), (err: Error & { code?: string }) => err.code === 'PLX_EPOCH_REOPEN');
  const row = await store.db
    .selectFrom('epochs')
    .select('status')
    .where('epoch', '=', 1)
    .executeTakeFirstOrThrow();
  assert.equal(row.status, 'open', 'nothing was written');
});

test('an epoch sent to the chain, or one never closed, is not reopened', async () => {
  await close(1);
  await close(2);
  await store.db.updateTable('epochs').set({ status: 'submitted' }).where('epoch', '=', 2).execute();
  await assert.rejects(reopenEpochs(store.db, { from: 1, now: genesisMs }), /epoch 2 is submitted/);
  const rows = await store.db.selectFrom('epochs').select('status').orderBy('epoch').execute();
  assert.deepEqual(
    rows.map((r) => r.status),
    ['closing', 'submitted'],
    'nothing changed',
  );
  await store.db.updateTable('epochs').set({ status: 'open' }).where('epoch', '=', 2).execute();
  await assert.rejects(reopenEpochs(store.db, { from: 2, now: genesisMs }), /not closed/);
});

test('an epoch is closed with each provider capability as of its end: a proof answered later changes nothing', async () => {
  const endsAt = genesisMs + EPOCH_S * 1000;
  const hardware = JSON.stringify({ cpu: { cores: 2, model: 'x' }, memoryGiB: 4, gpus: [] });
  await store.db
    .insertInto('providers')
    .values({
      address: PROVIDER,
      hardware,
      slots: 1,
      region: 'eu',
      agent_version: 't',
      connected: 1,
      first_seen: genesisMs,
      last_seen: genesisMs,
      tasks_completed: 0,
      tasks_failed: 0,
      reputation: null,
      // The live view after a restart: the latest proof (answered after the epoch) was slow.
      capability: JSON.stringify({ class: 'cpu', proven: false, gflops: 2.5 }),
    })
    .execute();
  const proof = (id: string, outcome: 'passed' | 'slow', gflops: number, at: number) => ({
    challenge_id: id,
    provider: PROVIDER,
    hardware_class: 'cpu',
    n: 256,
    outcome,
    elapsed_ms: 10,
    gflops,
    reason: 'test',
    created_at: at,
    // Signed (0079): only a signed passing proof counts for emission (capabilityEvidence.ts).
    signature: `0x${'11'.repeat(65)}`,
  });
  await store.db
    .insertInto('capability_proofs')
    .values([proof('a', 'passed', 3, endsAt - 60_000), proof('b', 'slow', 2.5, endsAt + 5_000)])
    .execute();
  let seen: string | null | undefined;
  await close(1, (inputs) => {
    seen = inputs.providers.find((p) => p.address === PROVIDER)?.capability;
  });
  assert.ok(seen, 'the provider has a capability in the inputs');
  const c = JSON.parse(seen!) as { proven: boolean; gflops: number };
  assert.deepEqual([c.proven, c.gflops], [true, 3], 'the proof before the epoch ended, not the live view');
});

test('a re-close that no longer computes an entry its first close posted stops (no claim the chain cannot back)', async () => {
  // The first close slashed the provider (a request the store does not hold): the entry is in the
  // books. The re-close computes no slash; keeping the stale entry would put its amount in later
  // epochs' claims while this epoch's payload never takes it on chain.
  await close(1, (inputs) => {
    inputs.slashRequests.push({ id: 999, provider: PROVIDER, amount: 5n });
    inputs.stakeHeld.push({ provider: PROVIDER, held: 10n });
  });
  await reopenEpochs(store.db, { from: 1, now: genesisMs });
  await assert.rejects(
    close(1),
    (err: Error & { code?: string }) => err.code === 'PLX_EPOCH_REOPEN' && /slash/.test(err.message),
  );
});
