/**
 * Issue 16, item 3: job intake does the cheap checks (blobs exist, escrow covers the job) before
 * the expensive ones, and loads models one at a time (isolated by default, see submitJob.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signJobSubmission } from '../src/client/signJobSubmission.ts';
import type { BlobStore } from '../src/coordinator/blobs/createBlobStore.ts';
import { createEventLog } from '../src/coordinator/events/createEventLog.ts';
import { createJobSubmitter } from '../src/coordinator/jobs/submitJob.ts';
import type { Market } from '../src/coordinator/market/createMarket.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { PlexusError } from '../src/errors/PlexusError.ts';
import { cidOf } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { OnnxModelMeta } from '../src/runtimes/onnx/inspectOnnxModel.ts';
import { randomAccount } from './helpers/fixtures.ts';

const meta: OnnxModelMeta = {
  inputs: [{ name: 'x', dtype: 'float32', shape: [1] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [1] }],
};

async function intake(opts: { market?: Market; inspect: (path: string) => Promise<OnnxModelMeta> }) {
  const store = await openStore({ path: ':memory:' });
  const files = new Map<string, Uint8Array>();
  const touched: string[] = [];
  const blobs = {
    async size(cid: string) {
      return files.get(cid)?.byteLength;
    },
    pathOf(cid: string) {
      touched.push(`path:${cid}`);
      return `/nonexistent/${cid}`;
    },
    async localPath(cid: string) {
      touched.push(`path:${cid}`);
      return `/nonexistent/${cid}`;
    },
    async read(cid: string) {
      touched.push(`read:${cid}`);
      return files.get(cid)!;
    },
    async readInto(cid: string, into: Uint8Array) {
      touched.push(`read:${cid}`);
      into.set(files.get(cid)!);
    },
  } as unknown as BlobStore;
  const put = (bytes: Uint8Array) => {
    const cid = cidOf(bytes);
    files.set(cid, bytes);
    return cid;
  };
  const submitter = createJobSubmitter({
    db: store.db,
    blobs,
    events: createEventLog(store.db, store.raw),
    chainId: 31337,
    ...(opts.market ? { market: opts.market } : {}),
    inspect: opts.inspect,
  });
  const input = put(encodeSafetensors({ x: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } }));
  const submit = async (model: string) =>
    submitter.submit(
      await signJobSubmission(randomAccount(), 31337, {
        kind: 'onnx.infer',
        model,
        inputs: [input],
        deadline: Math.floor(Date.now() / 1000) + 600,
      }),
    );
  return { store, put, remove: (cid: string) => files.delete(cid), touched, submit };
}

test('a client whose escrow does not cover the job is refused before any model or input is read', async () => {
  let inspected = 0;
  const market = {
    async canAdmit() {
      throw new PlexusError('PLX_INSUFFICIENT_ESCROW', 'no escrow');
    },
    async admit() {
      throw new PlexusError('PLX_INSUFFICIENT_ESCROW', 'no escrow');
    },
  } as unknown as Market;
  const f = await intake({
    market,
    inspect: async () => {
      inspected++;
      return meta;
    },
  });
  try {
    const model = f.put(new Uint8Array([1, 2, 3]));
    // Issue 16: the model was loaded (in-process) and the inputs read before escrow was looked at.
    await assert.rejects(f.submit(model), { code: 'PLX_INSUFFICIENT_ESCROW' });
    assert.equal(inspected, 0, 'no model was inspected');
    assert.deepEqual(f.touched, [], 'no blob was opened');
  } finally {
    await f.store.close();
  }
});

test('models are inspected one at a time, through the injected (by default isolated) inspector', async () => {
  let running = 0;
  let most = 0;
  const f = await intake({
    inspect: async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 50));
      running--;
      return meta;
    },
  });
  try {
    const models = [1, 2, 3, 4].map((i) => f.put(new Uint8Array([i, i, i])));
    const done = await Promise.all(models.map((m) => f.submit(m)));
    assert.equal(done.length, 4);
    assert.equal(most, 1, 'never two inspections at once');
  } finally {
    await f.store.close();
  }
});

test('a model that vanishes during its inspection is PLX_UNKNOWN_BLOB, not an internal error', async () => {
  let model = '';
  const f = await intake({
    inspect: async () => {
      // What blob collection did under load: the file is gone by the time it is loaded.
      f.remove(model);
      throw Object.assign(new Error(`ENOENT: no such file or directory, open '/nonexistent/${model}'`), {
        code: 'ENOENT',
      });
    },
  });
  try {
    model = f.put(new Uint8Array([9, 9, 9]));
    await assert.rejects(f.submit(model), { code: 'PLX_UNKNOWN_BLOB' });
    // A model that is still stored but fails to load keeps its own error.
    const broken = f.put(new Uint8Array([8, 8, 8]));
    model = 'none';
    await assert.rejects(f.submit(broken), /ENOENT/);
  } finally {
    await f.store.close();
  }
});
