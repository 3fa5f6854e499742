/**
 * Attack-suite cases beyond issue 16's numbered findings: slow requests held open (slowloris on
 * headers and bodies), and private data asked for by outsiders (run by test/attack/run.ts;
 * docs/security.md lists them with their bounds and codes).
 */
import { connect } from 'node:net';
import { createClient } from '../../src/client/createClient.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../../src/protocol/eip712.ts';
import { encodeSafetensors } from '../../src/protocol/safetensors.ts';
import { ocrInput, randomAccount } from '../helpers/fixtures.ts';
import { type Case, expect, expectCode, n, port, url, within } from './harness.ts';

/** A raw socket that sends `head`, then `drip` every second, until the server closes it. */
function slowRequest(head: string, drip: string) {
  const s = connect(port(), '127.0.0.1');
  let answer = '';
  s.on('data', (d) => {
    answer += d.toString();
  });
  s.on('error', () => {});
  s.write(head);
  const timer = setInterval(() => {
    if (!s.destroyed) s.write(drip);
  }, 1000);
  const closed = new Promise<string>((r) =>
    s.on('close', () => {
      clearInterval(timer);
      r(answer);
    }),
  );
  return { closed, destroy: () => s.destroy() };
}

export const limitsCases = (): Case[] => [
  {
    name: 'slowloris: trickled headers and bodies are closed by the coordinator (headers 10 s; a body 10 s + its length at 128 KiB/s: 408 PLX_REQUEST_TIMEOUT)',
    async run() {
      const heads = Array.from({ length: n(100) }, () =>
        slowRequest('GET /v1/health HTTP/1.1\r\nhost: x\r\n', 'x-slow: 1\r\n'),
      );
      const bodies = Array.from({ length: n(100) }, () =>
        slowRequest(
          'POST /v1/jobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"p":"',
          'x',
        ),
      );
      try {
        // Defaults: headers within 10 s (checked each second); 100,000 bytes at 128 KiB/s ≈ 10.8 s.
        await within(Promise.all(heads.map((h) => h.closed)), 40_000, 'slow headers closed');
        const answers = await within(Promise.all(bodies.map((b) => b.closed)), 40_000, 'slow bodies closed');
        const timedOut = answers.filter(
          (a) => /^HTTP\/1\.1 408/.test(a) && a.includes('PLX_REQUEST_TIMEOUT'),
        );
        expect(timedOut.length === answers.length, `${timedOut.length} of ${answers.length} got 408`);
      } finally {
        for (const r of [...heads, ...bodies]) r.destroy();
      }
    },
  },
  {
    name: "private data: a private job's model, input and output are PLX_AUTH_REQUIRED unsigned and PLX_BLOB_FORBIDDEN signed by another key, also with a forged lease token",
    async run() {
      const owner = randomAccount();
      const sdk = createClient({ url, account: owner });
      const input = await sdk.uploadBlob(encodeSafetensors(ocrInput(21)));
      await expectCode(await fetch(`${url}/v1/blobs/${input.cid}`), 401, 'PLX_AUTH_REQUIRED');
      const { chainId } = await sdk.health();
      const other = await signBlobAuth(randomAccount(), chainId, { cid: input.cid });
      await expectCode(
        await fetch(`${url}/v1/blobs/${input.cid}`, { headers: { [BLOB_AUTH_HEADER]: other } }),
        403,
        'PLX_BLOB_FORBIDDEN',
      );
      const forged = `cap1.${randomAccount().address.toLowerCase()}.0x${'ab'.repeat(32)}.${Date.now() + 60_000}.${'A'.repeat(43)}`;
      await expectCode(
        await fetch(`${url}/v1/blobs/${input.cid}`, { headers: { [BLOB_AUTH_HEADER]: forged } }),
        403,
        'PLX_BLOB_FORBIDDEN',
      );
      expect((await sdk.downloadBlob(input.cid)).byteLength > 0, 'the owner reads it');
    },
  },
];
