/**
 * A validator's check of the signed facts: an honest epoch holds; each way a coordinator could
 * move money without a signed reason — books that agree with themselves but not with the facts —
 * is refused with the fact named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { checkFacts } from './checkFacts.ts';
import { CHAIN_ID, cheater, client, honestEpoch, provider } from './factsFixture.ts';

test('an honest epoch: every signature checks, every price recomputes, the postings add up', async () => {
  const { inputs, facts } = await honestEpoch();
  assert.equal(await checkFacts(facts, inputs, CHAIN_ID), null);
});

type Case = [string, (e: Awaited<ReturnType<typeof honestEpoch>>) => void, RegExp];

const cases: Case[] = [
  [
    // The books agree with themselves (fees −1, earnings +1): only the facts give it away.
    'one provider earns 1 base unit more',
    ({ inputs }) => {
      for (const b of inputs.epochBalances) {
        if (b.account === `provider:${provider}:earnings`) b.balance -= 1n;
        if (b.account === 'protocol:fees') b.balance += 1n;
      }
    },
    /^balance\[provider:0x/,
  ],
  [
    'a result invented under a provider address',
    ({ facts }) => {
      const c = facts.charges[0]!;
      facts.charges.push({
        ...c,
        ref: `exec:0x${'a9'.repeat(32)}`,
        assignmentId: `0x${'a9'.repeat(32)}` as Hex,
      });
    },
    /^charge\[exec:0xa9a9.*\]\.signature$/,
  ],
  [
    'a client charged twice for one execution',
    ({ facts }) => {
      facts.charges.push({ ...facts.charges[0]! });
    },
    /^charge\[exec:0xa1.*\]\.ref$/,
  ],
  [
    'a client charged for a job it never signed',
    ({ facts }) => {
      const j = facts.jobs[0]!;
      facts.jobs[0] = { ...j, spec: { ...(j.spec as object), inputs: ['dd'.repeat(32)] } };
    },
    /^job\[0x[0-9a-f]+\]\.signature$/,
  ],
  [
    'a charge with no job behind it',
    ({ facts }) => {
      facts.jobs = [];
    },
    /\.job$/,
  ],
  [
    'a price above the client’s signed cap',
    ({ facts }) => {
      const c = facts.charges[0]!;
      c.unitPrice = '10000001';
    },
    /\.unitPrice$/,
  ],
  [
    'usage billed that the provider did not sign',
    ({ facts }) => {
      facts.charges[0]!.result.usage.cpuMs += 1000;
    },
    /\.signature$/,
  ],
  [
    'a slash with no evidence',
    ({ facts }) => {
      facts.slashes[0]!.signed = [];
    },
    /^slash\[1\]\.evidence$/,
  ],
  [
    'a slash on another provider than the one that signed',
    ({ facts, inputs }) => {
      facts.slashes[0]!.provider = client;
      inputs.slashRequests[0]!.provider = client;
    },
    /^slash\[1\]\.signature$/,
  ],
  [
    'a slash request without its facts',
    ({ facts }) => {
      facts.slashes = [];
    },
    /^slashes$/,
  ],
  [
    'an entry of an unknown kind',
    ({ facts, inputs }) => {
      facts.entries.push({ ref: 'gift', kind: 'gift', postings: [] });
      inputs.epochBalances.push({ account: `provider:${cheater}:earnings`, balance: -1n });
    },
    /^entry\[gift\]\.kind$/,
  ],
];

for (const [name, alter, fact] of cases) {
  test(`refused: ${name}`, async () => {
    const e = await honestEpoch();
    alter(e);
    const dispute = await checkFacts(e.facts, e.inputs, CHAIN_ID);
    assert.ok(dispute, name);
    assert.match(dispute.fact, fact, `${name}: ${JSON.stringify(dispute)}`);
  });
}
