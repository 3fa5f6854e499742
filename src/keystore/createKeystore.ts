import { type Hex, isHex } from 'viem';
import { generatePrivateKey, type PrivateKeyAccount } from 'viem/accounts';
import { PlexusError } from '../errors/PlexusError.ts';
import { privateKeyToNativeAccount } from '../protocol/eip712.ts';
import { encryptKeystore, type ScryptParams } from './keystoreV3.ts';
import { writeFileAtomic } from './writeFileAtomic.ts';

/**
 * Options of {@link createKeystore}.
 *
 * @example
 * await createKeystore(path, password, { privateKey: '0x…', scrypt: { n: 2 ** 14, r: 8, p: 1 } });
 */
export type CreateKeystoreOptions = {
  /** Import this key instead of generating a fresh one. */
  privateKey?: Hex;
  /** scrypt cost (default {@link DEFAULT_SCRYPT_PARAMS}; tests pass a small `n`). */
  scrypt?: ScryptParams;
};

/**
 * Creates an encrypted Web3 Secret Storage v3 key file at `path` (mode 0600, written atomically, never
 * replacing an existing file: that would destroy a key) and returns the account. Generates a new key
 * unless `privateKey` is given.
 *
 * @example
 * const account = await createKeystore('~/.plexus/provider.json', password);
 * account.address; // '0x…'
 */
export async function createKeystore(
  path: string,
  password: string,
  options: CreateKeystoreOptions = {},
): Promise<PrivateKeyAccount> {
  const privateKey = options.privateKey ?? generatePrivateKey();
  if (!isHex(privateKey) || privateKey.length !== 66)
    throw new PlexusError('PLX_KEYSTORE_INVALID', 'privateKey must be 32 bytes of 0x-prefixed hex');
  const account = privateKeyToNativeAccount(privateKey);
  const json = await encryptKeystore(
    privateKey,
    password,
    options.scrypt === undefined ? {} : { scrypt: options.scrypt },
  );
  await writeFileAtomic(path, `${JSON.stringify(json, null, 2)}\n`, { mode: 0o600, overwrite: false });
  return account;
}
