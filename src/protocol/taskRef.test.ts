import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeAbiParameters, getAddress, type Hex, keccak256 } from 'viem';
import { boundLeaseId, leaseBindingError } from './taskRef.ts';

/** The definition: keccak256(abi.encode(taskId, provider, salt)) through viem. */
function reference(taskId: string, provider: string, salt: string): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'address' }, { type: 'bytes32' }],
      [taskId as Hex, provider as Hex, salt as Hex],
    ),
  );
}

const hex = (n: number) => `0x${randomBytes(n).toString('hex')}`;

test('boundLeaseId equals keccak256(abi.encode(taskId, provider, salt)) for every form of its values', () => {
  for (let i = 0; i < 200; i++) {
    const taskId = hex(32);
    const provider = hex(20);
    const salt = hex(32);
    const want = reference(taskId, provider, salt);
    assert.equal(boundLeaseId(taskId, provider, salt), want, 'lower-case values');
    assert.equal(
      boundLeaseId(taskId.toUpperCase().replace('0X', '0x'), provider, salt),
      want,
      'upper-case task id',
    );
    assert.equal(
      boundLeaseId(taskId, getAddress(provider), salt.toUpperCase().replace('0X', '0x')),
      want,
      'checksummed address',
    );
  }
});

test('boundLeaseId refuses what viem refuses: a short salt, a bad checksum', () => {
  const taskId = hex(32);
  const provider = hex(20);
  assert.throws(() => boundLeaseId(taskId, provider, hex(31)), 'a 31-byte salt is not a bytes32');
  const checksummed = getAddress(`0x${'ab'.repeat(20)}`);
  const broken = checksummed.replace(/[a-f]/, (c) => c.toUpperCase());
  assert.notEqual(broken, checksummed, 'the test changed one letter of the checksum');
  assert.throws(() => boundLeaseId(taskId, broken, hex(32)), 'a mixed-case address with a wrong checksum');
  assert.equal(
    leaseBindingError(`0x${'00'.repeat(32)}`, taskId, provider, { [`0x${'00'.repeat(32)}`]: '0x12' }, false),
    'salt 0x12 is not a bytes32',
    'a malformed published salt is reported, not thrown',
  );
});
