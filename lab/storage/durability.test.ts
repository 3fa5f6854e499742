/**
 * The durability model: it agrees with a Monte Carlo of the same chain where losses are common
 * enough to count, with the textbook MTTDL of mirrored pairs, and moves the right way with churn,
 * repair time and threshold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/protocol/rng.ts';
import {
  annualLossProbability,
  compareSchemes,
  modelChain,
  nines,
  pieceLossRatePerHour,
  simulateLossProbability,
} from './durability.ts';

test('the Markov model matches a Monte Carlo of the chain (4 settings, 3 standard errors)', () => {
  const rng = new Rng('durability-mc');
  const settings = [
    { dataPieces: 2, parityPieces: 1, repairThreshold: 2, churnPerMonth: 0.2, repairHours: 300 },
    { dataPieces: 4, parityPieces: 2, repairThreshold: 5, churnPerMonth: 0.3, repairHours: 200 },
    { dataPieces: 4, parityPieces: 4, repairThreshold: 5, churnPerMonth: 0.5, repairHours: 150 },
    { dataPieces: 1, parityPieces: 2, repairThreshold: 2, churnPerMonth: 0.4, repairHours: 400 },
  ];
  for (const p of settings) {
    const model = annualLossProbability(p);
    const trials = 20_000;
    const sim = simulateLossProbability(p, trials, () => rng.next());
    const se = Math.sqrt((model * (1 - model)) / trials);
    assert.ok(model > 0.01 && model < 0.99, `setting should lose often enough to count: ${model}`);
    assert.ok(
      Math.abs(sim - model) < 3 * se + 1e-9,
      `${JSON.stringify(p)}: model ${model}, simulation ${sim}`,
    );
  }
});

test('two mirrored copies match the textbook MTTDL, (3λ + μ) / (2λ²)', () => {
  const churnPerMonth = 0.05;
  const repairHours = 24;
  const lambda = pieceLossRatePerHour(churnPerMonth);
  const mttdl = (3 * lambda + 1 / repairHours) / (2 * lambda * lambda);
  const expected = -Math.expm1(-(365.25 * 24) / mttdl);
  const model = annualLossProbability({
    dataPieces: 1,
    parityPieces: 1,
    repairThreshold: 1,
    churnPerMonth,
    repairHours,
  });
  assert.ok(Math.abs(model / expected - 1) < 0.02, `model ${model}, MTTDL ${expected}`);
});

test('more churn, slower repair or a lazier threshold never make an object safer', () => {
  const base = { dataPieces: 8, parityPieces: 8, repairThreshold: 12, churnPerMonth: 0.05, repairHours: 24 };
  const p = annualLossProbability(base);
  assert.ok(
    annualLossProbability({ ...base, churnPerMonth: 0.1 }) > p,
    'annualLossProbability({ ...base, churnPerMonth: 0.1 }) > p',
  );
  assert.ok(
    annualLossProbability({ ...base, repairHours: 72 }) > p,
    'annualLossProbability({ ...base, repairHours: 72 }) > p',
  );
  assert.ok(
    annualLossProbability({ ...base, repairThreshold: 10 }) > p,
    'annualLossProbability({ ...base, repairThreshold: 10 }) > p',
  );
  // A lazier threshold also means fewer repairs.
  assert.ok(
    modelChain({ ...base, repairThreshold: 10 }).repairs < modelChain(base).repairs,
    'modelChain({ ...base, repairThreshold: 10 }).repairs < modelChain(base).repairs',
  );
  assert.ok(p > 0 && p < 1e-6, 'p > 0 && p < 1e-6');
  assert.equal(nines(1e-11), 11);
  assert.throws(() => annualLossProbability({ ...base, repairThreshold: 16 }), RangeError);
  assert.throws(() => annualLossProbability({ ...base, churnPerMonth: 0 }), RangeError);
});

test('the comparison table has RS and replication at each churn', () => {
  const rows = compareSchemes({ dataPieces: 4, parityPieces: 4, repairThreshold: 6 }, [0.01, 0.05], 24);
  assert.deepEqual(
    rows.map((r) => `${r.scheme}@${r.churnPerMonth}:${r.overhead}`),
    [
      'RS K=4 M=4 R=6@0.01:2',
      '2× replication@0.01:2',
      '3× replication@0.01:3',
      'RS K=4 M=4 R=6@0.05:2',
      '2× replication@0.05:2',
      '3× replication@0.05:3',
    ],
  );
});
