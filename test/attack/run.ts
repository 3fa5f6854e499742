/**
 * The standing attack suite (issue 16): starts a real coordinator process on loopback, runs
 * bounded attacks against it while sampling its RSS and `/v1/health` latency, asserts the PLX_
 * code each attack must get, and ends with an honest job (a real provider agent and the PP-OCRv4
 * model) that must complete. Exits non-zero on any failed case; the last line is
 * `N passed, M failed`. `ATTACK_SCALE` (default 1) scales the sizes; docs/security.md lists the cases.
 *
 * @example npm run attack
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { type LocalAccount, privateKeyToAccount } from 'viem/accounts';
import { WebSocket } from 'ws';
import { createClient } from '../../src/client/createClient.ts';
import { signJobSubmission } from '../../src/client/signJobSubmission.ts';
import { type NodeChild, spawnPlexus } from '../../src/devnet/spawnNode.ts';
import { DEVNET_PASSWORD } from '../../src/devnet/startDevnet.ts';
import { loadOrCreateKeystore } from '../../src/keystore/loadOrCreateKeystore.ts';
import { createLogger } from '../../src/logger.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/protocol/safetensors.ts';
import type { OnnxInferSpecInput } from '../../src/protocol/schemas.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount, tempDir } from '../helpers/fixtures.ts';
import { connectRawProvider, signedResult } from '../helpers/rawProvider.ts';

const SCALE = Number(process.env.ATTACK_SCALE ?? 1);
const n = (x: number) => Math.max(1, Math.round(x * SCALE));
const HEALTH_P99_MS = 250;
const RSS_GROWTH_MIB = 100;

type Case = { name: string; run: () => Promise<void> };
const results: { name: string; ok: boolean; why?: string }[] = [];
const children: NodeChild[] = [];
let url = '';

function expect(cond: unknown, why: string): asserts cond {
  if (!cond) throw new Error(why);
}
async function expectCode(res: Response, status: number, code: string) {
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  expect(
    res.status === status && body.error?.code === code,
    `expected ${status} ${code}, got ${res.status} ${body.error?.code}`,
  );
}
/** The job signature's domain this coordinator accepts (its network id is in GET /v1/health). */
let domain: { chainId: number; verifyingContract: `0x${string}` } | undefined;
async function jobDomain() {
  if (!domain) {
    const h = (await (await fetch(`${url}/v1/health`)).json()) as {
      chainId: number;
      verifyingContract: `0x${string}`;
    };
    domain = { chainId: h.chainId, verifyingContract: h.verifyingContract };
  }
  return domain;
}
const post = (path: string, body: string, type = 'application/json') =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const late = new Promise<T>((_, rej) => {
    setTimeout(() => rej(new Error(`${what}: nothing in ${ms} ms`)), ms).unref();
  });
  return Promise.race([p, late]);
}

/** A raw provider WebSocket that records what comes back. */
async function rawSession() {
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
async function firstError(s: { inbox: Record<string, unknown>[] }) {
  return within(
    (async () => {
      for (;;) {
        const e = s.inbox.find((m) => m.type === 'error');
        if (e) return e;
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
    15_000,
    'error',
  );
}

/** Samples the coordinator's RSS and health latency every 100 ms. */
function monitor(pid: number) {
  const latencies: number[] = [];
  /** Latency samples per running case (which attack costs health latency). */
  const byCase = new Map<string, number[]>();
  let current = 'idle';
  const rss: number[] = [];
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      const t = performance.now();
      try {
        await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
        latencies.push(performance.now() - t);
      } catch {
        latencies.push(10_000);
      }
      const list = byCase.get(current) ?? [];
      list.push(latencies.at(-1)!);
      byCase.set(current, list);
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) rss.push(Number(m[1]) / 1024);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    latencies,
    rss,
    byCase,
    set case(name: string) {
      current = name;
    },
    async end() {
      stop = true;
      await loop;
    },
  };
}

const cases = (accounts: { honest: LocalAccount }): Case[] => [
  {
    name: 'item 1: results for leases the key does not hold, naming a 32 MiB blob, are refused cheaply (PLX_STALE_ASSIGNMENT)',
    async run() {
      const big = new Uint8Array(n(32) * 1024 * 1024);
      big.fill(7);
      const p = await connectRawProvider(url, randomAccount());
      const client = createClient({ url, account: randomAccount() });
      const { cid } = await client.uploadBlob(big);
      for (let i = 0; i < 10; i++) {
        const fake = {
          type: 'assign',
          assignmentId: `0x${(i + 1).toString(16).padStart(64, '0')}`,
          taskId: `0x${'ab'.repeat(32)}`,
        };
        // deliver() uploads its own output; send a signed result naming the big blob instead.
        const ack = await within(sendResult(p, fake, cid), 10_000, 'ack');
        expect(ack.code === 'PLX_STALE_ASSIGNMENT', `ack ${String(ack.code)}`);
      }
      await p.close();
    },
  },
  {
    name: 'item 1: forty forged-signature results close the session (strikes, 1008)',
    async run() {
      const p = await connectRawProvider(url, randomAccount());
      const forger = randomAccount();
      const fake = { type: 'assign', assignmentId: `0x${'cd'.repeat(32)}`, taskId: `0x${'ef'.repeat(32)}` };
      const closed = new Promise<number>((r) => p.ws.on('close', (code) => r(code)));
      const msg = await signedResult(forger, p.account.address, fake, 'a'.repeat(64));
      for (let i = 0; i < 40; i++) p.ws.send(JSON.stringify(msg));
      const ack = await p.next('ack', 10_000);
      expect(ack.code === 'PLX_BAD_SIGNATURE', `ack ${String(ack.code)}`);
      expect((await within(closed, 15_000, 'close')) === 1008, 'session closed with 1008');
    },
  },
  {
    name: 'item 2: 100 SSE streams from after=0 that never read stay bounded (PLX_VALIDATION for a bad job id meanwhile)',
    async run() {
      // Fill the log a little: provider sessions each append events.
      for (let i = 0; i < n(20); i++) await (await connectRawProvider(url, randomAccount())).close();
      const socks: Socket[] = [];
      for (let i = 0; i < n(100); i++) {
        const s = connect(Number(new URL(url).port), '127.0.0.1');
        s.on('error', () => {});
        s.write('GET /v1/events?after=0 HTTP/1.1\r\nhost: x\r\n\r\n');
        s.pause();
        socks.push(s);
      }
      await new Promise((r) => setTimeout(r, 2000));
      await expectCode(await fetch(`${url}/v1/jobs/nope/events`), 400, 'PLX_VALIDATION');
      for (const s of socks) s.destroy();
    },
  },
  {
    name: 'item 2: a forged failure report with a 2,000-character message is refused with a PLX_ code (the 512-character event bound is unit-tested in createEventLog.test.ts)',
    async run() {
      const p = await connectRawProvider(url, randomAccount());
      p.ws.send(
        JSON.stringify({
          type: 'failure',
          assignmentId: `0x${'11'.repeat(32)}`,
          taskId: `0x${'22'.repeat(32)}`,
          code: 'PLX_TASK_RUNTIME_ERROR',
          message: 'x'.repeat(2000),
          issuedAt: Math.floor(Date.now() / 1000),
          signature: `0x${'11'.repeat(65)}`,
        }),
      );
      const ack = await p.next('ack', 10_000);
      expect(typeof ack.code === 'string' && String(ack.code).startsWith('PLX_'), `ack ${String(ack.code)}`);
      await p.close();
    },
  },
  {
    name: 'item 3: a junk 64 MiB "model" is refused in an isolated inspection (PLX_BAD_MODEL)',
    async run() {
      const account = randomAccount();
      const client = createClient({ url, account });
      const junk = new Uint8Array(n(64) * 1024 * 1024);
      for (let i = 0; i < junk.length; i += 4096) junk[i] = i & 255;
      const model = await client.uploadBlob(junk);
      const input = await client.uploadBlob(encodeSafetensors(ocrInput(1)));
      const body = await signJobSubmission(account, await jobDomain(), {
        kind: 'onnx.infer',
        model: model.cid,
        inputs: [input.cid],
        deadline: Math.floor(Date.now() / 1000) + 60,
      });
      await expectCode(await post('/v1/jobs', JSON.stringify(body)), 400, 'PLX_BAD_MODEL');
    },
  },
  {
    name: 'item 4: a 4 PiB memory claim and 200 KB of junk in a claim are refused (PLX_VALIDATION)',
    async run() {
      for (const hardware of [{ memoryBytes: 4 * 1024 ** 5 }, { cpuModel: 'j'.repeat(200_000) }]) {
        const s = await rawSession();
        await within(new Promise((r) => setTimeout(r, 200)), 1000, 'hello');
        s.ws.send(
          JSON.stringify({
            type: 'auth',
            provider: randomAccount().address,
            issuedAt: 1,
            signature: `0x${'11'.repeat(65)}`,
            hardware: {
              cpuModel: 'c',
              cpuCores: 1,
              memoryBytes: 1,
              gpus: [],
              executionProviders: ['cpu'],
              ...hardware,
            },
            slots: 1,
            region: 'eu',
            agentVersion: 't',
          }),
        );
        const err = await firstError(s);
        s.ws.close();
        expect(err?.code === 'PLX_VALIDATION', `error ${String(err?.code)}`);
      }
    },
  },
  {
    name: 'item 7: text/plain job 415, unknown kind, bad cid, mis-checksummed rewards address',
    async run() {
      const signed = (spec: Record<string, unknown>) =>
        jobDomain().then((d) => signJobSubmission(randomAccount(), d, spec as unknown as OnnxInferSpecInput));
      const cid = 'a'.repeat(64);
      const deadline = Math.floor(Date.now() / 1000) + 60;
      await expectCode(
        await post(
          '/v1/jobs',
          JSON.stringify(await signed({ kind: 'onnx.infer', model: cid, inputs: [cid], deadline })),
          'text/plain',
        ),
        415,
        'PLX_UNSUPPORTED_MEDIA_TYPE',
      );
      await expectCode(
        await post(
          '/v1/jobs',
          JSON.stringify(await signed({ kind: 'tf.infer', model: cid, inputs: [cid], deadline })),
        ),
        400,
        'PLX_UNSUPPORTED_JOB_KIND',
      );
      await expectCode(
        await post(
          '/v1/jobs',
          JSON.stringify(await signed({ kind: 'onnx.infer', model: 'XYZ', inputs: [cid], deadline })),
        ),
        400,
        'PLX_BAD_CID',
      );
      const good = randomAccount().address;
      const i = [...good].findIndex((ch, k) => k > 1 && /[a-f]/i.test(ch));
      const ch = good[i]!;
      const bad =
        good.slice(0, i) +
        (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) +
        good.slice(i + 1);
      await expectCode(await fetch(`${url}/v1/rewards/${bad}`), 400, 'PLX_VALIDATION');
    },
  },
  {
    name: 'item 7: a 40,000-deep hardware claim is PLX_VALIDATION, never PLX_INTERNAL',
    async run() {
      const s = await rawSession();
      const deep = `${'{"x":'.repeat(40_000)}1${'}'.repeat(40_000)}`;
      s.ws.send(
        `{"type":"auth","provider":"${randomAccount().address}","issuedAt":1,"signature":"0x${'11'.repeat(65)}","hardware":${deep},"slots":1,"region":"eu","agentVersion":"t"}`,
      );
      const err = await firstError(s);
      s.ws.close();
      expect(err?.code === 'PLX_VALIDATION', `error ${String(err?.code)}`);
    },
  },
  {
    name: 'oversized JSON body is 413 PLX_PAYLOAD_TOO_LARGE',
    async run() {
      // The server answers 413 as soon as the declared length is over its limit and stops reading,
      // so the body is sent by hand: fetch fails writing the rest (EPIPE) on a busy machine.
      const s = connect(Number(new URL(url).port), '127.0.0.1');
      s.on('error', () => {});
      let answer = '';
      s.on('data', (d) => {
        answer += d.toString();
      });
      s.write(
        `POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${8 * 1024 * 1024}\r\n\r\n{"pad":"`,
      );
      await within(
        (async () => {
          while (!answer.includes('PLX_')) await new Promise((r) => setTimeout(r, 20));
        })(),
        10_000,
        '413',
      );
      s.destroy();
      expect(/^HTTP\/1\.1 413/.test(answer) && answer.includes('PLX_PAYLOAD_TOO_LARGE'), answer.slice(0, 80));
    },
  },
  {
    name: 'slowloris: 200 half-sent requests do not stop others being served (PLX_NOT_FOUND answered meanwhile)',
    async run() {
      const socks: Socket[] = [];
      for (let i = 0; i < n(200); i++) {
        const s = connect(Number(new URL(url).port), '127.0.0.1');
        s.on('error', () => {});
        s.write(
          'POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"sp',
        );
        socks.push(s);
      }
      await new Promise((r) => setTimeout(r, 1000));
      await expectCode(await fetch(`${url}/v1/no-such-route`), 404, 'PLX_NOT_FOUND');
      for (const s of socks) s.destroy();
    },
  },
  {
    name: 'forged and replayed auth: a challenge signed by another key is PLX_BAD_SIGNATURE; a replayed job PLX_REPLAY',
    async run() {
      const s = await rawSession();
      const hello = await within(
        (async () => {
          while (!s.inbox.some((m) => m.type === 'hello')) await new Promise((r) => setTimeout(r, 20));
          return s.inbox.find((m) => m.type === 'hello')!;
        })(),
        10_000,
        'hello',
      );
      const { capabilitiesHash } = await import('../../src/protocol/capabilities.ts');
      const { signPlexusMessage } = await import('../../src/protocol/eip712.ts');
      const me = randomAccount();
      const claim = {
        hardware: { cpuModel: 'c', cpuCores: 1, memoryBytes: 1, gpus: [], executionProviders: ['cpu'] },
        slots: 1,
        region: 'eu',
        agentVersion: 't',
      };
      const issuedAt = Math.floor(Date.now() / 1000);
      const signature = await signPlexusMessage(randomAccount(), 31337, 'SessionAuth', {
        provider: me.address,
        challenge: hello.challenge as `0x${string}`,
        capabilitiesHash: capabilitiesHash(claim),
        issuedAt: BigInt(issuedAt),
      });
      s.ws.send(JSON.stringify({ type: 'auth', provider: me.address, issuedAt, signature, ...claim }));
      await within(s.closed, 15_000, 'close');
      expect(s.inbox.find((m) => m.type === 'error')?.code === 'PLX_BAD_SIGNATURE', 'PLX_BAD_SIGNATURE');
      const client = createClient({ url, account: accounts.honest });
      const model = await client.uploadFile(ppocrDetectionModelPath());
      const input = await client.uploadBlob(encodeSafetensors(ocrInput(2)));
      const body = JSON.stringify(
        await signJobSubmission(accounts.honest, await jobDomain(), {
          kind: 'onnx.infer',
          model: model.cid,
          inputs: [input.cid],
          deadline: Math.floor(Date.now() / 1000) + 5,
        }),
      );
      const first = await post('/v1/jobs', body);
      expect(first.status === 201, `first submission ${first.status}`);
      await expectCode(await post('/v1/jobs', body), 409, 'PLX_REPLAY');
    },
  },
  {
    name: 'WebSocket message flood: 2,000 messages get PLX_RATE_LIMITED and the session is closed',
    async run() {
      const p = await connectRawProvider(url, randomAccount());
      const closed = new Promise<number>((r) => p.ws.on('close', (code) => r(code)));
      for (let i = 0; i < n(2000) && p.ws.readyState === p.ws.OPEN; i++) p.ws.send('{"type":"drain"}');
      const err = await p.next('error', 10_000);
      expect(err.code === 'PLX_RATE_LIMITED', `error ${String(err.code)}`);
      expect((await within(closed, 15_000, 'close')) === 1008, 'closed 1008');
    },
  },
  {
    name: 'a 1 GiB blob declared then aborted after 4 MiB does not stall the coordinator; a declared 64 GiB upload is refused (413/400 or the connection closed)',
    async run() {
      const s = connect(Number(new URL(url).port), '127.0.0.1');
      s.on('error', () => {});
      s.write(
        'POST /v1/blobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/octet-stream\r\ncontent-length: 1073741824\r\n\r\n',
      );
      s.write(Buffer.alloc(n(4) * 1024 * 1024, 1));
      await new Promise((r) => setTimeout(r, 500));
      s.destroy();
      const res = await fetch(`${url}/v1/blobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(64 * 1024 ** 3) },
        body: new Uint8Array(16),
        duplex: 'half',
      } as RequestInit).catch(() => undefined);
      expect(res === undefined || res.status === 413 || res.status === 400, `status ${res?.status}`);
    },
  },
];

async function sendResult(
  p: Awaited<ReturnType<typeof connectRawProvider>>,
  assign: { assignmentId: string; taskId: string },
  cid: string,
) {
  p.ws.send(JSON.stringify(await signedResult(p.account, p.account.address, assign, cid)));
  return p.next('ack', 10_000);
}

async function honestJob(dir: string) {
  const pdir = join(dir, 'provider');
  await loadOrCreateKeystore(join(pdir, 'key.json'), DEVNET_PASSWORD, {
    scrypt: { n: 1024, r: 8, p: 1 },
    logger: createLogger('attack', { level: 'silent' }),
  });
  const agent = spawnPlexus('provider', ['provider', 'start', '--coordinator', url, '--data-dir', pdir], {
    env: { PLEXUS_KEYSTORE_PASSWORD: DEVNET_PASSWORD, PLEXUS_LOG_LEVEL: 'warn' },
    print: () => {},
  });
  children.push(agent);
  await agent.waitFor('PLEXUS_PROVIDER_STARTED', 120_000);
  const client = createClient({ url, account: randomAccount() });
  const model = await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())));
  const input = await client.uploadBlob(encodeSafetensors(ocrInput(7)));
  const { jobId } = await client.submitJob({
    kind: 'onnx.infer',
    model: model.cid,
    inputs: [input.cid],
    deadline: Math.floor(Date.now() / 1000) + 300,
  });
  const job = await client.waitForJob(jobId);
  expect(job.status === 'completed', `job ${job.status}`);
  const out = (await client.jobResults(jobId)).outputs[0]?.output;
  expect(out, 'an output');
  // Outputs are private to the job's client: downloaded as it (the SDK signs the request).
  const tensors = decodeSafetensors(await client.downloadBlob(out as string));
  const [t] = Object.values(tensors);
  // PP-OCRv4 detection: a probability map the size of the input (1×1×64×320), values in [0, 1].
  expect(t && t.shape.join('x') === '1x1x64x320', `output shape ${t?.shape.join('x')}`);
  const data = t.data as Float32Array;
  expect(data.every((v) => v >= 0 && v <= 1) && data.some((v) => v > 0.5), 'a text probability map');
}

async function main() {
  const { dir, cleanup } = await tempDir('plexus-attack-');
  const honest = privateKeyToAccount(`0x${'42'.repeat(32)}`);
  let exitCode = 1;
  try {
    const coord = spawnPlexus(
      'coordinator',
      [
        'coordinator',
        '--port',
        '0',
        '--data-dir',
        join(dir, 'coord'),
        '--log-level',
        'warn',
        '--rate-limit-per-minute',
        '1000000',
      ],
      { print: (l) => process.stderr.write(`${l}\n`) },
    );
    children.push(coord);
    ({ url } = await coord.waitFor<{ url: string }>('PLEXUS_COORDINATOR_READY', 120_000));
    await fetch(`${url}/v1/health`);
    const mon = monitor(coord.proc.pid!);
    await new Promise((r) => setTimeout(r, 1000));
    const baseline = Math.min(...mon.rss);
    const all: Case[] = [
      ...cases({ honest }),
      {
        name: 'an honest job completes correctly afterwards (real agent, PP-OCRv4)',
        run: () => honestJob(dir),
      },
    ];
    for (const c of all) {
      const t = performance.now();
      mon.case = c.name;
      try {
        await within(c.run(), 180_000, c.name);
        results.push({ name: c.name, ok: true });
        const worst = Math.max(0, ...(mon.byCase.get(c.name) ?? []));
        console.log(
          `ok    ${c.name} (${Math.round(performance.now() - t)} ms; worst health ${worst.toFixed(0)} ms)`,
        );
      } catch (err) {
        results.push({ name: c.name, ok: false, why: (err as Error).message });
        console.log(`FAIL  ${c.name}: ${(err as Error).message}`);
      }
    }
    await mon.end();
    const sorted = [...mon.latencies].sort((a, b) => a - b);
    const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
    const growth = Math.max(...mon.rss) - baseline;
    const health = p99 < HEALTH_P99_MS;
    results.push({
      name: `health p99 ${p99.toFixed(0)} ms (< ${HEALTH_P99_MS}, ${sorted.length} samples, max ${sorted.at(-1)?.toFixed(0)} ms)`,
      ok: health,
    });
    console.log(
      `${health ? 'ok  ' : 'FAIL'}  health p99 ${p99.toFixed(0)} ms over ${sorted.length} samples (max ${sorted.at(-1)?.toFixed(0)} ms; bound ${HEALTH_P99_MS} ms)`,
    );
    const rssOk = growth < RSS_GROWTH_MIB;
    results.push({ name: 'rss', ok: rssOk });
    console.log(
      `${rssOk ? 'ok  ' : 'FAIL'}  RSS growth ${growth.toFixed(0)} MiB (baseline ${baseline.toFixed(0)} MiB, peak ${Math.max(...mon.rss).toFixed(0)} MiB; bound ${RSS_GROWTH_MIB} MiB)`,
    );
    exitCode = results.every((r) => r.ok) ? 0 : 1;
  } catch (err) {
    console.log(`FAIL  setup: ${(err as Error).message}`);
    results.push({ name: 'setup', ok: false });
  } finally {
    await Promise.all(children.map((c) => c.stop(5_000).catch(() => null)));
    await cleanup().catch(() => {});
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exit(exitCode);
}

void main();
