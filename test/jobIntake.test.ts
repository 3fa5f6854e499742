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
import { createMarket, type Market } from '../src/coordinator/market/createMarket.ts';
import { worstCaseCost } from '../src/coordinator/market/priceExecution.ts';
import { modelReadReserve } from '../src/coordinator/storage/modelReadReserve.ts';
import { storageDb } from '../src/coordinator/storage/storageTables.ts';
import { openStore } from '../src/coordinator/store/openStore.ts';
import { policyOfSpec } from '../src/coordinator/verification/policy.ts';
import { PlexusError } from '../src/errors/PlexusError.ts';
import { createLogger } from '../src/logger.ts';
import { DEFAULT_MAX_PRICE_PER_UNIT } from '../src/protocol/constants.ts';
import { cidOf } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import type { JobSpec } from '../src/protocol/schemas.ts';
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
  const bytesRead = { n: 0 };
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
      const b = files.get(cid)!;
      bytesRead.n += b.byteLength;
      into.set(b);
    },
    async readHead(cid: string, into: Uint8Array) {
      touched.push(`read:${cid}`);
      const b = files.get(cid)!;
      const n = Math.min(b.byteLength, into.length);
      into.set(b.subarray(0, n));
      bytesRead.n += n;
      return { read: n, size: b.byteLength };
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
  const submit = async (model: string, inputs = [input]) =>
    submitter.submit(
      await signJobSubmission(randomAccount(), 31337, {
        kind: 'onnx.infer',
        model,
        inputs,
        deadline: Math.floor(Date.now() / 1000) + 600,
      }),
    );
  return { store, blobs, input, put, remove: (cid: string) => files.delete(cid), touched, bytesRead, submit };
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

test("a job whose model is the client's stored object reserves its model reads with its worst case (issue 19)", async () => {
  const f = await intake({ inspect: async () => meta });
  try {
    const market = createMarket({
      db: f.store.db,
      clock: { epochAt: () => 1, startsAt: () => 0, endsAt: () => 1 } as never,
      log: createLogger('test', { level: 'silent' }),
    });
    const submitter = createJobSubmitter({
      db: f.store.db,
      blobs: f.blobs,
      events: createEventLog(f.store.db, f.store.raw),
      chainId: 31337,
      market,
      inspect: async () => meta,
    });
    const owner = randomAccount();
    const model = f.put(new Uint8Array([4, 5, 6]));
    const manifest = { segments: [{ pieceBytes: 2, pieceRoots: ['r0', 'r1', 'r2'] }] };
    await storageDb(f.store.db)
      .insertInto('storage_objects')
      .values({
        ...{ object_id: model, client: owner.address.toLowerCase(), object_bytes: 3, data_pieces: 2 },
        ...{ parity_pieces: 1, manifest: JSON.stringify(manifest), epochs: 1, price_per_gib_epoch: '1' },
        ...{ escrow: '0', start_epoch: 0, status: 'stored' as const, created_at: 0, updated_at: 0 },
        put_request: null,
      })
      .execute();
    const job = { kind: 'onnx.infer' as const, model, inputs: [f.input, f.input] };
    const worst = async (account: ReturnType<typeof randomAccount>) => {
      const spec = { ...job, deadline: Math.floor(Date.now() / 1000) + 600 };
      const { jobId } = await submitter.submit(await signJobSubmission(account, 31337, spec));
      const row = await f.store.db
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', jobId)
        .executeTakeFirstOrThrow();
      return { worst: BigInt(row.worst_case ?? '-1'), spec: JSON.parse(row.spec) as JobSpec };
    };
    const mine = await worst(owner);
    const compute = {
      tasks: 2,
      policy: policyOfSpec(mine.spec),
      taskTimeoutSec: mine.spec.taskTimeoutSec,
      maxPrice: DEFAULT_MAX_PRICE_PER_UNIT,
    };
    const reserve = await modelReadReserve(f.store.db, {
      model,
      client: owner.address,
      tasks: 2,
      policy: compute.policy,
    });
    assert.ok(reserve > 0n, `the stored model reserves its reads (${reserve})`);
    assert.equal(
      mine.worst,
      worstCaseCost(compute) + reserve,
      "the owner's job reserves compute and model reads",
    );
    // Someone else naming the same cid: its providers may not read the object, nothing reserved.
    assert.equal(
      (await worst(randomAccount())).worst,
      worstCaseCost(compute),
      'a stranger reserves compute only',
    );
  } finally {
    await f.store.close();
  }
});

test("intake reads only each input's header, and a refused submission sent again reads nothing (review s10 F5)", async () => {
  const f = await intake({
    inspect: async () => ({ ...meta, inputs: [{ name: 'x', dtype: 'float32', shape: [1, -1] }] }),
  });
  try {
    const model = f.put(new Uint8Array([7, 7, 7]));
    // Twenty 4 MiB inputs that fit the model, then one whose tensor has the wrong name.
    const big = (i: number, name: string) => {
      const data = new Float32Array(1024 * 1024);
      data[0] = i;
      return f.put(encodeSafetensors({ [name]: { dtype: 'float32', shape: [1, data.length], data } }));
    };
    const inputs = [...Array.from({ length: 20 }, (_, i) => big(i, 'x')), big(99, 'not_x')];
    await assert.rejects(f.submit(model, inputs), { code: 'PLX_INPUT_MISMATCH' });
    const first = f.bytesRead.n;
    assert.ok(first < 21 * 128 * 1024, `headers only: ${first} bytes read for 21 inputs of 4 MiB`);
    // The same refusal again (any nonce): its inputs' outcomes are known, nothing is read.
    const err = await f.submit(model, inputs).catch((e: PlexusError) => e);
    assert.equal((err as PlexusError).code, 'PLX_INPUT_MISMATCH');
    assert.equal((err as PlexusError).details?.index, 20, 'the error still names the input');
    assert.equal(f.bytesRead.n, first, 'a repeated refusal reads no input again');
    // A job of the inputs that fit is taken, also from the kept outcomes.
    await f.submit(model, inputs.slice(0, 20));
    assert.equal(f.bytesRead.n, first, 'nor does a job of inputs already checked');
  } finally {
    await f.store.close();
  }
});
