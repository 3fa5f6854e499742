import { readFile, stat } from 'node:fs/promises';
import type { PrivateKeyAccount } from 'viem/accounts';
import { createLogger, type Logger } from '../logger.ts';
import { privateKeyToNativeAccount } from '../protocol/eip712.ts';
import { decryptKeystore } from './keystoreV3.ts';

/**
 * Opens a Web3 Secret Storage v3 key file and returns the account it holds. A wrong password is
 * `PLX_KEYSTORE_PASSWORD`, a corrupt or foreign file `PLX_KEYSTORE_INVALID`; a missing file rethrows
 * the filesystem error (`ENOENT`). Warns (without the password, ever) when the file is readable by
 * other users.
 *
 * @example
 * const account = await openKeystore('/var/lib/plexus/provider.json', process.env.PLEXUS_KEYSTORE_PASSWORD!);
 */
export async function openKeystore(
  path: string,
  password: string,
  options: { logger?: Logger } = {},
): Promise<PrivateKeyAccount> {
  const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
    (options.logger ?? createLogger('keystore')).warn(
      { path, mode: (st.mode & 0o777).toString(8) },
      'keystore file is accessible to other users; run chmod 600 on it',
    );
  // Signs its Plexus messages in native code where it can (a provider signs twice per task).
  return privateKeyToNativeAccount(await decryptKeystore(text, password));
}
