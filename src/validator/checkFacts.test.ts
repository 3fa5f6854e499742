/**
 * A validator's check of the signed facts: an honest epoch holds; each way a coordinator could
 * move money without a signed reason — books that agree with themselves but not with the facts —
 * is refused with the fact named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Hex } from 'viem';
import { BILLED_LEASE_SLACK_MS } from '../coordinator/market/constants.ts';
import { billedUnitsMilli, medianBilling, priceExecution } from '../coordinator/market/priceExecution.ts';
import { chargePostings } from '../coordinator/settlement/epochFacts.ts';
import { hashCanonical } from '../protocol/canonicalJson.ts';
import { plexusMessageHash, signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import { checkCompensationCharges } from './checkCompensations.ts';
import { checkFacts } from './checkFacts.ts';
import {
  CHAIN_ID,
  cheater,
  cheaterKey,
  client,
  clientKey,
  honestEpoch,
  provider,
  providerKey,
} from './factsFixture.ts';

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

/**
 * The fixture's job as a `blender.render` job under audits, its one task charged to the primary
 * (9 s of CPU for the frame) and to a region auditor (0.6 s for 192 of the task's 3072 pixels),
 * priced as the market prices them (priceExecution.ts `medianBilling`), or with `units` given.
 */
async function renderEpoch(units?: [bigint, bigint]) {
  const e = await honestEpoch();
  const j = e.facts.jobs[0]!;
  const spec = {
    ...(j.spec as object),
    kind: 'blender.render',
    verification: { policy: 'audit' },
    render: { frameStart: 1, frameEnd: 1, width: 64, height: 48, samples: 16 },
  };
  const message = {
    client,
    specHash: hashCanonical(spec),
    nonce: BigInt(j.nonce),
    maxPricePerUnit: BigInt(j.maxPricePerUnit),
    issuedAt: BigInt(j.issuedAt),
  };
  const domain = { chainId: CHAIN_ID, verifyingContract: e.facts.jobDomain.verifyingContract! };
  const jobId = plexusMessageHash(domain, 'JobSubmission', message);
  e.facts.jobs[0] = {
    ...j,
    spec,
    jobId,
    signature: await signPlexusMessage(clientKey, domain, 'JobSubmission', message),
  };
  const first = e.facts.charges[0]!;
  const region = { pixels: 192, taskPixels: 3072 };
  const charge = async (key: typeof providerKey, b: string, cpuMs: number, withRegion: boolean) => {
    const assignmentId = `0x${b.repeat(32)}` as Hex;
    const usage = { wallMs: cpuMs, cpuMs, peakRssBytes: 1 };
    const signature = await signPlexusMessage(key, CHAIN_ID, 'TaskResult', {
      provider: key.address,
      assignmentId,
      taskId: first.taskId,
      outputCid: cidToBytes32(first.result.outputCid),
      wallMs: BigInt(cpuMs),
      cpuMs: BigInt(cpuMs),
      peakRssBytes: 1n,
      issuedAt: BigInt(first.result.issuedAt),
    });
    return {
      ...first,
      ref: `exec:${assignmentId}`,
      jobId,
      assignmentId,
      provider: key.address.toLowerCase() as Hex,
      result: { ...first.result, usage, signature },
      ...(withRegion ? { region } : {}),
    };
  };
  const charges = [await charge(providerKey, 'e1', 9000, false), await charge(cheaterKey, 'e2', 600, true)];
  // The task's audit draw (every frame of a newcomer is audited: rate 1).
  e.facts.draws = [
    {
      taskId: first.taskId,
      provider,
      epoch: 3,
      rate: 1,
      draw: 0.5,
      audited: true,
      otherOnline: true,
      economics: { reward: '1', honestCost: '1', slashable: '0' },
    },
  ];
  const billed =
    units ??
    medianBilling(
      charges.map((c) => ({ cls: 'cpu', unitsMilli: BigInt(c.result.usage.cpuMs), region: c.region })),
      120,
    );
  e.facts.charges = charges.map((c, i) => {
    const p = priceExecution({
      cls: 'cpu',
      usage: c.result.usage,
      timeoutSec: 120,
      basePrice: BigInt(first.unitPrice),
      floor: 0n,
      maxPrice: BigInt(j.maxPricePerUnit),
      unitsMilli: billed[i]!,
    });
    return {
      ...c,
      unitsMilli: p.unitsMilli.toString(),
      charge: p.charge.toString(),
      fee: p.fee.toString(),
      providerAmount: p.providerAmount.toString(),
    };
  });
  const balances = new Map<string, bigint>();
  for (const c of e.facts.charges)
    for (const p of chargePostings(c, client))
      balances.set(p.account, (balances.get(p.account) ?? 0n) + p.amount);
  e.inputs.epochBalances = [...balances].map(([account, balance]) => ({ account, balance }));
  return e;
}

test('a region-audited render task: the primary billed its frame, the auditor its share; the old median is refused', async () => {
  const ok = await renderEpoch();
  assert.equal(ok.facts.charges[0]!.unitsMilli, '9000', 'the primary: its frame');
  assert.equal(ok.facts.charges[1]!.unitsMilli, String((9000n * 192n) / 3072n), 'the auditor: its share');
  assert.equal(await checkFacts(ok.facts, ok.inputs, CHAIN_ID), null);
  // What the coordinator billed before sizing (both at the lower median of the raw units, 600).
  const old = await renderEpoch([600n, 600n]);
  assert.match(
    (await checkFacts(old.facts, old.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xe1.*\]\.unitsMilli$/,
  );
  // A share claimed on a job that renders nothing.
  const e = await honestEpoch();
  e.facts.charges[0]!.region = { pixels: 1, taskPixels: 100 };
  assert.match(
    (await checkFacts(e.facts, e.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.region$/,
  );
});

test('a compensation’s cited charges must be ones validators saw: same provider, amounts and task, the refund to the charge’s client, each charge backing one refund (review 2: a refund paid to anyone, for more than was charged)', async () => {
  const { facts } = await honestEpoch();
  const c = facts.charges[0]!;
  const job = facts.jobs.find((j) => j.jobId === c.jobId)!;
  const earlier = new Map(
    facts.charges.map((x) => [
      x.ref.toLowerCase(),
      {
        ref: x.ref.toLowerCase(),
        client: job.client.toLowerCase(),
        taskId: x.taskId.toLowerCase(),
        provider: x.provider.toLowerCase(),
        charge: x.charge,
        providerAmount: x.providerAmount,
      },
    ]),
  );
  const refund = (memo: Record<string, unknown>) => ({
    jobs: [],
    charges: [],
    entries: [
      {
        ref: `review:${c.taskId}:refund`,
        kind: 'compensation',
        postings: [],
        memo: {
          part: 'refund',
          taskId: c.taskId,
          client: job.client,
          charges: [{ ref: c.ref, provider: c.provider, charge: c.charge, providerAmount: c.providerAmount }],
          ...memo,
        },
      },
    ],
  });
  const seen = (ref: string) => earlier.get(ref);
  const never = () => false;
  const fact = (r: ReturnType<typeof checkCompensationCharges>) => ('fact' in r ? r.fact : null);
  const ok = checkCompensationCharges(refund({}) as never, seen, never, false);
  assert.deepEqual('used' in ok && ok.used, [`${c.ref.toLowerCase()}:refund`]);
  const ATTACKER = '0x00000000000000000000000000000000000bad00';
  assert.match(
    String(fact(checkCompensationCharges(refund({ client: ATTACKER }) as never, seen, never, false))),
    /\.client$/,
  );
  const inflated = {
    ref: c.ref,
    provider: c.provider,
    charge: '999999999',
    providerAmount: c.providerAmount,
  };
  assert.match(
    String(fact(checkCompensationCharges(refund({ charges: [inflated] }) as never, seen, never, false))),
    /\.charge$/,
  );
  const twice = { charges: [refund({}).entries[0]!.memo.charges[0], refund({}).entries[0]!.memo.charges[0]] };
  assert.ok(
    fact(checkCompensationCharges(refund(twice) as never, seen, never, false)),
    'a charge cited twice is disputed',
  );
  // A charge that already backed a refund (in an earlier signed bundle) backs no second one.
  const used = (k: string) => k === `${c.ref.toLowerCase()}:refund`;
  assert.ok(
    fact(checkCompensationCharges(refund({}) as never, seen, used, false)),
    'a second refund of one charge is disputed',
  );
  // A charge never seen (or forgotten past CHARGE_MEMORY_MS) is refused, except in a new validator's grace.
  const none = () => undefined;
  assert.ok(
    fact(checkCompensationCharges(refund({}) as never, none, never, false)),
    'an unseen charge is disputed',
  );
  assert.equal(fact(checkCompensationCharges(refund({}) as never, none, never, true)), null);
  // The charge in the same bundle as its refund is checked against that bundle's charges.
  const same = { ...refund({ client: ATTACKER }), jobs: facts.jobs, charges: facts.charges };
  assert.match(String(fact(checkCompensationCharges(same as never, none, never, false))), /\.client$/);
  assert.equal(
    fact(
      checkCompensationCharges(
        { ...refund({}), jobs: facts.jobs, charges: facts.charges } as never,
        none,
        never,
        false,
      ),
    ),
    null,
  );
});

/** The honest epoch with its one execution reporting `usage` (signed again), billed `units`, leased `leaseMs`. */
async function inflatedEpoch(units: (u: { wallMs: number; cpuMs: number; peakRssBytes: number }) => bigint) {
  const e = await honestEpoch();
  const c = e.facts.charges[0]!;
  const usage = { wallMs: 120_000, cpuMs: 480_000, peakRssBytes: 1 };
  const signature = await signPlexusMessage(providerKey, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId: c.assignmentId,
    taskId: c.taskId,
    outputCid: cidToBytes32(c.result.outputCid),
    wallMs: BigInt(usage.wallMs),
    cpuMs: BigInt(usage.cpuMs),
    peakRssBytes: BigInt(usage.peakRssBytes),
    issuedAt: BigInt(c.result.issuedAt),
  });
  const p = priceExecution({
    cls: 'cpu',
    usage,
    timeoutSec: 120,
    basePrice: BigInt(c.unitPrice),
    floor: 0n,
    maxPrice: BigInt(e.facts.jobs[0]!.maxPricePerUnit),
    unitsMilli: units(usage),
  });
  e.facts.charges[0] = {
    ...c,
    leaseMs: 50,
    result: { ...c.result, usage, signature },
    unitsMilli: p.unitsMilli.toString(),
    charge: p.charge.toString(),
    fee: p.fee.toString(),
    providerAmount: p.providerAmount.toString(),
  };
  e.inputs.epochBalances = chargePostings(e.facts.charges[0], client).map((x) => ({
    account: x.account,
    balance: x.amount,
  }));
  e.inputs.providerBalances = e.inputs.epochBalances.filter((b) => b.account.startsWith('provider:'));
  e.inputs.unsettled = [{ client, amount: p.charge, escrow: 10n ** 18n }];
  return e;
}

test('a charge is capped at its lease time: the self-reported usage beyond it is refused (review p9)', async () => {
  const capped = await inflatedEpoch((u) => billedUnitsMilli('cpu', u, 120, 50));
  assert.equal(capped.facts.charges[0]!.unitsMilli, String((50 + BILLED_LEASE_SLACK_MS) * 4), 'capped');
  assert.equal(await checkFacts(capped.facts, capped.inputs, CHAIN_ID), null, 'the capped bill holds');
  // What the coordinator billed before the cap: the report as it is (the timeout cap only).
  const uncapped = await inflatedEpoch((u) => billedUnitsMilli('cpu', u, 120));
  assert.equal(uncapped.facts.charges[0]!.unitsMilli, '480000');
  assert.match(
    (await checkFacts(uncapped.facts, uncapped.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.unitsMilli$/,
    'billed beyond the lease: refused',
  );
  // The lease listed as ended in the same bundle: its times must give the charge's lease time.
  const c = capped.facts.charges[0]!;
  const ended = { lease: c.assignmentId, provider, task: c.taskId, job: c.jobId, code: null };
  capped.facts.endedLeases = [{ ...ended, leasedAt: 10_000, endedAt: 10_050 }];
  assert.equal(await checkFacts(capped.facts, capped.inputs, CHAIN_ID), null, 'listed 50 ms: agrees');
  capped.facts.endedLeases = [{ ...ended, leasedAt: 10_000, endedAt: 10_500 }];
  assert.match(
    (await checkFacts(capped.facts, capped.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.leaseMs$/,
    'a lease time the listing contradicts: refused',
  );
  // A charge without its lease time is capped by the listing.
  delete uncapped.facts.charges[0]!.leaseMs;
  uncapped.facts.endedLeases = [{ ...ended, leasedAt: 10_000, endedAt: 10_050 }];
  assert.match(
    (await checkFacts(uncapped.facts, uncapped.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.unitsMilli$/,
    'no lease time on the charge: the listed lease caps it',
  );
});

test('a charge is capped at the size cap fixed at its lease, the same way billing capped it', async () => {
  const capped = await inflatedEpoch((u) => billedUnitsMilli('cpu', u, 120, 50, 2_000n));
  capped.facts.charges[0]!.sizeCapMilli = '2000';
  assert.equal(capped.facts.charges[0]!.unitsMilli, '2000', 'billed the cap, below (lease + slack) × 4');
  assert.equal(await checkFacts(capped.facts, capped.inputs, CHAIN_ID), null, 'the capped bill holds');
  // Billed past the cap it carries (the lease-time cap alone): refused.
  const over = await inflatedEpoch((u) => billedUnitsMilli('cpu', u, 120, 50));
  over.facts.charges[0]!.sizeCapMilli = '2000';
  assert.match(
    (await checkFacts(over.facts, over.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.unitsMilli$/,
    'billed beyond its size cap: refused',
  );
  capped.facts.charges[0]!.sizeCapMilli = '-5';
  assert.match(
    (await checkFacts(capped.facts, capped.inputs, CHAIN_ID))?.fact ?? '',
    /^charge\[exec:0xa1.*\]\.sizeCapMilli$/,
    'a cap that is not a positive integer: refused',
  );
});
