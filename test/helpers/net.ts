/**
 * Network helpers of the end-to-end settlement tests: a free port, a TCP proxy that can be cut and
 * restored (a chain outage), and polling a condition with a generous deadline (no fixed sleeps).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to a local port that can be cut (every connection dropped, new ones refused) and restored.
 *
 * @example
 * const proxy = await startProxy(anvil.port); await proxy.cut(); await proxy.restore();
 */
export type TcpProxy = {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
};

/**
 * A port free on 127.0.0.1 right now.
 *
 * @example
 * const port = await freePort();
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Starts a TCP proxy to `target` (see TcpProxy).
 *
 * @example
 * const proxy = await startProxy(anvil.port); // rpc via http://127.0.0.1:${proxy.port}
 */
export async function startProxy(target: number): Promise<TcpProxy> {
  const p = await freePort();
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((a) => {
        const b = connect(target, '127.0.0.1');
        sockets.add(a).add(b);
        a.pipe(b).pipe(a);
        const drop = () => {
          a.destroy();
          b.destroy();
          sockets.delete(a);
          sockets.delete(b);
        };
        a.on('error', drop).on('close', drop);
        b.on('error', drop).on('close', drop);
      }).listen(p, '127.0.0.1', () => resolve());
    });
  const cut = async () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  };
  await listen();
  return { port: p, cut, restore: listen, close: cut };
}

/**
 * Polls `check` every 200 ms until it holds; throws naming `what` after `timeoutMs` (a function
 * is called then, so the error can say how far things got).
 *
 * @example
 * await waitUntil('epoch 3 to settle', async () => (await lastFinalized()) >= 3);
 */
export async function waitUntil(
  what: string | (() => string),
  check: () => Promise<boolean>,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
