/**
 * The attack suite's cases for issue 16's numbered findings and the generic HTTP and WebSocket
 * abuse (run by test/attack/run.ts; docs/security.md lists them with their bounds and codes).
 */
import { connect, type Socket } from 'node:net';
import { createClient } from '../../src/client/createClient.ts';
import { signJobSubmission } from '../../src/client/signJobSubmission.ts';
import { encodeSafetensors } from '../../src/protocol/safetensors.ts';
import type { OnnxInferSpecInput } from '../../src/protocol/schemas.ts';
import { taskRefOf } from '../../src/protocol/taskRef.ts';
import { ocrInput, ppocrDetectionModelPath, randomAccount } from '../helpers/fixtures.ts';
import { connectRawProvider, signedResult } from '../helpers/rawProvider.ts';
import {
  type Case,
  type CaseAccounts,
  expect,
  expectCode,
  firstError,
  jobDomain,
  n,
  port,
  post,
  rawSession,
  sendResult,
  url,
  within,
} from './harness.ts';

export const cases = (accounts: CaseAccounts): Case[] => [
  {
    name: 'item 1: results for leases the key does not hold, naming a 32 MiB blob, are refused cheaply (PLX_STALE_ASSIGNMENT)',
    async run() {
      const big = new Uint8Array(n(32) * 1024 * 1024);
      big.fill(7);
      const p = await connectRawProvider(url, randomAccount());
      const client = createClient({ url, account: randomAccount() });
      const { cid } = await client.uploadBlob(big);
      for (let i = 0; i < 10; i++) {
        // The lease's own reference as its taskId (protocol v3, taskRef.ts), so the result reaches
        // the lease lookup: a wrong reference is refused before it (PLX_TASK_REF_MISMATCH).
        const assignmentId = `0x${(i + 1).toString(16).padStart(64, '0')}`;
        const fake = { type: 'assign', assignmentId, taskId: taskRefOf(assignmentId) };
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
        const s = connect(port(), '127.0.0.1');
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
      const s = connect(port(), '127.0.0.1');
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
        const s = connect(port(), '127.0.0.1');
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
      // Not scaled: the burst allowance is 400 messages, so fewer would never be refused.
      for (let i = 0; i < 2000 && p.ws.readyState === p.ws.OPEN; i++) p.ws.send('{"type":"drain"}');
      const err = await p.next('error', 10_000);
      expect(err.code === 'PLX_RATE_LIMITED', `error ${String(err.code)}`);
      expect((await within(closed, 15_000, 'close')) === 1008, 'closed 1008');
    },
  },
  {
    name: 'review s12 F1: cache frames of 3,500 new cids from an unstaked key are refused past 4,096 (PLX_CACHE_LIMIT_EXCEEDED) and close the session',
    async run() {
      const p = await connectRawProvider(url, randomAccount());
      const closed = new Promise<number>((r) => p.ws.on('close', (code) => r(code)));
      let next = 0;
      const fresh = (k: number) => Array.from({ length: k }, () => (next++).toString(16).padStart(64, '0'));
      // Not scaled: the bound is 4,096 cids; two frames fill it, every later frame is refused.
      p.ws.send(JSON.stringify({ type: 'cache', added: fresh(2048) }));
      p.ws.send(JSON.stringify({ type: 'cache', added: fresh(2048) }));
      for (let i = 0; i < 6; i++) {
        p.ws.send(JSON.stringify({ type: 'cache', added: fresh(3500) }));
        const err = await p.next('error', 10_000);
        expect(err.code === 'PLX_CACHE_LIMIT_EXCEEDED', `error ${String(err.code)}`);
      }
      for (let i = 0; i < 20 && p.ws.readyState === p.ws.OPEN; i++)
        p.ws.send(JSON.stringify({ type: 'cache', added: fresh(1) }));
      expect((await within(closed, 15_000, 'close')) === 1008, 'closed 1008');
    },
  },
  {
    name: 'a 1 GiB blob declared then aborted after 4 MiB does not stall the coordinator; a declared 64 GiB upload is refused (413/400 or the connection closed)',
    async run() {
      const s = connect(port(), '127.0.0.1');
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
