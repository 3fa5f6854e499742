import { readFile } from 'node:fs/promises';
import type { PrivateKeyAccount } from 'viem/accounts';
import { PlexusError } from '../errors/PlexusError.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type CreateKeystoreOptions, createKeystore } from './createKeystore.ts';
import { openKeystore } from './openKeystore.ts';

/** Whose key a file holds; named in log lines and errors so a client key is never called a provider's. */
export type KeyRole = 'provider' | 'client' | 'device' | 'owner' | 'validator';

/**
 * Opens the key file at `path`, or creates one with a fresh key when there is none (what a provider
 * does on first start). When two processes race to create the same file, one wins and the other
 * opens the winner's file.
 *
 * @example
 * const account = await loadOrCreateKeystore(join(dataDir, 'provider-key.json'), password);
 * const client = await loadOrCreateKeystore('.plexus/client/key.json', password, { role: 'client' });
 */
export async function loadOrCreateKeystore(
  path: string,
  password: string,
  options: Omit<CreateKeystoreOptions, 'privateKey'> & { logger?: Logger; role?: KeyRole } = {},
): Promise<PrivateKeyAccount> {
  const log = options.logger ?? createLogger('keystore');
  const openOptions = { logger: log };
  try {
    return await openKeystore(path, password, openOptions);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  try {
    const account = await createKeystore(
      path,
      password,
      options.scrypt === undefined ? {} : { scrypt: options.scrypt },
    );
    log.info({ path, address: account.address }, `created a new ${options.role ?? 'provider'} key`);
    return account;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return openKeystore(path, password, openOptions);
  }
}

function missing(path: string, role: KeyRole, cause: unknown): PlexusError {
  return new PlexusError(
    'PLX_KEYSTORE_MISSING',
    `no ${role} key file at ${path}: check --data-dir / --keystore (this command never creates keys)`,
    { details: { path, role }, cause },
  );
}

/**
 * Opens an existing key file and never creates one: a missing file is `PLX_KEYSTORE_MISSING`
 * naming the path, so a typo in `--data-dir` cannot silently make a new identity.
 *
 * @example
 * const account = await openExistingKeystore('.plexus/provider/key.json', password, { role: 'provider' });
 */
export async function openExistingKeystore(
  path: string,
  password: string,
  options: { logger?: Logger; role?: KeyRole } = {},
): Promise<PrivateKeyAccount> {
  try {
    return await openKeystore(path, password, options.logger ? { logger: options.logger } : {});
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw missing(path, options.role ?? 'provider', err);
    throw err;
  }
}

/**
 * The address a key file names, read without its password (v3 files carry it in clear), or
 * undefined when the file does not name one. A missing file is `PLX_KEYSTORE_MISSING`; read-only
 * commands use this to show an account without prompting for anything.
 *
 * @example
 * const address = await readKeystoreAddress('.plexus/provider/key.json'); // '0xAbC…' or undefined
 */
export async function readKeystoreAddress(
  path: string,
  role: KeyRole = 'provider',
): Promise<`0x${string}` | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing(path, role, err);
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new PlexusError('PLX_KEYSTORE_INVALID', `${path} is not a JSON key file`, { cause });
  }
  const address = (parsed as { address?: unknown }).address;
  if (typeof address !== 'string' || !/^(0x)?[0-9a-fA-F]{40}$/.test(address)) return undefined;
  return `0x${address.replace(/^0x/, '')}`;
}
