/**
 * `npm run bench -- blob-bytes`: the agent's CPU per MB downloaded into its blob cache (hashed,
 * written, renamed), through node:http (`blobHttp.get`, the path before 2026-12-07) and through the
 * lean GET (`blobHttp.source`, agent/fastBlobGet.ts), from a plain node:http server in another
 * process on loopback (the coordinator's side is not counted). Rounds alternate the two paths, so
 * a change in machine load shows as spread, not bias. Options: --mb M (blob size, default 6: a task
 * input of 8 images of 640×96) --blobs K (distinct blobs per round, default 8) --rounds R (default 4).
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { createBlobHttp } from '../src/provider/agent/blobHttp.ts';
import { createBlobCache } from '../src/provider/cache/createBlobCache.ts';
import { tempDir } from '../test/helpers/fixtures.ts';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
}

/** The blob server (run in a child process): K blobs of `bytes` bytes, each `seed`-patterned. */
const SERVER = `
const http = require('node:http');
const { createHash } = require('node:crypto');
const [bytes, k] = process.argv.slice(1).map(Number);
const blobs = new Map();
for (let s = 0; s < k; s++) {
  const b = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) b.writeUInt32LE((i * 2654435761 + s) >>> 0, i);
  blobs.set(createHash('sha256').update(b).digest('hex'), b);
}
const srv = http.createServer((req, res) => {
  const b = blobs.get(req.url.split('/').pop());
  if (!b) return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.length }).end(b);
});
srv.listen(0, '127.0.0.1', () => process.send({ port: srv.address().port, cids: [...blobs.keys()] }));
`;

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const mb = arg(args, 'mb', 6);
  const k = arg(args, 'blobs', 8);
  const rounds = arg(args, 'rounds', 4);
  const bytes = Math.floor((mb * 1e6) / 4) * 4;
  // `node -e SERVER bytes k`, with the IPC channel fork opens.
  const child = fork('-e', [SERVER, String(bytes), String(k)], { execArgv: [], stdio: 'inherit' });
  const { port, cids } = await new Promise<{ port: number; cids: string[] }>((resolve) =>
    child.once('message', (m) => resolve(m as { port: number; cids: string[] })),
  );
  const blobs = createBlobHttp(`http://127.0.0.1:${port}`);
  const { dir, cleanup } = await tempDir('plexus-bench-bytes-');
  const logger = pino({ level: 'silent' });
  const cpuMsPerMb: Record<'nodeHttp' | 'fastGet', number[]> = { nodeHttp: [], fastGet: [] };
  try {
    let n = 0;
    for (let r = 0; r <= rounds; r++) {
      for (const path of ['nodeHttp', 'fastGet'] as const) {
        const cacheDir = join(dir, `c${n++}`);
        const cache = createBlobCache({
          dir: cacheDir,
          budgetBytes: 2 * k * bytes,
          logger,
          fetchBlob: (cid, signal) =>
            path === 'fastGet' ? blobs.source(cid, signal) : blobs.get(cid, signal),
        });
        const c0 = process.cpuUsage();
        for (const cid of cids) await cache.get(cid);
        const c = process.cpuUsage(c0);
        // Round 0 warms both paths up (connections, JIT) and is not counted.
        if (r > 0) cpuMsPerMb[path].push((c.user + c.system) / 1000 / ((k * bytes) / 1e6));
        await rm(cacheDir, { recursive: true, force: true });
      }
    }
  } finally {
    blobs.close();
    child.kill();
    await cleanup();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const figures = {
    mbPerBlob: mb,
    blobsPerRound: k,
    rounds,
    sha256CpuMsPerMb: sha256CostMs(),
    agentCpuMsPerMb: {
      nodeHttp: Number(median(cpuMsPerMb.nodeHttp).toFixed(3)),
      fastGet: Number(median(cpuMsPerMb.fastGet).toFixed(3)),
    },
    samples: Object.fromEntries(
      Object.entries(cpuMsPerMb).map(([p, xs]) => [p, xs.map((x) => Number(x.toFixed(3)))]),
    ),
  };
  console.log(
    `agent CPU per MB downloaded into the cache (median of ${rounds}): node:http ${figures.agentCpuMsPerMb.nodeHttp} ms, lean GET ${figures.agentCpuMsPerMb.fastGet} ms; sha256 alone ${figures.sha256CpuMsPerMb} ms`,
  );
  return figures;
}

/** CPU ms per MB of sha256 alone on this machine (the floor of a download that is verified). */
function sha256CostMs(): number {
  const b = Buffer.alloc(8e6, 7);
  const c0 = process.cpuUsage();
  for (let i = 0; i < 5; i++) createHash('sha256').update(b).digest();
  const c = process.cpuUsage(c0);
  return Number(((c.user + c.system) / 1000 / 40).toFixed(3));
}
