import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HardwareClaim, JobSpec } from '../../protocol/schemas.ts';
import { cannotRun, forgetRenderer, recordRenderer } from './renderEligibility.ts';
import type { WorkState } from './workState.ts';

const claim = (blender?: string): HardwareClaim => ({
  cpuModel: 'x',
  cpuCores: 2,
  memoryBytes: 1e9,
  gpus: [],
  executionProviders: ['cpu'],
  ...(blender ? { blender: { version: blender, devices: ['CPU'] } } : {}),
});

test('render work only for providers with Blender, and the pinned major version', () => {
  // Only `links` is read: the connected providers.
  const s = {
    links: new Map([
      ['0xa', {}],
      ['0xb', {}],
      ['0xc', {}],
    ]),
  } as unknown as WorkState;
  recordRenderer(s, '0xA', claim('3.4.1'));
  recordRenderer(s, '0xb', claim('4.2.0'));
  recordRenderer(s, '0xc', claim());
  const render = { kind: 'blender.render', render: {} } as unknown as JobSpec;
  const pinned = { kind: 'blender.render', render: { blenderMajor: 4 } } as unknown as JobSpec;
  assert.deepEqual(cannotRun(s, render), ['0xc']);
  assert.deepEqual(cannotRun(s, pinned), ['0xa', '0xc']);
  assert.deepEqual(cannotRun(s, { kind: 'onnx.infer' } as unknown as JobSpec), []);
  forgetRenderer(s, '0xb');
  assert.deepEqual(cannotRun(s, render), ['0xb', '0xc']);
});
