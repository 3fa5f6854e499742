/**
 * Claims signed by the coordinator network's identity (protocol/claimSignature.ts,
 * docs/validators.md "Whose claim"), against real HTTP servers standing in for replicas and a real
 * validator (createValidator, its own SQLite store): a rogue server listed as a replica that serves
 * a different, internally consistent epoch — evidence and claim that recompute exactly — is not
 * signed; neither is the honest bundle with no signature or another key's; the honest, signed
 * claim is. A rogue listed first that keeps answering is left out: the validator reads the
 * network-signed bundle from the next replica and signs it, recording no dispute.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Hex, LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { EpochInputs } from '../src/coordinator/settlement/epochComputation.ts';
import { computeEpoch } from '../src/coordinator/settlement/epochComputation.ts';
import type { EpochFacts } from '../src/coordinator/settlement/epochFacts.ts';
import {
  EVIDENCE_VERSION,
  encodeEvidence,
  GENESIS_EVIDENCE_HASH,
} from '../src/coordinator/settlement/evidence.ts';
import { createLogger } from '../src/logger.ts';
import { signEpochClaim } from '../src/protocol/claimSignature.ts';
import { createValidator } from '../src/validator/createValidator.ts';
import { CHAIN_ID, honestEpoch, SETTLEMENT } from '../src/validator/factsFixture.ts';
import { openValidatorStore } from '../src/validator/validatorStore.ts';
import { type EpochClaim, verifyEpoch } from '../src/validator/verifyEpoch.ts';

const quiet = createLogger('test', { level: 'silent' });
const target = { chainId: CHAIN_ID, settlement: SETTLEMENT };
const network = privateKeyToAccount(`0x${'4e'.repeat(32)}`); // the network's identity
const rogueKey = privateKeyToAccount(`0x${'66'.repeat(32)}`);
const validatorKey = privateKeyToAccount(`0x${'77'.repeat(32)}`);

/** A bundle and the claim that recomputes from it exactly. */
function epochOf(inputs: EpochInputs, facts: EpochFacts) {
  const { text, hash } = encodeEvidence({
    version: EVIDENCE_VERSION,
    epoch: 3,
    ...target,
    prevHash: GENESIS_EVIDENCE_HASH,
    inputs,
    facts,
  });
  const o = computeEpoch(inputs, hash);
  const payload = JSON.parse(
    JSON.stringify(o.payload, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  ) as EpochClaim['payload'];
  const leaves = o.tree
    ? (JSON.parse(o.tree) as { values: { value: [string, string] }[] }).values.map((v) => ({
        account: v.value[0],
        cumulativeAmount: v.value[1],
      }))
    : [];
  return { text, hash, claim: { epoch: 3, payload, leaves } as EpochClaim };
}

const honest = await honestEpoch();
const real = epochOf(honest.inputs, honest.facts);
// The rogue's epoch: the cheater's slash left out, in the facts and the inputs alike, so every
// check the validator makes from the bundle holds.
const rogue = epochOf(
  { ...honest.inputs, slashRequests: [], stakeHeld: [] },
  { ...honest.facts, slashes: [] },
);

/** A replica: serves one epoch's evidence and claim, signed by `signer` (none: unsigned). */
async function replica(epoch: { text: string; hash: Hex; claim: EpochClaim }, signer?: LocalAccount) {
  const coordinator = signer ? await signEpochClaim(signer, target, 3, epoch.hash) : null;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    const json = (body: unknown) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/v1/epochs')
      return json({ epochs: [{ epoch: 3, status: 'closing', evidenceHash: epoch.hash }] });
    if (path === '/v1/epochs/3/evidence')
      return res
        .writeHead(200, { 'content-type': 'application/json', 'x-plexus-evidence-hash': epoch.hash })
        .end(epoch.text);
    if (path === '/v1/epochs/3/claim') return json({ ...epoch.claim, status: 'closing', coordinator });
    res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}
const close = (s: Server) =>
  new Promise<void>((r) => {
    s.close(() => r());
    s.closeAllConnections();
  });

/** One poll of a fresh validator following `urls` as one network; its decision about epoch 3. */
async function decide(urls: string[], coordinatorKey?: Hex) {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-claimsig-'));
  const store = openValidatorStore(join(dir, 'v.db'));
  const v = await createValidator({
    account: validatorKey,
    target,
    coordinators: [urls.join(',')],
    store,
    log: quiet,
    port: 0,
    ...(coordinatorKey ? { coordinatorKey } : {}),
  });
  try {
    await v.poll();
    const res = await fetch(`${v.url}/v1/epochs/3/signature`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, v, store, dir };
  } catch (err) {
    await v.stop();
    store.close();
    throw err;
  }
}
async function done(d: Awaited<ReturnType<typeof decide>>) {
  await d.v.stop();
  d.store.close();
  await rm(d.dir, { recursive: true, force: true });
}

test('the rogue epoch is internally consistent: without the network key a validator would sign it', async () => {
  const v = await verifyEpoch({ evidence: rogue.text, claim: rogue.claim, target, prevHash: null });
  assert.ok(v.ok, 'every check from the bundle holds');
  assert.notEqual(rogue.hash, real.hash);
  assert.equal(v.payload.slashes.length, 0);
  const R = await replica(rogue, rogueKey);
  try {
    const d = await decide([R.url]);
    assert.equal(d.status, 200, 'signed: the validator trusted whichever URL answered');
    await done(d);
  } finally {
    await close(R.server);
  }
});

test('a rogue replica serving another epoch is not signed; the network-signed claim is', async () => {
  const R = await replica(rogue, rogueKey);
  const U = await replica(rogue); // the same, unsigned
  const F = await replica(real, rogueKey); // the real bundle under another key
  const A = await replica(real, network);
  try {
    for (const [server, claimed] of [
      [R, `signed by ${rogueKey.address}`],
      [U, 'unsigned'],
      [F, `signed by ${rogueKey.address}`],
    ] as const) {
      // Alone, the foreign claim is a dispute.
      const d = await decide([server.url], network.address);
      assert.equal(d.status, 409, 'not signed');
      const dispute = d.body.dispute as Record<string, string>;
      assert.equal(dispute.fact, 'claim.signature');
      assert.equal(dispute.claimed, claimed);
      assert.equal(dispute.recomputed, `signed by ${network.address}`);
      assert.equal(d.store.disputes().length, 1);
      await done(d);
      // Listed first and answering, it is left out and the network's epoch is read from the next
      // replica and signed: no dispute, and the next polls stay off it.
      const first = await decide([server.url, A.url], network.address);
      assert.equal(first.status, 200, 'the network-signed epoch from the second replica is signed');
      assert.equal(first.body.evidenceHash, real.hash);
      assert.equal(first.store.disputes().length, 0, 'the foreign claim is not a dispute of the network');
      const health = (await (await fetch(`${first.v.url}/health`)).json()) as {
        following: { replica: string }[];
      };
      assert.equal(health.following[0]?.replica, A.url, 'the second replica is in use');
      const metrics = await (await fetch(`${first.v.url}/metrics`)).text();
      assert.match(metrics, /plexus_validator_foreign_claims_total 1\n/);
      await first.v.poll();
      assert.equal(first.store.disputes().length, 0);
      await done(first);
    }
    const ok = await decide([A.url], network.address);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.evidenceHash, real.hash);
    await done(ok);

    // Listed first, the rogue alone among replicas that do not answer: a dispute, as alone; once it
    // stops answering and the network's replica is back, the signed epoch is decided and signed.
    const down = await replica(real, network);
    const downUrl = down.url;
    await close(down.server);
    const d = await decide([R.url, downUrl], network.address);
    assert.equal(d.status, 409, 'no signed claim to be had: not signed');
    await close(R.server);
    const back = await replica(real, network);
    try {
      const d2 = await decide([R.url, back.url], network.address);
      assert.equal(d2.status, 200);
      assert.equal(d2.body.evidenceHash, real.hash);
      await done(d2);
    } finally {
      await close(back.server);
    }
    await done(d);
  } finally {
    await Promise.all([R, U, F, A].map((s) => close(s.server)));
  }
});
