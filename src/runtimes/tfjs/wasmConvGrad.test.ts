import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tf, tfReady } from './tf.ts';
import { conv2dFilterGrad } from './wasmConvGrad.ts';

// Each geometry: input [N, H, W, C], filter [FH, FW, C, K], stride, padding.
const cases: { x: number[]; f: number[]; stride: number; pad: 'valid' | 'same' }[] = [
  { x: [4, 9, 9, 1], f: [3, 3, 1, 5], stride: 1, pad: 'valid' },
  { x: [3, 10, 11, 3], f: [3, 2, 3, 4], stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 2], f: [3, 3, 2, 3], stride: 1, pad: 'same' },
  { x: [2, 7, 9, 2], f: [5, 3, 2, 2], stride: 2, pad: 'same' },
];

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

test('the WASM Conv2DBackpropFilter kernel equals the direct sum, and the CPU backend', async () => {
  await tfReady();
  assert.equal(tf.getBackend(), 'wasm');
  for (const [i, c] of cases.entries()) {
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    const xv = seeded(size(c.x), 11 + i);
    const fv = seeded(size(c.f), 23 + i);
    const grad = (backend: string): { dw: Float32Array; dyv: Float32Array; outShape: number[] } => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        const x = tf.tensor4d(xv, c.x as [number, number, number, number]);
        const f = tf.tensor4d(fv, c.f as [number, number, number, number]);
        const out = tf.conv2d(x, f, c.stride, c.pad);
        const dy = tf.tensor(seeded(out.size, 37 + i), out.shape);
        const dw = tf.grad((w) => tf.sum(tf.mul(tf.conv2d(x, w as tf.Tensor4D, c.stride, c.pad), dy)))(f);
        return { dw: dw.dataSync() as Float32Array, dyv: dy.dataSync() as Float32Array, outShape: out.shape };
      });
    };
    const cpu = grad('cpu');
    const wasm = grad('wasm');
    const info = tf.backend_util.computeConv2DInfo(
      c.x as [number, number, number, number],
      c.f as [number, number, number, number],
      c.stride,
      1,
      c.pad,
    );
    const ref = new Float32Array(size(c.f));
    conv2dFilterGrad(xv, wasm.dyv, ref, { ...info, top: info.padInfo.top, left: info.padInfo.left });
    assert.deepEqual(wasm.outShape, [c.x[0], info.outHeight, info.outWidth, c.f[3]]);
    for (let k = 0; k < ref.length; k++) {
      const tol = 1e-4 * (1 + Math.abs(ref[k] as number));
      assert.ok(
        Math.abs((wasm.dw[k] as number) - (ref[k] as number)) < tol,
        `case ${i} [${k}]: ${wasm.dw[k]} vs ${ref[k]}`,
      );
      assert.ok(Math.abs((cpu.dw[k] as number) - (ref[k] as number)) < tol, `case ${i} cpu [${k}]`);
    }
    // Reproducible: the same inputs, the same bits.
    assert.deepEqual(grad('wasm').dw, wasm.dw);
  }
  tf.setBackend('wasm');
});
