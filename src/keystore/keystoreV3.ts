/**
 * Web3 Secret Storage v3: the encrypted JSON key file geth, Clef, MetaMask exports and ethers all
 * read (https://ethereum.org/developers/docs/data-structures-and-encoding/web3-secret-storage/).
 * The password goes through a KDF (scrypt, or PBKDF2-HMAC-SHA256 when reading older files) to a
 * 32-byte key DK; DK[0..16] is the AES-128-CTR key that encrypts the private key; the MAC is
 * keccak256(DK[16..32] ‖ ciphertext), which is how a wrong password is told apart from a corrupt file.
 */
import {
  createCipheriv,
  createDecipheriv,
  pbkdf2,
  randomBytes,
  randomUUID,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';
import { scryptAsync as nobleScrypt } from '@noble/hashes/scrypt';
import { type Hex, keccak256 } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { z } from 'zod';
import { PlexusError } from '../errors/PlexusError.ts';

/**
 * scrypt cost parameters.
 *
 * @example
 * const light: ScryptParams = { n: 2 ** 12, r: 8, p: 1 };
 */
export type ScryptParams = { n: number; r: number; p: number };

/**
 * Default scrypt cost for new keystores: geth's "standard" n = 2^18, r = 8, p = 1 (256 MiB of
 * memory-hard work). Measured at about 0.8 s per unlock on the 2-core development VM, which is paid
 * once when a provider starts, so the full strength is kept. Tests pass a small `n`.
 *
 * @example
 * DEFAULT_SCRYPT_PARAMS.n; // 262144
 */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ n: 2 ** 18, r: 8, p: 1 });

// Refuse files that would make unlocking take minutes or gigabytes (a tampered file is a DoS).
const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;
const MAX_PBKDF2_ROUNDS = 10_000_000;

const hex = (len?: number) =>
  z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]*$/)
    .transform((s) => Buffer.from(s.replace(/^0x/, ''), 'hex'))
    .refine((b) => len === undefined || b.length === len, `must be ${len} bytes of hex`);

const scryptParamsSchema = z.object({
  dklen: z.number().int().min(32).max(64),
  n: z
    .number()
    .int()
    .min(2)
    .max(2 ** 30)
    .refine((n) => (n & (n - 1)) === 0, 'n must be a power of two'),
  r: z.number().int().min(1).max(64),
  p: z.number().int().min(1).max(64),
  salt: hex(),
});

const pbkdf2ParamsSchema = z.object({
  dklen: z.number().int().min(32).max(64),
  c: z.number().int().min(1).max(MAX_PBKDF2_ROUNDS),
  prf: z.literal('hmac-sha256'),
  salt: hex(),
});

const cryptoSchema = z.discriminatedUnion('kdf', [
  z.object({
    cipher: z.literal('aes-128-ctr'),
    cipherparams: z.object({ iv: hex(16) }),
    ciphertext: hex(),
    kdf: z.literal('scrypt'),
    kdfparams: scryptParamsSchema,
    mac: hex(32),
  }),
  z.object({
    cipher: z.literal('aes-128-ctr'),
    cipherparams: z.object({ iv: hex(16) }),
    ciphertext: hex(),
    kdf: z.literal('pbkdf2'),
    kdfparams: pbkdf2ParamsSchema,
    mac: hex(32),
  }),
]);

// Early geth files spell the key "Crypto"; both are accepted on read, "crypto" is written.
const fileSchema = z
  .object({
    version: z.literal(3),
    id: z.string().optional(),
    address: z
      .string()
      .regex(/^(0x)?[0-9a-fA-F]{40}$/)
      .optional(),
    crypto: cryptoSchema.optional(),
    Crypto: cryptoSchema.optional(),
  })
  .refine((f) => (f.crypto ?? f.Crypto) !== undefined, 'missing "crypto"');

/**
 * The JSON of a v3 key file as Plexus writes it.
 *
 * @example
 * const file: KeystoreV3 = JSON.parse(await readFile(path, 'utf8'));
 */
export type KeystoreV3 = {
  version: 3;
  id: string;
  address: string;
  crypto: {
    cipher: 'aes-128-ctr';
    cipherparams: { iv: string };
    ciphertext: string;
    kdf: 'scrypt';
    kdfparams: { dklen: 32; n: number; r: number; p: number; salt: string };
    mac: string;
  };
};

const nodeScrypt = promisify(scrypt) as (
  password: Buffer,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/**
 * scrypt on libuv's thread pool via node:crypto. OpenSSL refuses N ≥ 2^(16·r) (an RFC 7914 bound
 * that the spec's own scrypt test vector, r = 1 and N = 2^18, breaks), so such files go through
 * @noble/hashes (viem's hashing library) instead.
 */
async function deriveScrypt(
  password: Buffer,
  salt: Buffer,
  dklen: number,
  { n, r, p }: ScryptParams,
): Promise<Buffer> {
  const memory = 128 * r * (n + p + 2);
  if (memory > MAX_SCRYPT_MEMORY)
    throw new PlexusError(
      'PLX_KEYSTORE_INVALID',
      `scrypt parameters need ${memory} bytes of memory; refused`,
    );
  if (16 * r < 31 && n >= 2 ** (16 * r))
    return Buffer.from(
      await nobleScrypt(password, salt, { N: n, r, p, dkLen: dklen, maxmem: MAX_SCRYPT_MEMORY + 1 }),
    );
  return nodeScrypt(password, salt, dklen, { N: n, r, p, maxmem: memory + 16 * 1024 * 1024 });
}

function mac(derivedKey: Buffer, ciphertext: Buffer): Buffer {
  return Buffer.from(keccak256(Buffer.concat([derivedKey.subarray(16, 32), ciphertext])).slice(2), 'hex');
}

/**
 * Encrypts a private key into a v3 key file (scrypt + AES-128-CTR + keccak256 MAC).
 *
 * @example
 * const json = await encryptKeystore(generatePrivateKey(), 'correct horse', { scrypt: { n: 1024, r: 8, p: 1 } });
 */
export async function encryptKeystore(
  privateKey: Hex,
  password: string,
  options: { scrypt?: ScryptParams; salt?: Uint8Array; iv?: Uint8Array; id?: string } = {},
): Promise<KeystoreV3> {
  const account = privateKeyToAccount(privateKey);
  const params = options.scrypt ?? DEFAULT_SCRYPT_PARAMS;
  const salt = Buffer.from(options.salt ?? randomBytes(32));
  const iv = Buffer.from(options.iv ?? randomBytes(16));
  const dk = await deriveScrypt(Buffer.from(password, 'utf8'), salt, 32, params);
  const cipher = createCipheriv('aes-128-ctr', dk.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), 'hex')), cipher.final()]);
  return {
    version: 3,
    id: options.id ?? randomUUID(),
    address: account.address.slice(2).toLowerCase(),
    crypto: {
      cipher: 'aes-128-ctr',
      cipherparams: { iv: iv.toString('hex') },
      ciphertext: ciphertext.toString('hex'),
      kdf: 'scrypt',
      kdfparams: { dklen: 32, n: params.n, r: params.r, p: params.p, salt: salt.toString('hex') },
      mac: mac(dk, ciphertext).toString('hex'),
    },
  };
}

/**
 * Decrypts a v3 key file (parsed JSON or its text) and returns the private key. A wrong password is
 * `PLX_KEYSTORE_PASSWORD`; anything malformed, an unsupported cipher or KDF, or a key that does not
 * match the file's `address` is `PLX_KEYSTORE_INVALID`.
 *
 * @example
 * const privateKey = await decryptKeystore(await readFile(path, 'utf8'), password);
 */
export async function decryptKeystore(file: unknown, password: string): Promise<Hex> {
  let json = file;
  if (typeof file === 'string') {
    try {
      json = JSON.parse(file);
    } catch (cause) {
      throw new PlexusError('PLX_KEYSTORE_INVALID', 'the keystore is not valid JSON', { cause });
    }
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success)
    throw new PlexusError(
      'PLX_KEYSTORE_INVALID',
      `not a Web3 Secret Storage v3 file: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  const c = (parsed.data.crypto ?? parsed.data.Crypto)!;
  const pw = Buffer.from(password, 'utf8');
  const dk =
    c.kdf === 'scrypt'
      ? await deriveScrypt(pw, c.kdfparams.salt, c.kdfparams.dklen, c.kdfparams)
      : await promisify(pbkdf2)(pw, c.kdfparams.salt, c.kdfparams.c, c.kdfparams.dklen, 'sha256');
  if (!timingSafeEqual(mac(dk, c.ciphertext), c.mac))
    throw new PlexusError('PLX_KEYSTORE_PASSWORD', 'wrong keystore password (MAC mismatch)');
  const decipher = createDecipheriv('aes-128-ctr', dk.subarray(0, 16), c.cipherparams.iv);
  const secret = Buffer.concat([decipher.update(c.ciphertext), decipher.final()]);
  if (secret.length !== 32)
    throw new PlexusError('PLX_KEYSTORE_INVALID', `the decrypted key is ${secret.length} bytes, not 32`);
  const privateKey = `0x${secret.toString('hex')}` as Hex;
  let address: string;
  try {
    address = privateKeyToAccount(privateKey).address;
  } catch (cause) {
    throw new PlexusError('PLX_KEYSTORE_INVALID', 'the decrypted key is not a valid secp256k1 private key', {
      cause,
    });
  }
  const claimed = parsed.data.address?.replace(/^0x/, '').toLowerCase();
  if (claimed !== undefined && claimed !== address.slice(2).toLowerCase())
    throw new PlexusError(
      'PLX_KEYSTORE_INVALID',
      `the key decrypts to ${address}, not the file's address 0x${claimed}`,
    );
  return privateKey;
}
