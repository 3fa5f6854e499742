import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Hex, hexToBigInt, numberToHex, recoverTypedDataAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { canonicalJson, hashCanonical } from './canonicalJson.ts';
import {
  hasNativeSecp256k1,
  plexusDomain,
  plexusMessageHash,
  plexusTypes,
  recoverSigner,
  signPlexusMessage,
  verifyPlexusMessage,
} from './eip712.ts';

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

test('native signer recovery agrees with viem, odd signatures included', async (t) => {
  // CI installs the secp256k1 package with its linux-x64 prebuild: say so if it did not load.
  if (!hasNativeSecp256k1()) t.diagnostic('native secp256k1 not available: both paths are viem');
  const digest = plexusMessageHash(31337, 'JobSubmission', message);
  const signature = await signPlexusMessage(alice, 31337, 'JobSubmission', message);
  const viemSays = await recoverTypedDataAddress({
    domain: plexusDomain(31337),
    types: plexusTypes,
    primaryType: 'JobSubmission',
    message,
    signature,
  });
  assert.equal(viemSays, alice.address);
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const r = signature.slice(0, 66) as Hex;
  const sHex = signature.slice(66, 130);
  const s = hexToBigInt(`0x${sHex}`);
  const v = Number.parseInt(signature.slice(130), 16);
  const flipped = (v === 27 ? 28 : 27).toString(16);
  const highS = numberToHex(n - s, { size: 32 }).slice(2);
  const odd: Record<string, Hex> = {
    valid: signature,
    'v as 0/1': `${r}${sHex}0${v - 27}`,
    'v flipped': `${r}${sHex}${flipped}`,
    'high s, v flipped (the malleated twin)': `${r}${highS}${flipped}`,
    'high s, same v': `${r}${highS}${v.toString(16)}`,
    'v = 29': `${r}${sHex}1d`,
    'r = 0': `0x${'00'.repeat(32)}${signature.slice(66)}`,
    's = n': `${r}${numberToHex(n, { size: 32 }).slice(2)}${v.toString(16)}`,
    'r = n (out of range)': `${numberToHex(n, { size: 32 })}${signature.slice(66)}`,
    '64 bytes': signature.slice(0, 130) as Hex,
    uppercase: `0x${signature.slice(2).toUpperCase()}`,
  };
  const outcome = (p: Promise<string>) =>
    p.then(
      (a) => a.toLowerCase(),
      () => 'throws',
    );
  for (const [name, sig] of Object.entries(odd)) {
    const native = await outcome(recoverSigner(digest, sig));
    const js = await outcome(recoverSigner(digest, sig, false));
    assert.equal(native, js, name);
  }
  assert.equal(await recoverSigner(digest, signature), alice.address);
  assert.notEqual(await outcome(recoverSigner(digest, odd['v flipped']!)), alice.address.toLowerCase());
});
