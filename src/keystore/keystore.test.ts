import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { isPlexusError } from '../errors/PlexusError.ts';
import { createKeystore } from './createKeystore.ts';
import { decryptKeystore, encryptKeystore } from './keystoreV3.ts';
import { loadOrCreateKeystore } from './loadOrCreateKeystore.ts';
import { openKeystore } from './openKeystore.ts';
import { type PasswordInput, readPassword } from './readPassword.ts';

const dir = await mkdtemp(join(tmpdir(), 'plexus-keystore-'));
after(() => rm(dir, { recursive: true, force: true }));

const FAST = { n: 1024, r: 8, p: 1 };
const logger = pino({ level: 'silent' });
const SPEC_KEY = '0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d';

// Test vectors of the Web3 Secret Storage Definition (ethereum.org), password "testpassword".
const SPEC_PBKDF2 = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '6087dab2f9fdbbfaddc31a909735c1e6' },
    ciphertext: '5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46',
    kdf: 'pbkdf2',
    kdfparams: {
      c: 262144,
      dklen: 32,
      prf: 'hmac-sha256',
      salt: 'ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd',
    },
    mac: '517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};
const SPEC_SCRYPT = {
  crypto: {
    cipher: 'aes-128-ctr',
    cipherparams: { iv: '83dbcc02d8ccb40e466191a123791e0e' },
    ciphertext: 'd172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c',
    kdf: 'scrypt',
    kdfparams: {
      dklen: 32,
      n: 262144,
      r: 1,
      p: 8,
      salt: 'ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19',
    },
    mac: '2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097',
  },
  id: '3198bc9c-6672-5ab3-d995-4942343ae5b6',
  version: 3,
};
// go-ethereum accounts/keystore/testdata/very-light-scrypt.json: scrypt with n = 2, empty password.
const GETH_VERY_LIGHT = {
  address: '45dea0fb0bba44f4fcf290bba71fd57d7117cbb8',
  crypto: {
    cipher: 'aes-128-ctr',
    ciphertext: 'b87781948a1befd247bff51ef4063f716cf6c2d3481163e9a8f42e1f9bb74145',
    cipherparams: { iv: 'dc4926b48a105133d2f16b96833abf1e' },
    kdf: 'scrypt',
    kdfparams: {
      dklen: 32,
      n: 2,
      p: 1,
      r: 8,
      salt: '004244bbdc51cadda545b1cfa43cff9ed2ae88e08c61f1479dbb45410722f8f0',
    },
    mac: '39990c1684557447940d4c69e06b1b82b2aceacb43f284df65c956daf3046b85',
  },
  id: 'ce541d8d-c79b-40f8-9f8c-20f59616faba',
  version: 3,
};

function code(c: 'PLX_KEYSTORE_PASSWORD' | 'PLX_KEYSTORE_INVALID', pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(isPlexusError(err, c), `expected ${c}, got ${String(err)}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

test('decrypts the specification vectors (PBKDF2, and scrypt with r = 1 beyond OpenSSL)', async () => {
  assert.equal(await decryptKeystore(SPEC_PBKDF2, 'testpassword'), SPEC_KEY);
  assert.equal(await decryptKeystore(JSON.stringify(SPEC_SCRYPT), 'testpassword'), SPEC_KEY);
  await assert.rejects(decryptKeystore(SPEC_PBKDF2, 'testpassworD'), code('PLX_KEYSTORE_PASSWORD', /MAC/));
});

test("decrypts go-ethereum's light scrypt vector to its address, and encrypts it back byte for byte", async () => {
  const key = await decryptKeystore(GETH_VERY_LIGHT, '');
  await assert.rejects(decryptKeystore(GETH_VERY_LIGHT, 'bad'), code('PLX_KEYSTORE_PASSWORD'));
  const path = join(dir, 'geth.json');
  await writeFile(path, JSON.stringify(GETH_VERY_LIGHT), { mode: 0o600 });
  assert.equal((await openKeystore(path, '')).address, '0x45DeA0FB0bBA44f4fcF290bbA71Fd57d7117Cbb8');
  const again = await encryptKeystore(key, '', {
    scrypt: { n: 2, r: 8, p: 1 },
    salt: Buffer.from(GETH_VERY_LIGHT.crypto.kdfparams.salt, 'hex'),
    iv: Buffer.from(GETH_VERY_LIGHT.crypto.cipherparams.iv, 'hex'),
    id: GETH_VERY_LIGHT.id,
  });
  assert.deepEqual(again, GETH_VERY_LIGHT);
});

test('creates a 0600 key file atomically, opens it, and never overwrites one', async () => {
  const path = join(dir, 'nested', 'provider.json');
  const created = await createKeystore(path, 'pässwörd ✓', { scrypt: FAST });
  if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o600);
  const json = JSON.parse(await readFile(path, 'utf8'));
  assert.equal(json.version, 3);
  assert.equal(json.crypto.kdf, 'scrypt');
  assert.equal(`0x${json.address}`, created.address.toLowerCase());
  assert.ok(!JSON.stringify(json).includes('pässwörd'), "!JSON.stringify(json).includes('pässwörd')");
  assert.equal((await openKeystore(path, 'pässwörd ✓')).address, created.address);
  await assert.rejects(openKeystore(path, 'passwörd ✓'), code('PLX_KEYSTORE_PASSWORD'));
  await assert.rejects(createKeystore(path, 'other', { scrypt: FAST }), { code: 'EEXIST' });
  assert.equal((await openKeystore(path, 'pässwörd ✓')).address, created.address, 'the first key survives');
  assert.deepEqual(await readdir(join(dir, 'nested')), ['provider.json'], 'no temporary files are left');
  // Importing a known key.
  const imported = await createKeystore(join(dir, 'imported.json'), 'x', {
    privateKey: SPEC_KEY,
    scrypt: FAST,
  });
  assert.equal(imported.address, '0x008AeEda4D805471dF9b2A5B0f38A0C3bCBA786b');
  await assert.rejects(
    createKeystore(join(dir, 'bad.json'), 'x', { privateKey: '0x1234', scrypt: FAST }),
    code('PLX_KEYSTORE_INVALID'),
  );
});

test('loadOrCreateKeystore creates once, then opens the same key, even when raced', async () => {
  const path = join(dir, 'raced.json');
  const [a, b, c] = await Promise.all(
    [1, 2, 3].map(() => loadOrCreateKeystore(path, 'pw', { scrypt: FAST, logger })),
  );
  assert.ok(a && b && c, 'a && b && c');
  assert.equal(a.address, b.address);
  assert.equal(b.address, c.address);
  assert.equal((await loadOrCreateKeystore(path, 'pw', { scrypt: FAST, logger })).address, a.address);
  await assert.rejects(
    loadOrCreateKeystore(path, 'wrong', { scrypt: FAST, logger }),
    code('PLX_KEYSTORE_PASSWORD'),
  );
});

test('corrupt or foreign files are PLX_KEYSTORE_INVALID with the reason', async () => {
  const good = await encryptKeystore(SPEC_KEY, 'pw', { scrypt: FAST });
  await assert.rejects(
    decryptKeystore('{"version":3,', 'pw'),
    code('PLX_KEYSTORE_INVALID', /not valid JSON/),
  );
  await assert.rejects(
    decryptKeystore({ ...good, version: 1 }, 'pw'),
    code('PLX_KEYSTORE_INVALID', /version/),
  );
  await assert.rejects(
    decryptKeystore({ version: 3 }, 'pw'),
    code('PLX_KEYSTORE_INVALID', /missing "crypto"/),
  );
  await assert.rejects(
    decryptKeystore({ ...good, crypto: { ...good.crypto, cipher: 'aes-128-cbc' } }, 'pw'),
    code('PLX_KEYSTORE_INVALID', /cipher/),
  );
  await assert.rejects(
    decryptKeystore(
      { ...good, crypto: { ...good.crypto, kdfparams: { ...good.crypto.kdfparams, n: 1000 } } },
      'pw',
    ),
    code('PLX_KEYSTORE_INVALID', /power of two/),
  );
  await assert.rejects(
    decryptKeystore(
      { ...good, crypto: { ...good.crypto, kdfparams: { ...good.crypto.kdfparams, n: 2 ** 24 } } },
      'pw',
    ),
    code('PLX_KEYSTORE_INVALID', /memory; refused/),
  );
  await assert.rejects(
    decryptKeystore({ ...good, address: '0000000000000000000000000000000000000001' }, 'pw'),
    code('PLX_KEYSTORE_INVALID', /not the file's address/),
  );
  // Flipping one ciphertext byte breaks the MAC: indistinguishable from a wrong password, by design.
  const flipped = `${good.crypto.ciphertext[0] === '0' ? '1' : '0'}${good.crypto.ciphertext.slice(1)}`;
  await assert.rejects(
    decryptKeystore({ ...good, crypto: { ...good.crypto, ciphertext: flipped } }, 'pw'),
    code('PLX_KEYSTORE_PASSWORD'),
  );
  await assert.rejects(openKeystore(join(dir, 'missing.json'), 'pw'), { code: 'ENOENT' });
});

function fakeTty(): PasswordInput & { feed(s: string): void; raw: boolean[] } {
  const stream = new PassThrough();
  const raw: boolean[] = [];
  return Object.assign(stream, {
    isTTY: true,
    raw,
    setRawMode(mode: boolean) {
      raw.push(mode);
      return stream;
    },
    feed(s: string) {
      stream.write(s);
    },
  });
}

test('readPassword: environment first, then a hidden prompt, else a clear error', async () => {
  assert.equal(await readPassword({ environment: { PLEXUS_KEYSTORE_PASSWORD: 's3cret' } }), 's3cret');
  assert.equal(await readPassword({ env: 'MY_PW', environment: { MY_PW: '' } }), '');

  const tty = fakeTty();
  let shown = '';
  const output = { write: (s: string) => (shown += s) };
  const pending = readPassword({ environment: {}, input: tty, output, prompt: 'Key password: ' });
  tty.feed('hunter3\u007f2');
  tty.feed('!\r');
  assert.equal(await pending, 'hunter2!');
  assert.equal(shown, 'Key password: \n', 'the typed characters are not echoed');
  assert.deepEqual(tty.raw, [true, false]);

  const confirmTty = fakeTty();
  const confirm = readPassword({ environment: {}, input: confirmTty, output, confirm: true });
  confirmTty.feed('abc\r');
  setImmediate(() => confirmTty.feed('abd\r'));
  await assert.rejects(confirm, code('PLX_KEYSTORE_PASSWORD', /do not match/));

  const ctrlC = fakeTty();
  const interrupted = readPassword({ environment: {}, input: ctrlC, output });
  ctrlC.feed('abc\u0003');
  await assert.rejects(interrupted, code('PLX_KEYSTORE_PASSWORD', /cancelled/));

  await assert.rejects(
    readPassword({ environment: {}, input: new PassThrough() as unknown as PasswordInput }),
    code('PLX_KEYSTORE_PASSWORD', /set PLEXUS_KEYSTORE_PASSWORD, or run in a terminal/),
  );
});
