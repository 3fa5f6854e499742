import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { canonicalJson, hashCanonical } from './canonicalJson.ts';
import { plexusMessageHash, signPlexusMessage, verifyPlexusMessage } from './eip712.ts';

const alice = privateKeyToAccount(generatePrivateKey());
const mallory = privateKeyToAccount(generatePrivateKey());
const now = 1_800_000_000;
const message = {
  client: alice.address,
  specHash: hashCanonical({ a: 1 }),
  nonce: 7n,
  maxPricePerUnit: 10n ** 16n,
  issuedAt: BigInt(now),
};

test('canonical JSON ignores key order, so the spec hash does too', () => {
  assert.equal(canonicalJson({ b: [1, { d: 1, c: 2 }], a: 'x' }), '{"a":"x","b":[1,{"c":2,"d":1}]}');
  assert.equal(hashCanonical({ x: 1, y: 2 }), hashCanonical({ y: 2, x: 1 }));
});

test('a signature verifies for its signer, chain and message only', async () => {
  const signature = await signPlexusMessage(alice, 31337, 'JobSubmission', message);
  const base = {
    chainId: 31337,
    primaryType: 'JobSubmission' as const,
    message,
    signature,
    expectedSigner: alice.address,
    nowSec: now,
  };
  await verifyPlexusMessage(base);
  const refused = async (over: Partial<typeof base>, code: string) =>
    assert.rejects(verifyPlexusMessage({ ...base, ...over }), (e) => isPlexusError(e) && e.code === code);
  await refused({ expectedSigner: mallory.address }, 'PLX_BAD_SIGNATURE');
  await refused({ chainId: 1 }, 'PLX_BAD_SIGNATURE');
  await refused({ message: { ...message, nonce: 8n } }, 'PLX_BAD_SIGNATURE');
  await refused(
    { signature: await signPlexusMessage(mallory, 31337, 'JobSubmission', message) },
    'PLX_BAD_SIGNATURE',
  );
  await refused({ signature: '0x1234' }, 'PLX_BAD_SIGNATURE');
  await refused({ nowSec: now + 301 }, 'PLX_STALE_MESSAGE');
  await refused({ nowSec: now - 301 }, 'PLX_STALE_MESSAGE');
});

test('message hashes are distinct per chain and per nonce (job ids never collide)', () => {
  const h = plexusMessageHash(31337, 'JobSubmission', message);
  assert.notEqual(h, plexusMessageHash(1, 'JobSubmission', message));
  assert.notEqual(h, plexusMessageHash(31337, 'JobSubmission', { ...message, nonce: 8n }));
  assert.notEqual(h, plexusMessageHash(31337, 'JobSubmission', { ...message, maxPricePerUnit: 1n }));
});
