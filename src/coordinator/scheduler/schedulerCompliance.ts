import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Scheduler } from './types.ts';

const MODEL = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);

/**
 * The behaviour every Scheduler must show. Each implementation's test file calls this with a
 * factory, so a new scheduler cannot quietly drop a guarantee the coordinator relies on.
 *
 * @example runSchedulerCompliance('least-loaded', createLeastLoadedScheduler);
 */
export function runSchedulerCompliance(name: string, create: () => Scheduler): void {
  test(`${name}: never exceeds a provider's slots`, () => {
    const s = create();
    s.upsertProvider({ address: '0x1', slots: 2, memoryMiB: 1024, gpu: false, cached: [] });
    const req = { model: MODEL, minMemoryMiB: 0, gpu: false };
    assert.equal(s.pick(req), '0x1');
    assert.equal(s.pick(req), '0x1');
    assert.equal(s.pick(req), undefined);
    assert.equal(s.freeSlots(), 0);
    s.release('0x1');
    assert.equal(s.freeSlots(), 1);
    assert.equal(s.pick(req), '0x1');
  });

  test(`${name}: matches memory and GPU needs`, () => {
    const s = create();
    s.upsertProvider({ address: '0xsmall', slots: 4, memoryMiB: 512, gpu: false, cached: [] });
    s.upsertProvider({ address: '0xgpu', slots: 1, memoryMiB: 16384, gpu: true, cached: [] });
    assert.equal(s.pick({ model: MODEL, minMemoryMiB: 0, gpu: true }), '0xgpu');
    assert.equal(
      s.pick({ model: MODEL, minMemoryMiB: 0, gpu: true }),
      undefined,
      'the only GPU slot is taken',
    );
    assert.equal(
      s.pick({ model: MODEL, minMemoryMiB: 1024, gpu: false }),
      undefined,
      'no free provider has 1 GiB',
    );
    assert.equal(s.pick({ model: MODEL, minMemoryMiB: 256, gpu: false }), '0xsmall');
  });

  test(`${name}: prefers a provider that caches the model, then the least loaded`, () => {
    const s = create();
    s.upsertProvider({ address: '0xa', slots: 4, memoryMiB: 1024, gpu: false, cached: [] });
    s.upsertProvider({ address: '0xb', slots: 4, memoryMiB: 1024, gpu: false, cached: [MODEL] });
    assert.equal(s.pick({ model: MODEL, minMemoryMiB: 0, gpu: false }), '0xb');
    // For another model, 0xa is less loaded (0/4 vs 1/4).
    assert.equal(s.pick({ model: OTHER, minMemoryMiB: 0, gpu: false }), '0xa');
    assert.equal(
      s.pick({ model: OTHER, minMemoryMiB: 0, gpu: false }),
      '0xa',
      'tie at 1/4 broken by address',
    );
    // 0xa is now busier (2/4 vs 1/4) but caches OTHER: the cache wins.
    s.setCached('0xa', OTHER, true);
    assert.equal(s.pick({ model: OTHER, minMemoryMiB: 0, gpu: false }), '0xa');
  });

  test(`${name}: respects exclusions and removed providers`, () => {
    const s = create();
    s.upsertProvider({ address: '0xa', slots: 1, memoryMiB: 1024, gpu: false, cached: [] });
    s.upsertProvider({ address: '0xb', slots: 1, memoryMiB: 1024, gpu: false, cached: [] });
    assert.equal(s.pick({ model: MODEL, minMemoryMiB: 0, gpu: false, exclude: new Set(['0xa']) }), '0xb');
    s.release('0xb');
    s.removeProvider('0xb');
    assert.equal(s.pick({ model: MODEL, minMemoryMiB: 0, gpu: false, exclude: new Set(['0xa']) }), undefined);
    assert.equal(s.freeSlots(), 1);
  });

  test(`${name}: \`only\` restricts the pick to the named providers, with every other rule kept`, () => {
    const s = create();
    s.upsertProvider({ address: '0xa', slots: 1, memoryMiB: 1024, gpu: false, cached: [MODEL] });
    s.upsertProvider({ address: '0xb', slots: 2, memoryMiB: 1024, gpu: false, cached: [] });
    s.upsertProvider({ address: '0xc', slots: 1, memoryMiB: 512, gpu: false, cached: [] });
    const req = { model: MODEL, minMemoryMiB: 1024, gpu: false };
    assert.equal(s.pick({ ...req, only: new Set(['0xb']) }), '0xb', '0xa caches the model but is not named');
    assert.equal(s.pick({ ...req, only: new Set(['0xc']) }), undefined, '0xc has too little memory');
    assert.equal(s.pick({ ...req, only: new Set(['0xzz']) }), undefined, 'not connected');
    assert.equal(s.pick({ ...req, only: new Set(['0xa', '0xb']) }), '0xa', 'among the named, the cache wins');
    assert.equal(s.pick({ ...req, only: new Set(['0xa']) }), undefined, '0xa is full');
    assert.equal(
      s.pick({ ...req, only: new Set(['0xb']), exclude: new Set(['0xb']) }),
      undefined,
      'exclude still applies',
    );
    assert.equal(s.pick({ ...req, only: new Set(['0xa', '0xb']) }), '0xb');
    assert.equal(s.pick({ ...req, only: new Set(['0xa', '0xb']) }), undefined, 'both full now');
    assert.equal(s.freeSlots(), 1, "only 0xc's slot is left");
  });

  test(`${name}: spreads load evenly across equal providers`, () => {
    const s = create();
    for (let i = 0; i < 10; i++)
      s.upsertProvider({ address: `0x${i}`, slots: 4, memoryMiB: 1024, gpu: false, cached: [] });
    for (let i = 0; i < 20; i++) assert.ok(s.pick({ model: MODEL, minMemoryMiB: 0, gpu: false }));
    for (let i = 0; i < 10; i++) assert.equal(s.active(`0x${i}`), 2);
  });
}
