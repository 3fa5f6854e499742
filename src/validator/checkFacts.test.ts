/**
 * A validator's check of the signed facts: an honest epoch holds; each way a coordinator could
 * move money without a signed reason — books that agree with themselves but not with the facts —
 * is refused with the fact named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import { checkFacts } from './checkFacts.ts';
import { CHAIN_ID, cheater, cheaterKey, client, honestEpoch, provider, providerKey } from './factsFixture.ts';

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

/** The fixture's slash as an `outvoted` fault, with the winner's signed result (or `signer`'s). */
async function outvotedEpoch(signer = providerKey) {
  const e = await honestEpoch();
  const s = e.facts.slashes[0]!;
  const assignmentId = `0x${'a3'.repeat(32)}` as Hex;
  const usage = { wallMs: 900, cpuMs: 1700, peakRssBytes: 1 << 20 };
  const outputCid = 'dd'.repeat(32);
  const signature = await signPlexusMessage(signer, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId,
    taskId: s.taskId as Hex,
    outputCid: cidToBytes32(outputCid),
    wallMs: BigInt(usage.wallMs),
    cpuMs: BigInt(usage.cpuMs),
    peakRssBytes: BigInt(usage.peakRssBytes),
    issuedAt: 1_790_000_000n,
  });
  s.kind = 'outvoted';
  s.evidence = { kind: 'outvoted', taskId: s.taskId, agreeing: [provider] };
  s.accepted = [
    {
      type: 'TaskResult',
      assignmentId,
      taskId: s.taskId as Hex,
      outputCid,
      usage,
      issuedAt: 1_790_000_000,
      signature,
    },
  ];
  return e;
}

test('an outvoted slash carries the signed results of the providers that outvoted it', async () => {
  const ok = await outvotedEpoch();
  assert.equal(await checkFacts(ok.facts, ok.inputs, CHAIN_ID), null);
  const none = await outvotedEpoch();
  none.facts.slashes[0]!.accepted = [];
  assert.match((await checkFacts(none.facts, none.inputs, CHAIN_ID))?.fact ?? '', /^slash\[1\]\.accepted$/);
  // A "winner" whose result no agreeing provider signed (here: the cheater's own key).
  const forged = await outvotedEpoch(cheaterKey);
  assert.match(
    (await checkFacts(forged.facts, forged.inputs, CHAIN_ID))?.fact ?? '',
    /^slash\[1\]\.accepted$/,
  );
});
