/**
 * A stand-in for the coordinator's blob endpoint in validator tests: serves `GET /v1/blobs/<cid>`
 * from memory, only to a valid validator-signed read (`BlobRead`, as the coordinator checks it; the
 * coordinator's own access rules are tested with the coordinator), and counts the reads.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BLOB_AUTH_HEADER, parseBlobAuth, verifyPlexusMessage } from '../../src/protocol/eip712.ts';
import { cidOf } from '../../src/protocol/ids.ts';

export type BlobStandIn = {
  url: string;
  /** Stores bytes and returns their content id. */
  put(bytes: Uint8Array): string;
  /** Signed reads served so far. */
  reads(): number;
  close(): Promise<void>;
};

/** @example const blobs = await startBlobStandIn(31337); blobs.put(bytes); … await blobs.close(); */
export async function startBlobStandIn(chainId: number): Promise<BlobStandIn> {
  const blobs = new Map<string, Uint8Array>();
  let reads = 0;
  const server = createServer(async (req, res) => {
    const cid = /^\/v1\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const auth = parseBlobAuth(req.headers[BLOB_AUTH_HEADER] as string | undefined);
    const bytes = cid ? blobs.get(cid) : undefined;
    if (!cid || !auth || !bytes) return void res.writeHead(cid && auth ? 404 : 401).end();
    try {
      await verifyPlexusMessage({
        chainId,
        primaryType: 'BlobRead',
        message: { account: auth.account, cid: `0x${cid}`, issuedAt: auth.issuedAt },
        signature: auth.signature,
        expectedSigner: auth.account,
      });
    } catch {
      return void res.writeHead(401).end();
    }
    reads++;
    res.writeHead(200, { 'content-length': bytes.byteLength }).end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    put(bytes) {
      const cid = cidOf(bytes);
      blobs.set(cid, bytes);
      return cid;
    },
    reads: () => reads,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
