/**
 * What a provider's private blob read costs, signed (`BlobRead`, EIP-712, one per read: the agent
 * signs, the coordinator recovers the signer) against the lease token the assignment carries
 * (docs/security.md, "Reads"). A real coordinator in this process (SQLite store, HTTP), a real job
 * (PP-OCRv4 model, one input) leased to a scripted provider; both kinds of read are measured in the
 * same run, interleaved:
 * - `agent…Us`: CPU µs the agent spends making the header of one read (signing, or a map lookup);
 * - `coordinator…Us`: CPU µs of the coordinator's read check (`authorizeRead`) for one read;
 * - `http…Ms`: wall ms (median) of one whole `GET /v1/blobs/:cid` of the input, header included,
 *   and `http…CpuMs` the CPU of this process (client and coordinator) per read.
 * CPU times are the figures to trust on a loaded machine; wall times swing with its load.
 *
 * npm run bench -- blob-read-auth [--json] [--reads N]
 */
import { readFile } from 'node:fs/promises';
import { createClient } from '../src/client/createClient.ts';
import { createBlobAccess, DEFAULT_BLOB_QUOTA } from '../src/coordinator/blobs/blobAccess.ts';
import { createReadCapabilities } from '../src/coordinator/blobs/readCapability.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../src/protocol/eip712.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import {
  ocrInput,
  ppocrDetectionModelPath,
  randomAccount,
  testCoordinator,
} from '../test/helpers/fixtures.ts';
import { connectRawProvider } from '../test/helpers/rawProvider.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU µs per call of `f` over `n` calls. */
async function cpuPer(n: number, f: () => unknown | Promise<unknown>): Promise<number> {
  const t = cpuUs();
  for (let i = 0; i < n; i++) await f();
  return (cpuUs() - t) / n;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const i = args.indexOf('--reads');
  const reads = i >= 0 ? Number(args[i + 1]) : 300;
  const c = await testCoordinator({ canaryRate: 0 });
  const provider = await connectRawProvider(c.url, randomAccount());
  try {
    const client = createClient({ url: c.url, account: randomAccount() });
    const model = (await client.uploadBlob(new Uint8Array(await readFile(ppocrDetectionModelPath())))).cid;
    const input = (await client.uploadBlob(encodeSafetensors(ocrInput(1, 640, 96)))).cid;
    await client.submitJob({
      kind: 'onnx.infer',
      model,
      inputs: [input],
      deadline: Math.floor(Date.now() / 1000) + 3600,
      taskTimeoutSec: 3600,
      verification: { policy: 'none' },
    });
    const assign = await provider.next('assign', 120_000);
    const token = String(assign.readToken);
    const account = provider.account;
    const chainId = 31337;

    // The agent's side: a signature per read, or the grant's token (what blobHttp does per read).
    const grants = new Map([[input, { token, until: Date.now() + 3_600_000 }]]);
    const agentTokenUs = await cpuPer(reads * 10, () => {
      const g = grants.get(input);
      return g && g.until > Date.now() ? { [BLOB_AUTH_HEADER]: g.token } : undefined;
    });
    const agentSignedUs = await cpuPer(reads, () => signBlobAuth(account, chainId, { cid: input }));

    // The coordinator's check, on its store, with a token of the same lease under our own key.
    const caps = createReadCapabilities();
    const access = createBlobAccess({
      store: c.store,
      db: c.store.db,
      chainId,
      quota: DEFAULT_BLOB_QUOTA,
      readTokens: caps,
    });
    const myToken = caps.mint(account.address, String(assign.assignmentId), 3_600_000);
    const signed = await Promise.all(
      Array.from({ length: reads }, () => signBlobAuth(account, chainId, { cid: input })),
    );
    let k = 0;
    const coordinatorSignedUs = await cpuPer(reads, () => access.authorizeRead(signed[k++]!, input));
    const coordinatorTokenUs = await cpuPer(reads, () => access.authorizeRead(myToken, input));

    // Whole reads over HTTP, interleaved in blocks of 20 so load swings hit both alike.
    const wall = { signed: [] as number[], token: [] as number[] };
    const cpu = { signed: 0, token: 0 };
    const get = async (kind: 'signed' | 'token') => {
      const c0 = cpuUs();
      const t0 = performance.now();
      const header = kind === 'token' ? token : await signBlobAuth(account, chainId, { cid: input });
      const res = await fetch(`${c.url}/v1/blobs/${input}`, { headers: { [BLOB_AUTH_HEADER]: header } });
      if (res.status !== 200) throw new Error(`${kind} read: ${res.status}`);
      await res.arrayBuffer();
      wall[kind].push(performance.now() - t0);
      cpu[kind] += cpuUs() - c0;
    };
    for (let b = 0; b < reads / 20; b++)
      for (const kind of ['signed', 'token'] as const) for (let j = 0; j < 20; j++) await get(kind);
    const figures = {
      reads,
      agentSignedUs: Math.round(agentSignedUs),
      agentTokenUs: Number(agentTokenUs.toFixed(2)),
      coordinatorSignedUs: Math.round(coordinatorSignedUs),
      coordinatorTokenUs: Math.round(coordinatorTokenUs),
      httpSignedMs: Number(median(wall.signed).toFixed(2)),
      httpTokenMs: Number(median(wall.token).toFixed(2)),
      httpSignedCpuMs: Number((cpu.signed / wall.signed.length / 1000).toFixed(2)),
      httpTokenCpuMs: Number((cpu.token / wall.token.length / 1000).toFixed(2)),
    };
    console.log('per read            signed      token');
    console.log(
      `agent CPU µs      ${String(figures.agentSignedUs).padStart(8)} ${String(figures.agentTokenUs).padStart(10)}`,
    );
    console.log(
      `coordinator CPU µs ${String(figures.coordinatorSignedUs).padStart(7)} ${String(figures.coordinatorTokenUs).padStart(10)}`,
    );
    console.log(
      `HTTP wall ms p50  ${String(figures.httpSignedMs).padStart(8)} ${String(figures.httpTokenMs).padStart(10)}`,
    );
    console.log(
      `HTTP CPU ms       ${String(figures.httpSignedCpuMs).padStart(8)} ${String(figures.httpTokenCpuMs).padStart(10)}`,
    );
    return figures;
  } finally {
    await provider.close();
    await c.cleanup();
  }
}
