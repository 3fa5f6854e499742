import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Chain, defineChain, type Hex } from 'viem';
import { PlexusError } from '../errors/PlexusError.ts';

/** Options of startAnvil. */
export type StartAnvilOptions = {
  /** TCP port; 0 (the default) lets the OS pick a free one. */
  port?: number;
  /** Chain id; default 31337. */
  chainId?: number;
  /** Number of funded dev accounts; default 10. */
  accounts?: number;
  /** Seconds between blocks; default: mine one block per transaction. */
  blockTime?: number;
  /**
   * With `blockTime`: still mine each transaction at once, and also an empty block every
   * `blockTime` seconds, so the chain's clock (block.timestamp) keeps up with the wall clock even
   * when idle, as on a real chain (epoch settlement checks it).
   */
  mixedMining?: boolean;
  /** Gas limit per block; default anvil's (30M). */
  gasLimit?: bigint;
  /** Give up when anvil has not said where it listens after this many ms; default 20,000. */
  startTimeoutMs?: number;
};

/** A running anvil. Call `stop()` when done; it also stops when this process exits or is killed. */
export type AnvilInstance = {
  rpcUrl: string;
  port: number;
  chain: Chain;
  /** Private keys of the funded dev accounts (anvil's well-known test mnemonic: never use on a real chain). */
  privateKeys: Hex[];
  stop: () => Promise<void>;
};

// anvil does not notice when its parent dies (SIGKILL, a crash, a test runner's timeout) and would
// keep running and holding its port. On POSIX a tiny sh wrapper ties its life to a pipe from this
// process: when that pipe closes, for whatever reason, the wrapper kills anvil. fd 3 keeps the pipe,
// because sh gives background jobs /dev/null as their standard input.
const WATCHDOG = 'exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read _ <&3; kill $pid 2>/dev/null) & wait $pid';

function spawnTied(binary: string, args: string[]): ChildProcess {
  if (process.platform === 'win32') return spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // detached: its own process group, so killTree reaches anvil and the watchdog too
  return spawn('sh', ['-c', WATCHDOG, binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (process.platform !== 'win32' && child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // already gone
  }
}

/** The native anvil binary shipped by `@foundry-rs/anvil`'s platform package (no wrapper process to forward signals). */
function anvilBinary(): string {
  const require = createRequire(import.meta.url);
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  try {
    return join(
      dirname(require.resolve(`${pkg}/package.json`)),
      'bin',
      process.platform === 'win32' ? 'anvil.exe' : 'anvil',
    );
  } catch (cause) {
    throw new PlexusError('PLX_INTERNAL', `anvil is not installed for ${process.platform}-${arch} (${pkg})`, {
      cause,
    });
  }
}

/**
 * Starts a local anvil chain on a free port and resolves once it accepts RPC calls.
 *
 * @example
 * const anvil = await startAnvil();
 * const publicClient = createPublicClient({ chain: anvil.chain, transport: http(anvil.rpcUrl) });
 * // ...
 * await anvil.stop();
 */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilInstance> {
  const chainId = options.chainId ?? 31337;
  const accounts = options.accounts ?? 10;
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port ?? 0),
    '--chain-id',
    String(chainId),
    '--accounts',
    String(accounts),
  ];
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime));
  if (options.mixedMining) args.push('--mixed-mining');
  if (options.gasLimit !== undefined) args.push('--gas-limit', options.gasLimit.toString());
  const child = spawnTied(anvilBinary(), args);
  const exitHook = () => killTree(child, 'SIGKILL');
  process.once('exit', exitHook);

  let started: { port: number; privateKeys: Hex[] };
  try {
    started = await waitForListening(child, options.startTimeoutMs ?? 20_000);
  } catch (err) {
    killTree(child, 'SIGKILL');
    process.off('exit', exitHook);
    throw err;
  }
  const rpcUrl = `http://127.0.0.1:${started.port}`;
  const chain = defineChain({
    id: chainId,
    name: 'Plexus local (anvil)',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  return {
    rpcUrl,
    port: started.port,
    chain,
    privateKeys: started.privateKeys,
    stop: () => stopChild(child, exitHook),
  };
}

/** Reads anvil's start-up banner, which lists the dev keys and ends with the bound address. */
function waitForListening(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ port: number; privateKeys: Hex[] }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(`anvil did not start within ${timeoutMs} ms`), timeoutMs);
    function fail(message: string) {
      clearTimeout(timer);
      reject(new PlexusError('PLX_INTERNAL', `${message}: ${err.trim().slice(-500)}`));
    }
    const onExit = (code: number | null) => fail(`anvil exited with ${code}`);
    child.stderr?.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-2000);
    });
    child.once('exit', onExit);
    child.once('error', (e) => fail(`anvil failed to start (${e.message})`));
    const onData = (d: Buffer) => {
      out += d.toString();
      const listening = /Listening on [^\s:]+:(\d+)/.exec(out);
      if (!listening?.[1]) return;
      const keysSection = out.slice(out.indexOf('Private Keys'));
      const privateKeys = [...keysSection.matchAll(/^\(\d+\) (0x[0-9a-fA-F]{64})\s*$/gm)].map(
        (m) => m[1] as Hex,
      );
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onData);
      // keep draining anvil's output so its pipe never fills up and blocks it
      child.stdout?.resume();
      resolve({ port: Number(listening[1]), privateKeys });
    };
    child.stdout?.on('data', onData);
  });
}

function stopChild(child: ChildProcess, exitHook: () => void): Promise<void> {
  process.off('exit', exitHook);
  if (child.exitCode !== null || child.signalCode !== null) {
    child.stdin?.destroy();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const force = setTimeout(() => killTree(child, 'SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(force);
      child.stdin?.destroy();
      resolve();
    });
    // closing the pipe makes the watchdog stop anvil; on Windows there is no watchdog
    if (child.stdin) child.stdin.end();
    else child.kill('SIGTERM');
  });
}
