/**
 * Lease ids bound to their task (evidence version 11, docs/validators.md "Which task a provider
 * signed over"): a provider signs over its lease's opaque id only; the id is keccak256(abi.encode(
 * taskId, provider, salt)) and the bundle publishes the salt, so a signed result cannot be moved
 * to another task under the same lease.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import type { ChargeFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { decodeEvidence, EVIDENCE_VERSION, encodeEvidence } from '../coordinator/settlement/evidence.ts';
import { signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import { bindingsOf, boundLeaseId, leaseBindingError, taskRefOf } from '../protocol/taskRef.ts';
import { checkFacts } from './checkFacts.ts';
import { CHAIN_ID, cheater, honestEpoch, provider, providerKey, SETTLEMENT } from './factsFixture.ts';

const SALT = `0x${'5a'.repeat(32)}` as Hex;

/** The honest epoch's charge moved onto lease `lease`, its result signed again over that lease. */
async function onLease(facts: EpochFacts, lease: Hex, salts: Record<string, Hex>): Promise<EpochFacts> {
  const c = facts.charges[0] as ChargeFact;
  const r = c.result;
  const signature = await signPlexusMessage(providerKey, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId: lease,
    taskId: taskRefOf(lease),
    outputCid: cidToBytes32(r.outputCid),
    wallMs: BigInt(r.usage.wallMs),
    cpuMs: BigInt(r.usage.cpuMs),
    peakRssBytes: BigInt(r.usage.peakRssBytes),
    issuedAt: BigInt(r.issuedAt),
  });
  const charge = { ...c, ref: `exec:${lease}`, assignmentId: lease, result: { ...r, signature } };
  return { ...facts, charges: [charge], leaseSalts: salts };
}

test('version 11: an honest bundle whose lease id derives from its task, provider and salt is signed, and survives packing', async () => {
  const { inputs, facts } = await honestEpoch();
  const task = facts.charges[0]!.taskId;
  const lease = boundLeaseId(task, provider, SALT);
  const bound = await onLease(facts, lease, { [lease]: SALT });
  assert.equal(await checkFacts(bound, inputs, CHAIN_ID), null);
  const { text } = encodeEvidence({
    version: EVIDENCE_VERSION,
    epoch: inputs.epoch,
    chainId: CHAIN_ID,
    settlement: SETTLEMENT,
    prevHash: `0x${'00'.repeat(32)}`,
    inputs,
    facts: bound,
  });
  assert.ok(EVIDENCE_VERSION >= 11, `bundles are written as version 11 or later, not ${EVIDENCE_VERSION}`);
  const back = decodeEvidence(text).bundle;
  assert.deepEqual(back.facts.leaseSalts, { [lease]: SALT });
  assert.equal(await checkFacts(back.facts, back.inputs, CHAIN_ID), null);
});

test('version 11: a signed result moved to another task under the same lease is refused, the lease named', async () => {
  const { inputs, facts } = await honestEpoch();
  // The provider executed (and signed for) a lease of another task; the coordinator charges it as
  // an execution of this epoch's task.
  const elsewhere = `0x${'77'.repeat(32)}` as Hex;
  const lease = boundLeaseId(elsewhere, provider, SALT);
  const moved = await onLease(facts, lease, { [lease]: SALT });
  const dispute = await checkFacts(moved, inputs, CHAIN_ID);
  assert.equal(dispute?.fact, `charge[exec:${lease}].lease`);
  // A salt for another lease does not help either.
  const wrongSalt = await onLease(facts, lease, { [lease]: `0x${'5b'.repeat(32)}` });
  assert.equal((await checkFacts(wrongSalt, inputs, CHAIN_ID))?.fact, `charge[exec:${lease}].lease`);
});

test('a lease without a published salt: legacy before LEASE_BINDING_SINCE_SEC or in an older bundle, else refused', () => {
  const task = `0x${'71'.repeat(32)}` as Hex;
  const lease = `0x${'a9'.repeat(32)}` as Hex; // a random (pre-0066) lease id
  const since = 2_000_000_000;
  assert.equal(bindingsOf({}, since)(provider, since - 1).legacyAllowed, true);
  assert.equal(bindingsOf(undefined, since)(provider, since + 1).legacyAllowed, true);
  const b = bindingsOf({}, since)(provider, since);
  assert.equal(b.legacyAllowed, false);
  assert.equal(
    leaseBindingError(lease, task, provider, b.salts, b.legacyAllowed),
    'no salt published for the lease',
  );
  const bound = boundLeaseId(task, provider, SALT);
  assert.equal(leaseBindingError(bound, task, provider, { [bound]: SALT }, false), null);
  assert.match(String(leaseBindingError(bound, task, cheater, { [bound]: SALT }, false)), /keccak/);
});
