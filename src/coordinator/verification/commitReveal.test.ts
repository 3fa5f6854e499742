import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeAbiParameters, type Hex, keccak256, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { computeCommitment, verifyReveal } from '../../protocol/commitment.ts';
import { CommitRevealRound } from './commitReveal.ts';

const alice = '0x00000000000000000000000000000000000a11ce' as const;
const bob = '0x0000000000000000000000000000000000000b0b' as const;
const digest = keccak256(toHex('output'));
const salt = keccak256(toHex('salt'));

test('a reveal opens only its own commitment (task, provider, digest and salt are all bound)', () => {
  const c = computeCommitment({ taskId: 't1', provider: alice, outputDigest: digest, salt });
  assert.ok(
    verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: digest, salt } }),
    "verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: digest, salt...",
  );
  assert.ok(
    !verifyReveal({ taskId: 't2', provider: alice, commitment: c, reveal: { outputDigest: digest, salt } }),
    "!verifyReveal({ taskId: 't2', provider: alice, commitment: c, reveal: { outputDigest: digest, sal...",
  );
  assert.ok(
    !verifyReveal({ taskId: 't1', provider: bob, commitment: c, reveal: { outputDigest: digest, salt } }),
    "!verifyReveal({ taskId: 't1', provider: bob, commitment: c, reveal: { outputDigest: digest, salt ...",
  );
  const other = keccak256(toHex('other'));
  assert.ok(
    !verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: other, salt } }),
    "!verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: other, salt...",
  );
  assert.ok(
    !verifyReveal({
      taskId: 't1',
      provider: alice,
      commitment: c,
      reveal: { outputDigest: digest, salt: other },
    }),
    "!verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: digest, sal...",
  );
  assert.ok(
    !verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: '0x12', salt } }),
    "!verifyReveal({ taskId: 't1', provider: alice, commitment: c, reveal: { outputDigest: '0x12', sal...",
  );
});

test('no reveal before everyone committed, no commit after reveals began (copying is impossible)', () => {
  const round = new CommitRevealRound('t1', [alice, bob]);
  const ca = computeCommitment({ taskId: 't1', provider: alice, outputDigest: digest, salt });
  round.commit(alice, ca);
  assert.equal(round.phase, 'commit');
  assert.throws(
    () => round.reveal(alice, { outputDigest: digest, salt }),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_REVEAL_TOO_EARLY'),
  );
  assert.throws(
    () => round.commit(alice, ca),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_DUPLICATE'),
  );
  // Bob copies Alice's digest after seeing it: his commitment must bind his own address, so
  // reusing Alice's commitment fails to open for him.
  round.commit(bob, ca);
  assert.equal(round.phase, 'reveal');
  assert.equal(round.reveal(alice, { outputDigest: digest, salt }), true);
  assert.equal(round.reveal(bob, { outputDigest: digest, salt }), false);
  const carol = '0x00000000000000000000000000000000000ca401' as const;
  assert.throws(
    () => round.commit(carol, ca),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_NOT_ASSIGNED'),
  );
});

test('an open round stays in the commit phase until sealed; a dropped member unblocks the others', () => {
  const round = new CommitRevealRound('t2');
  round.add(alice);
  round.commit(alice, computeCommitment({ taskId: 't2', provider: alice, outputDigest: digest, salt }));
  assert.equal(round.phase, 'commit', 'bob may still be assigned');
  round.add(bob);
  round.seal();
  assert.equal(round.phase, 'commit');
  round.drop(bob);
  assert.equal(round.phase, 'reveal');
  assert.throws(
    () => round.add(bob),
    (e) => isPlexusError(e, 'PLX_VERIFICATION_COMMIT_CLOSED'),
  );
  assert.ok(
    round.reveal(alice, { outputDigest: digest, salt }),
    'round.reveal(alice, { outputDigest: digest, salt })',
  );
});

test('the commitment is sha256 over the ABI encoding (recomputable on chain)', async () => {
  const { encodeAbiParameters, sha256 } = await import('viem');
  const c = computeCommitment({ taskId: 't1', provider: alice, outputDigest: digest, salt });
  const enc = encodeAbiParameters(
    [{ type: 'string' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }],
    ['t1', alice, digest, salt],
  );
  assert.equal(c, sha256(enc));
  // Checksummed and lowercase spellings of the same address commit to the same value.
  const mixed = '0x00000000000000000000000000000000000A11cE' as const;
  assert.equal(computeCommitment({ taskId: 't1', provider: mixed, outputDigest: digest, salt }), c);
});

test('the commitment is sha256 of the standard ABI encoding (as a contract would compute it)', () => {
  const reference = (a: { taskId: string; provider: Hex; outputDigest: Hex; salt: Hex }) =>
    `0x${createHash('sha256')
      .update(
        Buffer.from(
          encodeAbiParameters(
            [{ type: 'string' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }],
            [a.taskId, a.provider.toLowerCase() as Hex, a.outputDigest, a.salt],
          ).slice(2),
          'hex',
        ),
      )
      .digest('hex')}`;
  const hex32 = () => `0x${randomBytes(32).toString('hex')}` as Hex;
  for (const taskId of [
    '',
    't',
    'x'.repeat(31),
    'x'.repeat(32),
    'x'.repeat(33),
    hex32(),
    'tâche ✓ 任务',
    '\ud800',
  ]) {
    const args = {
      taskId,
      provider: privateKeyToAccount(hex32()).address,
      outputDigest: hex32(),
      salt: hex32(),
    };
    assert.equal(computeCommitment(args), reference(args), `task id ${JSON.stringify(taskId)}`);
  }
  const args = { taskId: 't', provider: alice, outputDigest: hex32(), salt: hex32() };
  assert.throws(() => computeCommitment({ ...args, salt: `${args.salt}00` as Hex }), /salt/);
  assert.throws(() => computeCommitment({ ...args, outputDigest: `0x${'zz'.repeat(32)}` }), /outputDigest/);
});

test("protocol v3: each member's reveal is checked against its own execution's reference; no ref means the task id", () => {
  const refA = `0x${'a1'.repeat(32)}`;
  const refB = `0x${'b2'.repeat(32)}`;
  const round = new CommitRevealRound('task-1', [alice, bob]);
  // Alice committed over her lease's id; Bob's logged commit has no ref (before v3): the task id.
  round.commit(alice, computeCommitment({ taskId: refA, provider: alice, outputDigest: digest, salt }), refA);
  round.commit(bob, computeCommitment({ taskId: 'task-1', provider: bob, outputDigest: digest, salt }));
  assert.equal(round.reveal(alice, { outputDigest: digest, salt }), true, 'opens over her lease id');
  assert.equal(round.reveal(bob, { outputDigest: digest, salt }), true, 'opens over the task id');
  // A commitment over another member's reference (or the task id) does not open under one's own.
  const r2 = new CommitRevealRound('task-1', [alice]);
  r2.commit(alice, computeCommitment({ taskId: refB, provider: alice, outputDigest: digest, salt }), refA);
  assert.equal(r2.reveal(alice, { outputDigest: digest, salt }), false);
});
