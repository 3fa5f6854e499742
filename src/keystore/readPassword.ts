import { PlexusError } from '../errors/PlexusError.ts';

/**
 * Where a password may come from.
 *
 * @example
 * await readPassword({ env: 'MY_KEY_PASSWORD', prompt: 'Password: ', confirm: true });
 */
export type ReadPasswordOptions = {
  /** Environment variable checked first (default `PLEXUS_KEYSTORE_PASSWORD`). */
  env?: string;
  /** Text shown before the hidden input (default `Keystore password: `). */
  prompt?: string;
  /** Ask twice and require both to match (for a new keystore). */
  confirm?: boolean;
  /** Environment to read (default `process.env`). */
  environment?: Record<string, string | undefined>;
  /** Terminal to read from (default `process.stdin`). */
  input?: PasswordInput;
  /** Where the prompt goes (default `process.stderr`, so stdout stays clean for piping). */
  output?: { write(s: string): unknown };
};

/**
 * The parts of a TTY read stream the prompt needs.
 *
 * @example
 * const input: PasswordInput = process.stdin;
 */
export type PasswordInput = {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  setEncoding(enc: BufferEncoding): unknown;
  on(event: 'data', cb: (chunk: string) => void): unknown;
  removeListener(event: 'data', cb: (chunk: string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
};

function cancelled(message: string): PlexusError {
  return new PlexusError('PLX_KEYSTORE_PASSWORD', message);
}

/** Reads one line in raw mode without echoing it; handles backspace, Ctrl-C and Ctrl-D. */
function promptHidden(
  input: PasswordInput,
  output: { write(s: string): unknown },
  prompt: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: PlexusError) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (err === undefined) resolve(value);
      else reject(err);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(cancelled('password entry cancelled (Ctrl-C)'));
        if (ch === '\u0004') return value === '' ? done(cancelled('password entry ended (Ctrl-D)')) : done();
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    output.write(prompt);
    input.setEncoding('utf8');
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
  });
}

/**
 * Gets the keystore password: from the environment variable when it is set (for services and the
 * devnet), else by prompting on the terminal without echo, else fails with `PLX_KEYSTORE_PASSWORD`
 * saying how to provide one. The password is returned, never logged.
 *
 * @example
 * const password = await readPassword({ prompt: 'Provider key password: ' });
 */
export async function readPassword(options: ReadPasswordOptions = {}): Promise<string> {
  const envName = options.env ?? 'PLEXUS_KEYSTORE_PASSWORD';
  const fromEnv = (options.environment ?? process.env)[envName];
  if (fromEnv !== undefined) return fromEnv;
  const input = options.input ?? process.stdin;
  if (input.isTTY !== true || input.setRawMode === undefined)
    throw new PlexusError(
      'PLX_KEYSTORE_PASSWORD',
      `no keystore password: set ${envName}, or run in a terminal to be prompted for it`,
    );
  const output = options.output ?? process.stderr;
  const first = await promptHidden(input, output, options.prompt ?? 'Keystore password: ');
  if (options.confirm === true) {
    const second = await promptHidden(input, output, 'Repeat the password: ');
    if (second !== first) throw new PlexusError('PLX_KEYSTORE_PASSWORD', 'the two passwords do not match');
  }
  return first;
}
