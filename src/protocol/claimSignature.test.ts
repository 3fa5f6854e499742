import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { claimSignatureProblem, signEpochClaim } from './claimSignature.ts';

const key = privateKeyToAccount(`0x${'4e'.repeat(32)}`);
const other = privateKeyToAccount(`0x${'4f'.repeat(32)}`);
const target = { chainId: 31337, settlement: `0x${'5e'.repeat(20)}` as Address };
const hash = `0x${'ab'.repeat(32)}` as Hex;

test('a claim signature binds the key, the epoch, the evidence hash and the contract', async () => {
  const sig = await signEpochClaim(key, target, 4, hash);
  assert.deepEqual(await signEpochClaim(key, target, 4, hash), sig, 'deterministic: replicas agree');
  assert.equal(await claimSignatureProblem(sig, key.address, target, 4, hash), null);
  assert.equal(await claimSignatureProblem(null, key.address, target, 4, hash), 'unsigned');
  assert.equal(
    await claimSignatureProblem({ signer: key.address }, key.address, target, 4, hash),
    'unsigned',
  );
  assert.match((await claimSignatureProblem(sig, other.address, target, 4, hash))!, /^signed by 0x/);
  assert.notEqual(await claimSignatureProblem(sig, key.address, target, 5, hash), null, 'another epoch');
  assert.notEqual(
    await claimSignatureProblem(sig, key.address, target, 4, `0x${'ac'.repeat(32)}`),
    null,
    'another bundle',
  );
  const elsewhere = { ...target, settlement: `0x${'77'.repeat(20)}` as Address };
  assert.notEqual(
    await claimSignatureProblem(sig, key.address, elsewhere, 4, hash),
    null,
    'another contract',
  );
  assert.equal(
    await claimSignatureProblem({ signature: '0x1234' }, key.address, target, 4, hash),
    'an unreadable signature',
  );
});
