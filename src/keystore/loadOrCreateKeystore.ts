import type { PrivateKeyAccount } from 'viem/accounts';
import { createLogger, type Logger } from '../logger.ts';
import { type CreateKeystoreOptions, createKeystore } from './createKeystore.ts';
import { openKeystore } from './openKeystore.ts';

/**
 * Opens the key file at `path`, or creates one with a fresh key when there is none (what a provider
 * does on first start). When two processes race to create the same file, one wins and the other
 * opens the winner's file.
 *
 * @example
 * const account = await loadOrCreateKeystore(join(dataDir, 'provider-key.json'), password);
 */
export async function loadOrCreateKeystore(
  path: string,
  password: string,
  options: Omit<CreateKeystoreOptions, 'privateKey'> & { logger?: Logger } = {},
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
    log.info({ path, address: account.address }, 'created a new provider key');
    return account;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return openKeystore(path, password, openOptions);
  }
}
