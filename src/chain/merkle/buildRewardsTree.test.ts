import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { encodeAbiParameters, type Hex, keccak256 } from 'viem';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { buildRewardsTree } from './buildRewardsTree.ts';

const a = '0x1111111111111111111111111111111111111111';
const b = '0x2222222222222222222222222222222222222222';
const c = '0x3333333333333333333333333333333333333333';

test('root, total and proofs match StandardMerkleTree and the contract leaf hash', () => {
  const rewards = buildRewardsTree([
    { account: a, cumulativeAmount: 5n },
    { account: b, cumulativeAmount: 7n },
    { account: c, cumulativeAmount: 0n },
  ]);
  assert.equal(rewards.totalEarned, 12n);
  const reference = StandardMerkleTree.of(
    [
      [a, 5n],
      [b, 7n],
      [c, 0n],
    ],
    ['address', 'uint256'],
  );
  assert.equal(rewards.root, reference.root);
  const claim = rewards.claimFor(b);
  assert.ok(claim, 'claim');
  assert.equal(claim.cumulativeAmount, 7n);
  // the leaf EpochSettlement.claim computes: keccak256(bytes.concat(keccak256(abi.encode(account, amount))))
  const leaf = keccak256(keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'uint256' }], [b, 7n])));
  assert.ok(
    StandardMerkleTree.verify(rewards.root, ['address', 'uint256'], [b, 7n], claim.proof),
    "StandardMerkleTree.verify(rewards.root, ['address', 'uint256'], [b, 7n], claim.proof)",
  );
  assert.equal(reference.leafHash([b, 7n]), leaf);
  assert.equal(rewards.claimFor('0x4444444444444444444444444444444444444444'), undefined);
  // a wrong amount does not verify
  assert.equal(
    StandardMerkleTree.verify(rewards.root, ['address', 'uint256'], [b, 8n], claim.proof as Hex[]),
    false,
  );
});

test('rejects empty trees, duplicate accounts and negative amounts', () => {
  const invalid = (f: () => unknown) => assert.throws(f, (err) => isPlexusError(err, 'PLX_VALIDATION'));
  invalid(() => buildRewardsTree([]));
  invalid(() =>
    buildRewardsTree([
      { account: a, cumulativeAmount: 1n },
      { account: a.toUpperCase().replace('0X', '0x') as Hex, cumulativeAmount: 2n },
    ]),
  );
  invalid(() => buildRewardsTree([{ account: a, cumulativeAmount: -1n }]));
});
