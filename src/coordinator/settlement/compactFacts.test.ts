/**
 * The packed facts of a version-3 bundle (compactFacts.ts): real signed facts round-trip exactly
 * (every signature kept), strings of every shape survive, and the packed form is smaller.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { honestEpoch } from '../../validator/factsFixture.ts';
import { packFacts, packString, unpackFacts, unpackString } from './compactFacts.ts';
import { canonicalJson } from './evidence.ts';

test('signed facts round-trip exactly through the packed form, and take less room', async () => {
  const { facts } = await honestEpoch();
  const c = facts.charges[0]!;
  facts.draws = [
    {
      taskId: c.taskId,
      provider: c.provider,
      epoch: 2,
      rate: 0.05,
      draw: 0.7,
      audited: false,
      otherOnline: true,
      economics: { reward: '100', honestCost: '80', slashable: '2000' },
    },
    {
      taskId: c.taskId,
      provider: c.provider,
      epoch: 2,
      rate: 1,
      draw: 0.1,
      audited: true,
      otherOnline: true,
    },
  ];
  facts.audits.reveals = [{ epoch: 2, seed: 'ab'.repeat(32), draws: facts.draws }];
  // A render region auditor's share (billing sized its charge by it) travels with its charge.
  const aid = `0x${'a4'.repeat(32)}` as const;
  facts.charges.push({
    ...c,
    ref: `exec:${aid}`,
    assignmentId: aid,
    region: { pixels: 192, taskPixels: 3072 },
  });
  const packed = JSON.parse(canonicalJson(packFacts(facts)));
  assert.deepEqual(unpackFacts(packed), JSON.parse(canonicalJson(facts)));
  assert.ok(canonicalJson(packed).includes(packString(c.result.signature)), 'the signature is kept');
  const before = canonicalJson(facts.charges).length;
  const after = canonicalJson(packed.charges).length + canonicalJson(packed.parties).length;
  assert.ok(after < before * 0.6, `a charge packs to ${after} of ${before} characters`);
});

test('strings of every shape survive packing', () => {
  for (const s of [
    '0xab',
    `0x${'0f'.repeat(65)}`,
    'cc'.repeat(32),
    'cpu',
    '~x',
    '!y',
    '\\z',
    '0xAB',
    'abc',
    '',
  ])
    assert.equal(unpackString(packString(s)), s);
  assert.equal(packString(`0x${'00'.repeat(65)}`).length, 88);
});
