/**
 * How the `plexus` command line ends when something goes wrong: every failure becomes one line
 * `error PLX_…: sentence` on stderr (or the API's JSON error object with `--json`), exit code 2 for
 * a wrong command line and 1 for anything else, and a stack trace only with `--debug`.
 *
 * This file stays free of heavy imports: it is loaded on every start.
 */
import type { ErrorCode } from '../errors/codes.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { formatPlx, localTime } from './format.ts';

/** What the CLI prints and returns for one failure. */
export type CliFailure = {
  code: ErrorCode;
  message: string;
  /** 2: the command line is wrong; 1: the command ran and failed. */
  exitCode: 1 | 2;
  details?: Record<string, unknown>;
};

/** Commander's error shape, without importing commander here. */
type CommanderLike = Error & { code: string; exitCode: number };

function isCommanderError(err: unknown): err is CommanderLike {
  return (
    err instanceof Error &&
    typeof (err as CommanderLike).code === 'string' &&
    (err as CommanderLike).code.startsWith('commander.')
  );
}

/**
 * Reverts people hit at the terminal, with their arguments in PLX and local dates and the next
 * step; anything else keeps the chain layer's `Name(args)` message.
 */
const REVERT_SENTENCES: Record<string, (args: readonly unknown[]) => string> = {
  UnbondingNotReady: ([readyAt]) =>
    `the unbonding period is not over: withdrawable from ${localTime(BigInt(readyAt as bigint))}; run plexus provider unbond --withdraw then`,
  WithdrawalNotReady: ([readyAt]) =>
    `the withdrawal delay is not over: executable from ${localTime(BigInt(readyAt as bigint))}; run plexus client withdraw --execute then`,
  StakeBelowMinimum: ([stake, min]) =>
    `a stake of ${formatPlx(BigInt(stake as bigint))} is below the registry minimum ${formatPlx(BigInt(min as bigint))}; give a larger --stake`,
  InsufficientStake: ([stake, requested]) =>
    `cannot unbond ${formatPlx(BigInt(requested as bigint))}: the bonded stake is ${formatPlx(BigInt(stake as bigint))}`,
  InsufficientEscrowBalance: ([, balance, needed]) =>
    `the escrow holds ${formatPlx(BigInt(balance as bigint))} but ${formatPlx(BigInt(needed as bigint))} is needed; deposit with plexus client deposit AMOUNT`,
  NothingToClaim: ([, cumulative, claimed]) =>
    `nothing to claim: earned ${formatPlx(BigInt(cumulative as bigint))}, already claimed ${formatPlx(BigInt(claimed as bigint))}`,
  NothingUnbonding: () => 'nothing is unbonding: start with plexus provider unbond AMOUNT',
  NoPendingWithdrawal: () => 'no withdrawal is pending: start with plexus client withdraw AMOUNT',
  ProviderAlreadyRegistered: () =>
    'this provider is already registered: add stake with plexus provider stake AMOUNT',
  ERC20InsufficientBalance: ([, balance, needed]) =>
    `the wallet holds ${formatPlx(BigInt(balance as bigint))} but ${formatPlx(BigInt(needed as bigint))} is needed; on a devnet get PLX with plexus devnet faucet ADDRESS`,
};

/** The next step for codes whose server message does not say it. */
const NEXT_STEP: Partial<Record<ErrorCode, string>> = {
  PLX_UPSTREAM_UNAVAILABLE:
    'check the URL (--coordinator, $PLEXUS_COORDINATOR) and that the coordinator is running (plexus devnet starts one)',
  PLX_KEYSTORE_PASSWORD: 'set PLEXUS_KEYSTORE_PASSWORD or run in a terminal to be prompted',
};

function plexusFailure(err: PlexusError): CliFailure {
  let message = err.message;
  const d = err.details ?? {};
  if (err.code === 'PLX_CHAIN_REVERT' && typeof d.errorName === 'string') {
    const sentence = REVERT_SENTENCES[d.errorName];
    const args = Array.isArray(d.args) ? d.args : [];
    if (sentence) {
      try {
        message = `${d.functionName ?? 'the transaction'} reverted: ${sentence(args)}`;
      } catch {
        // arguments of an unexpected shape: keep the chain layer's message
      }
    }
  }
  if (
    err.code === 'PLX_INSUFFICIENT_ESCROW' &&
    typeof d.available === 'string' &&
    typeof d.required === 'string'
  )
    message = `the available escrow ${formatPlx(BigInt(d.available))} is below the required ${formatPlx(BigInt(d.required))}: deposit with plexus client deposit AMOUNT (on a devnet, first get PLX with plexus devnet faucet ADDRESS, or use the devnet's funded client key .plexus/devnet/client/key.json), or lower --max-price`;
  const units = (v: unknown) => (typeof v === 'string' && /^\d{1,78}$/.test(v) ? BigInt(v) : undefined);
  if (err.code === 'PLX_SENSOR_COST_ABOVE_MAX') {
    const cost = units(d.cost);
    const max = units(d.maxCost);
    if (cost !== undefined)
      message = `the dataset costs ${formatPlx(cost)}${typeof d.readings === 'number' ? ` (${d.readings} readings)` : ''}, above ${max === undefined ? 'your --max-cost' : `--max-cost ${formatPlx(max)}`}: raise --max-cost or narrow the query (bbox, time, variables)`;
  }
  const next = NEXT_STEP[err.code];
  // The password prompt's own message already says what to do (in its own words): say it once.
  const alreadySaid = err.code === 'PLX_KEYSTORE_PASSWORD' && /run in a terminal/.test(message);
  if (next && !message.includes(next) && !alreadySaid) message = `${message}; ${next}`;
  return {
    code: err.code,
    message,
    exitCode: err.code === 'PLX_USAGE' ? 2 : 1,
    ...(err.details ? { details: err.details } : {}),
  };
}

/**
 * Classifies anything a command threw.
 *
 * @example
 * describeFailure(Object.assign(new Error('x'), { code: 'ENOENT', path: 'm.onnx' })).code; // 'PLX_FILE_NOT_FOUND'
 */
export function describeFailure(err: unknown, commandPath = 'plexus', coordinatorUrl?: string): CliFailure {
  if (err instanceof PlexusError) return plexusFailure(err);
  // undici's fetch fails with a bare "fetch failed" TypeError; the OS error is in its cause.
  if (err instanceof TypeError && err.message === 'fetch failed') {
    const cause = err.cause as { code?: string; message?: string } | undefined;
    const why = [cause?.code, cause?.message].filter(Boolean).join(' ') || 'no answer';
    return plexusFailure(
      new PlexusError(
        'PLX_UPSTREAM_UNAVAILABLE',
        `cannot reach the coordinator${coordinatorUrl ? ` at ${coordinatorUrl}` : ''}: ${why}`,
        { details: { url: coordinatorUrl, cause: cause?.code } },
      ),
    );
  }
  if (isCommanderError(err)) {
    const text = err.message
      .replace(/^error:\s*/, '')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    return { code: 'PLX_USAGE', message: `${text}; see ${commandPath} --help`, exitCode: 2 };
  }
  const errno = err as NodeJS.ErrnoException;
  if (err instanceof Error && typeof errno.code === 'string' && typeof errno.syscall === 'string') {
    if (errno.code === 'ENOENT')
      return {
        code: 'PLX_FILE_NOT_FOUND',
        message: `no such file or folder: ${errno.path ?? '(unknown path)'}; check the path (relative to ${process.cwd()})`,
        exitCode: 1,
        details: { path: errno.path },
      };
    if (errno.code === 'EACCES' || errno.code === 'EPERM' || errno.code === 'EISDIR')
      return {
        code: 'PLX_FILE_NOT_FOUND',
        message: `cannot ${errno.syscall} ${errno.path ?? ''}: ${errno.code}; check the path and its permissions`,
        exitCode: 1,
        details: { path: errno.path },
      };
  }
  if (
    err instanceof Error &&
    err.name === 'ZodError' &&
    Array.isArray((err as { issues?: unknown }).issues)
  ) {
    const issues = (err as unknown as { issues: { path: PropertyKey[]; message: string }[] }).issues;
    return {
      code: 'PLX_VALIDATION',
      message: `invalid input: ${issues.map((i) => `${i.path.map(String).join('.') || 'value'}: ${i.message}`).join('; ')}`,
      exitCode: 1,
    };
  }
  if (err instanceof SyntaxError && /JSON/.test(err.message))
    return { code: 'PLX_VALIDATION', message: `a file is not valid JSON: ${err.message}`, exitCode: 1 };
  const text = err instanceof Error ? err.message : String(err);
  return {
    code: 'PLX_INTERNAL',
    message: `${text}; this is a bug: rerun with --debug and report the stack trace`,
    exitCode: 1,
  };
}

/**
 * Prints a failure: one line for people, the API's error object with `--json`, plus the stack and
 * cause chain with `--debug`. Returns the exit code.
 *
 * @example
 * process.exitCode = printFailure(err, { json: false, debug: false });
 */
export function printFailure(
  err: unknown,
  o: {
    json: boolean;
    debug: boolean;
    commandPath?: string;
    coordinatorUrl?: string;
    write?: (line: string) => void;
  },
): 1 | 2 {
  const write = o.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const f = describeFailure(err, o.commandPath, o.coordinatorUrl);
  if (o.json)
    write(
      JSON.stringify(
        { error: { code: f.code, message: f.message, ...(f.details ? { details: f.details } : {}) } },
        (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
      ),
    );
  else write(`error ${f.code}: ${f.message}`);
  if (o.debug) {
    let e: unknown = err;
    for (let depth = 0; e !== undefined && depth < 8; depth++) {
      write(e instanceof Error ? (e.stack ?? String(e)) : String(e));
      e = e instanceof Error ? e.cause : undefined;
      if (e !== undefined) write('caused by:');
    }
  }
  return f.exitCode;
}
