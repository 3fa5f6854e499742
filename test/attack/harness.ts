/**
 * What every case of the standing attack suite (test/attack/run.ts) shares: the coordinator's URL,
 * the size scale, assertions that name what went wrong, raw sessions, and the monitor that samples
 * the coordinator's RSS and `/v1/health` latency while the cases run.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { LocalAccount } from 'viem';
import { WebSocket } from 'ws';
import { type connectRawProvider, signedResult } from '../helpers/rawProvider.ts';

/** `ATTACK_SCALE` (default 1) scales payload sizes and counts; bounds and codes do not change. */
export const SCALE = Number(process.env.ATTACK_SCALE ?? 1);
export const n = (x: number) => Math.max(1, Math.round(x * SCALE));
/**
 * The health bound (p99 above the control): 250 ms for `npm run attack`. `ATTACK_HEALTH_P99_MS`
 * overrides it where the suite shares a loaded machine with other test files (`npm test`): there
 * a blocked event loop (seconds) still fails, scheduling noise between two processes does not.
 */
export const HEALTH_P99_MS = Number(process.env.ATTACK_HEALTH_P99_MS ?? 250);
export const RSS_GROWTH_MIB = 100;

export type Case = { name: string; run: () => Promise<void> };
/** Accounts the cases share (the honest client signs jobs that must get through). */
export type CaseAccounts = { honest: LocalAccount };

/** The coordinator under attack (set once it is up). */
export let url = '';
export function setUrl(u: string): void {
  url = u;
}
export const port = () => Number(new URL(url).port);

export function expect(cond: unknown, why: string): asserts cond {
  if (!cond) throw new Error(why);
}
export async function expectCode(res: Response, status: number, code: string) {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  expect(
    res.status === status && body.error?.code === code,
    `expected ${status} ${code}, got ${res.status} ${body.error?.code}`,
  );
}
/** The job signature's domain this coordinator accepts (its network id is in GET /v1/health). */
let domain: { chainId: number; verifyingContract: `0x${string}` } | undefined;
export async function jobDomain() {
  if (!domain) {
    const h = (await (await fetch(`${url}/v1/health`)).json()) as {
      chainId: number;
      verifyingContract: `0x${string}`;
    };
    domain = { chainId: h.chainId, verifyingContract: h.verifyingContract };
  }
  return domain;
}
export const post = (path: string, body: string, type = 'application/json') =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const late = new Promise<T>((_, rej) => {
    setTimeout(() => rej(new Error(`${what}: nothing in ${ms} ms`)), ms).unref();
  });
  return Promise.race([p, late]);
}
/** Polls `check` every 20 ms until it holds, or fails after `ms` (generous: the machine is shared). */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  await within(
    (async () => {
      while (!check()) await new Promise((r) => setTimeout(r, 20));
    })(),
    ms,
    what,
  );
}

/** A raw provider WebSocket that records what comes back. */
export async function rawSession() {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/providers/ws`);
  const inbox: Record<string, unknown>[] = [];
  ws.on('message', (raw) => inbox.push(JSON.parse(raw.toString())));
  ws.on('error', () => {});
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r, rej) => {
    ws.once('open', r);
    ws.once('error', rej);
  });
  return { ws, inbox, closed };
}

/** Waits for the first `error` message of a raw session (the session may stay open until its auth timeout). */
export async function firstError(s: { inbox: Record<string, unknown>[] }) {
  await until(() => s.inbox.some((m) => m.type === 'error'), 15_000, 'error');
  return s.inbox.find((m) => m.type === 'error')!;
}

/** Sends a signed result naming `cid` for `assign`; resolves with the ack. */
export async function sendResult(
  p: Awaited<ReturnType<typeof connectRawProvider>>,
  assign: { assignmentId: string; taskId: string },
  cid: string,
) {
  p.ws.send(JSON.stringify(await signedResult(p.account, p.account.address, assign, cid)));
  return p.next('ack', 10_000);
}

/**
 * The health prober: its own thread, so the suite's own work (building payloads, signing) does
 * not delay the requests it times. Each tick asks the coordinator's `/v1/health` and, at the same
 * moment, a trivial HTTP server in another process (the control): on a loaded machine both wait
 * for a CPU, and the difference is what the coordinator itself adds.
 */
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
async function time(url) {
  const t = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
    await res.arrayBuffer();
    return performance.now() - t;
  } catch {
    return 10000;
  }
}
(async () => {
  while (!stop) {
    parentPort.postMessage(await Promise.all([time(workerData.url + '/v1/health'), time(workerData.control)]));
    await new Promise((r) => setTimeout(r, 100));
  }
  parentPort.close();
})();
`;

/** A trivial HTTP server in its own process: the control the health latency is compared with. */
export async function startControlServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('node:http').createServer((q, s) => s.end('{\"ok\":true}')).listen(0, '127.0.0.1', function () { console.log(this.address().port); });",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await within(
    new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim())))),
    60_000,
    'control server',
  );
  return { url: `http://127.0.0.1:${port}/`, stop: () => child.kill() };
}

/** Index `q` (0..1) of the sorted samples. */
export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}

/** Samples the coordinator's RSS every 100 ms, and its health latency next to the control's. */
export function monitor(pid: number, control: string) {
  const latencies: number[] = [];
  const controls: number[] = [];
  /** Per sample, the coordinator's latency above the control's (what the coordinator adds). */
  const excess: number[] = [];
  /** Latency samples per running case (which attack costs health latency). */
  const byCase = new Map<string, number[]>();
  let current = 'idle';
  const rss: number[] = [];
  const prober = new Worker(PROBER, { eval: true, workerData: { url, control } });
  prober.on('message', ([ms, controlMs]: [number, number]) => {
    latencies.push(ms);
    controls.push(controlMs);
    excess.push(Math.max(0, ms - controlMs));
    const list = byCase.get(current) ?? [];
    list.push(ms);
    byCase.set(current, list);
  });
  const sampler = setInterval(() => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    if (m) rss.push(Number(m[1]) / 1024);
  }, 100);
  return {
    latencies,
    controls,
    excess,
    rss,
    byCase,
    set case(name: string) {
      current = name;
    },
    async end() {
      clearInterval(sampler);
      const done = new Promise((r) => prober.once('exit', r));
      prober.postMessage('stop');
      await within(done, 15_000, 'health prober stopped').catch(() => prober.terminate());
    },
  };
}
