import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { type Hex, hexToBigInt, numberToHex, recoverTypedDataAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { canonicalJson, hashCanonical } from './canonicalJson.ts';
import {
  hasNativeSecp256k1,
  type PlexusPrimaryType,
  plexusDomain,
  plexusMessageHash,
  plexusMessageHashFast,
  plexusTypes,
  privateKeyToNativeAccount,
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

const hex32 = () => `0x${randomBytes(32).toString('hex')}` as Hex;

/** A message of `type` with random field values (addresses checksummed, as viem makes them). */
function randomMessage(type: PlexusPrimaryType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { name, type: t } of plexusTypes[type]) {
    if (t === 'address') out[name] = privateKeyToAccount(generatePrivateKey()).address;
    else if (t === 'bytes32') out[name] = hex32();
    else if (t === 'uint64')
      out[name] = BigInt(`0x${randomBytes(8).toString('hex')}`) >> BigInt(randomBytes(1)[0]! % 64);
    else out[name] = BigInt(`0x${randomBytes(32).toString('hex')}`) >> BigInt(randomBytes(1)[0]!);
  }
  return out;
}

test("the fast message hash is viem's, and viem decides every message not in canonical form", () => {
  const types = Object.keys(plexusTypes) as PlexusPrimaryType[];
  const outcome = (f: () => Hex) => {
    try {
      return f();
    } catch (err) {
      return `throws ${(err as Error).name}`;
    }
  };
  const same = (chainId: number, type: PlexusPrimaryType, msg: Record<string, unknown>, what: string) =>
    assert.equal(
      outcome(() => plexusMessageHashFast(chainId, type, msg as never)),
      outcome(() => plexusMessageHash(chainId, type, msg as never)),
      `${type}: ${what}`,
    );
  for (const type of types)
    for (let i = 0; i < 20; i++) same([31337, 1, 0, 2 ** 40][i % 4]!, type, randomMessage(type), 'random');
  for (const type of types) {
    const msg = randomMessage(type);
    const [addr] = plexusTypes[type].filter((f) => f.type === 'address').map((f) => f.name);
    const [b32] = plexusTypes[type].filter((f) => f.type === 'bytes32').map((f) => f.name);
    const [u64] = plexusTypes[type].filter((f) => f.type === 'uint64').map((f) => f.name);
    const a = msg[addr!] as string;
    same(31337, type, { ...msg, [addr!]: a.toLowerCase() }, 'lowercase address');
    same(31337, type, { ...msg, [addr!]: `0x${a.slice(2).toUpperCase()}` }, 'uppercase address');
    same(31337, type, { ...msg, [addr!]: `${a.slice(0, -1)}${a.endsWith('a') ? 'B' : 'a'}` }, 'bad checksum');
    same(31337, type, { ...msg, [addr!]: a.slice(0, -2) }, 'short address');
    same(31337, type, { ...msg, [b32!]: (msg[b32!] as string).slice(0, -2) }, '31-byte bytes32');
    same(31337, type, { ...msg, [b32!]: `${msg[b32!]}00` }, '33-byte bytes32');
    same(
      31337,
      type,
      { ...msg, [b32!]: (msg[b32!] as string).toUpperCase().replace('0X', '0x') },
      'uppercase hex',
    );
    same(31337, type, { ...msg, [u64!]: 2n ** 64n }, 'uint64 overflow');
    same(31337, type, { ...msg, [u64!]: 2n ** 64n - 1n }, 'uint64 max');
    same(31337, type, { ...msg, [u64!]: -1n }, 'negative');
    same(31337, type, { ...msg, [u64!]: 12 }, 'a number, not a bigint');
    same(31337, type, { ...msg, [u64!]: undefined }, 'missing field');
    same(-1, type, msg, 'negative chain id');
    same(1.5, type, msg, 'fractional chain id');
  }
});

test("native signing gives viem's signatures byte for byte", async (t) => {
  if (!hasNativeSecp256k1()) t.diagnostic('native secp256k1 not available: both paths are viem');
  for (let i = 0; i < 50; i++) {
    const key = generatePrivateKey();
    const js = privateKeyToAccount(key);
    const native = privateKeyToNativeAccount(key);
    assert.equal(native.address, js.address);
    const hash = hex32();
    assert.equal(await native.sign({ hash }), await js.sign({ hash }));
    const type = (Object.keys(plexusTypes) as PlexusPrimaryType[])[i % 5]!;
    const msg = randomMessage(type);
    const viemSig = await js.signTypedData({
      domain: plexusDomain(31337),
      types: plexusTypes,
      primaryType: type,
      message: msg,
    } as never);
    assert.equal(await signPlexusMessage(native, 31337, type, msg as never), viemSig);
    assert.equal(await signPlexusMessage(js, 31337, type, msg as never), viemSig);
    // What the coordinator checks: the signature recovers to the signer.
    const digest = plexusMessageHash(31337, type, msg as never);
    assert.equal(await recoverSigner(digest, viemSig), js.address);
  }
});

test('a domain with a verifying contract hashes as viem does, and differs per contract', () => {
  const msg = randomMessage('JobSubmission');
  const contract = (n: string) => `0x${n.repeat(40)}` as const;
  for (const vc of [contract('1'), contract('a'), '0x5FbDB2315678afecb367f032d93F642f64180aa3'] as const) {
    const domain = { chainId: 31337, verifyingContract: vc };
    assert.equal(
      plexusMessageHashFast(domain, 'JobSubmission', msg as never),
      plexusMessageHash(domain, 'JobSubmission', msg as never),
    );
  }
  const one = plexusMessageHashFast(
    { chainId: 31337, verifyingContract: contract('1') },
    'JobSubmission',
    msg as never,
  );
  const two = plexusMessageHashFast(
    { chainId: 31337, verifyingContract: contract('2') },
    'JobSubmission',
    msg as never,
  );
  assert.notEqual(one, two);
  assert.notEqual(one, plexusMessageHashFast(31337, 'JobSubmission', msg as never));
});
