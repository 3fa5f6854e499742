/**
 * A validator's check of an epoch's signed facts (docs/validators.md, "Facts"): every job charged
 * was signed by its client, every charged execution was signed by its provider and is priced by
 * the market's own pure function within the client's signed cap, no execution is charged twice or
 * beyond what the job's policy pays for, the postings add up to exactly the balances the epoch
 * settles, and every slash names a provider that signed a statement about the slashed task.
 * The first fact that fails is returned, named so a dispute points at it.
 */
import type { Address, Hex } from 'viem';
import { PROTOCOL_FEE_BPS } from '../coordinator/market/constants.ts';
import {
  billedUnitsMilli,
  medianBilling,
  paidExecutionsPerTask,
} from '../coordinator/market/priceExecution.ts';
import type { EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import {
  chargePostings,
  type EpochFacts,
  type SignedStatement,
} from '../coordinator/settlement/epochFacts.ts';
import { policyOfSpec } from '../coordinator/verification/policy.ts';
import { hashCanonical } from '../protocol/canonicalJson.ts';
import { type PlexusDomainRef, plexusMessageHash, verifyPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import { type JobSpec, jobSpecSchema } from '../protocol/schemas.ts';
import { bindingsOf, type LeaseBinding, leaseBindingError, verifyTaskSigned } from '../protocol/taskRef.ts';
import { COMPENSATION_KIND, checkCompensationEntry } from './checkCompensations.ts';
import { checkDraws, type PublishedDraw } from './checkDraws.ts';
import { checkDatasetSale, checkSensorBatches } from './checkSensorFacts.ts';
import { checkStorageEntry, STORAGE_ENTRY_KINDS } from './checkStorageFacts.ts';
import type { StoragePriceContext } from './checkStoragePrice.ts';
import { checkStorageSlash } from './checkStorageSlash.ts';
import { checkUnitPrice, type EpochPrices } from './checkUnitPrice.ts';

/**
 * The first fact that does not hold: its name, what the evidence says, what it should say.
 *
 * @example
 * const bad: FactDispute = { fact: 'charge[exec:0x…].signature', claimed: '0x…', recomputed: 'signed by 0xab…' };
 */
export type FactDispute = { fact: string; claimed: string; recomputed: string };

async function signedBy(check: () => Promise<void>): Promise<string | null> {
  try {
    await check();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Checks one provider statement's signature (any age: freshness was checked when it arrived). The
 * statement names its lease and its task; the provider signed over the lease's opaque reference
 * (protocol v3, src/protocol/taskRef.ts) or, before v3, over the task id: either holds.
 */
function verifyStatement(
  chainId: number,
  provider: Address,
  s: SignedStatement,
  bind?: LeaseBinding,
): Promise<string | null> {
  const nowSec = s.issuedAt;
  if (s.type === 'TaskCommitment') {
    return signedBy(() =>
      verifyTaskSigned(
        s.assignmentId,
        s.taskId,
        (taskId) =>
          verifyPlexusMessage({
            chainId,
            primaryType: 'TaskCommitment',
            message: {
              provider,
              assignmentId: s.assignmentId,
              taskId,
              commitment: s.commitment,
              issuedAt: BigInt(s.issuedAt),
            },
            signature: s.signature,
            expectedSigner: provider,
            nowSec,
          }),
        bind,
      ),
    );
  }
  return signedBy(() =>
    verifyTaskSigned(
      s.assignmentId,
      s.taskId,
      (taskId) =>
        verifyPlexusMessage({
          chainId,
          primaryType: 'TaskResult',
          message: {
            provider,
            assignmentId: s.assignmentId,
            taskId,
            outputCid: cidToBytes32(s.outputCid),
            wallMs: BigInt(s.usage.wallMs),
            cpuMs: BigInt(s.usage.cpuMs),
            peakRssBytes: BigInt(s.usage.peakRssBytes),
            issuedAt: BigInt(s.issuedAt),
          },
          signature: s.signature,
          expectedSigner: provider,
          nowSec,
        }),
      bind,
    ),
  );
}

/**
 * Checks `facts` against the epoch's `inputs`; null when every fact holds. `commitmentOf` gives
 * the seed commitment an earlier bundle published for an epoch (undefined: this validator did not
 * see it, and that seed's draws are checked against the seed as revealed); `remembered` the draws
 * earlier bundles published for an epoch (checkDraws.ts), recomputed when its seed is revealed.
 *
 * @example
 * const dispute = await checkFacts(bundle.facts, bundle.inputs, bundle.chainId, (e) => seen.get(e));
 * if (dispute) refuse(dispute);
 */
export async function checkFacts(
  facts: EpochFacts,
  inputs: EpochInputs,
  chainId: number,
  commitmentOf: (epoch: number) => Hex | undefined = () => undefined,
  remembered: (epoch: number) => readonly PublishedDraw[] = () => [],
  /** Storage prices (checkStoragePrice.ts): whether holds must carry theirs, and earlier terms' prices. */
  storage: Omit<StoragePriceContext, 'online' | 'prices'> & { prices?: StoragePriceContext['prices'] } = {
    required: false,
  },
  /**
   * Version 9 on (`exact`): each charge's unit price is exactly min(base, cap) at its price epoch,
   * earlier epochs' prices from `pricesOf` (checkUnitPrice.ts). Before: within min(base, cap) … cap.
   */
  unitPrices: { exact: boolean; pricesOf?: (epoch: number) => EpochPrices | undefined } = { exact: false },
  /** Seeds earlier bundles revealed (checkDraws.ts: a draw published after its seed's reveal). */
  seedOf: (epoch: number) => string | undefined = () => undefined,
): Promise<FactDispute | null> {
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  // Version 11 (docs/validators.md "Which task a provider signed over"): each lease's id is
  // keccak256(abi.encode(taskId, provider, salt)) over its published salt; a lease without one is
  // a legacy lease only in an older bundle or for a statement signed before
  // LEASE_BINDING_SINCE_SEC (protocol/taskRef.ts).
  const bindOf = bindingsOf(facts.leaseSalts);
  const domain: PlexusDomainRef =
    facts.jobDomain.verifyingContract === null
      ? facts.jobDomain.chainId
      : { chainId: facts.jobDomain.chainId, verifyingContract: facts.jobDomain.verifyingContract };

  // Jobs: the client signed exactly this spec, nonce and cap, and the job id is that signature's hash.
  const jobs = new Map<string, { client: Address; spec: JobSpec; maxPrice: bigint }>();
  for (const j of facts.jobs) {
    const name = `job[${j.jobId}]`;
    if (j.spec === null) return bad(`${name}.spec`, 'not kept', 'the spec the client signed');
    const message = {
      client: j.client,
      specHash: hashCanonical(j.spec),
      nonce: BigInt(j.nonce),
      maxPricePerUnit: BigInt(j.maxPricePerUnit),
      issuedAt: BigInt(j.issuedAt),
    };
    const err = await signedBy(() =>
      verifyPlexusMessage({
        chainId: domain,
        primaryType: 'JobSubmission',
        message,
        signature: j.signature,
        expectedSigner: j.client,
        nowSec: j.issuedAt,
      }),
    );
    if (err) return bad(`${name}.signature`, err, `signed by ${j.client}`);
    const id = plexusMessageHash(domain, 'JobSubmission', message);
    if (id !== j.jobId) return bad(`${name}.id`, j.jobId, id);
    const spec = jobSpecSchema.safeParse(j.spec);
    if (!spec.success) return bad(`${name}.spec`, 'invalid spec', 'a valid job spec');
    jobs.set(j.jobId, { client: j.client, spec: spec.data, maxPrice: BigInt(j.maxPricePerUnit) });
  }

  // Charges: signed by the provider, priced by the market's function, each execution once.
  const prices = new Map(inputs.prices.map((p) => [p.class, p.basePrice]));
  const balances = new Map<string, bigint>();
  const add = (account: string, amount: bigint) =>
    balances.set(account, (balances.get(account) ?? 0n) + amount);
  const refs = new Set<string>();
  const perTask = new Map<string, number>();
  // Median billing: every paid execution of a task is billed the median of the task's paid
  // executions' units (all of them are charged in the verdict's one entry set, so in one epoch), a
  // render region auditor's sized to the whole task first and billed its region's share
  // (priceExecution.ts `medianBilling`; the region shares are checked against the outputs in
  // checkRenderRegions.ts).
  const chargesOfTask = new Map<string, EpochFacts['charges']>();
  for (const c of facts.charges) {
    if (!jobs.has(c.jobId)) continue;
    chargesOfTask.set(c.taskId, [...(chargesOfTask.get(c.taskId) ?? []), c]);
  }
  // Usage is capped at the lease time the coordinator measured (the charge's `leaseMs`); where this
  // bundle also lists the lease as ended, its times give the same figure (a longer claimed lease
  // would lift the cap), and they cap a charge that carries none.
  const endedOf = new Map((facts.endedLeases ?? []).map((l) => [l.lease.toLowerCase(), l]));
  const leaseMsOf = (c: EpochFacts['charges'][number]): number | undefined => {
    const l = endedOf.get(c.assignmentId.toLowerCase());
    return l && l.code === null ? l.endedAt - l.leasedAt : undefined;
  };
  // And at the cap fixed at lease time from the job's verified size (`sizeCapMilli`; the size is the
  // coordinator's word: a validator cannot re-derive it, only apply it — docs/validators.md).
  const capOf = (c: EpochFacts['charges'][number]): bigint | undefined =>
    c.sizeCapMilli !== undefined && /^[1-9][0-9]*$/.test(c.sizeCapMilli) ? BigInt(c.sizeCapMilli) : undefined;
  const billedUnits = new Map<string, bigint>();
  for (const list of chargesOfTask.values()) {
    const timeoutSec = jobs.get(list[0]!.jobId)!.spec.taskTimeoutSec;
    const units = medianBilling(
      list.map((c) => ({
        cls: c.class,
        unitsMilli: billedUnitsMilli(
          c.class,
          c.result.usage,
          jobs.get(c.jobId)!.spec.taskTimeoutSec,
          c.leaseMs ?? leaseMsOf(c),
          capOf(c),
        ),
        region: c.region,
      })),
      timeoutSec,
    );
    for (const [i, c] of list.entries()) billedUnits.set(c.ref, units[i]!);
  }
  for (const c of facts.charges) {
    const name = `charge[${c.ref}]`;
    if (c.ref !== `exec:${c.assignmentId}` || refs.has(c.ref))
      return bad(`${name}.ref`, c.ref, 'one entry per execution');
    refs.add(c.ref);
    const job = jobs.get(c.jobId);
    if (!job) return bad(`${name}.job`, c.jobId, 'a job signed by its client');
    const statement: SignedStatement = {
      type: 'TaskResult',
      assignmentId: c.assignmentId,
      taskId: c.taskId,
      ...c.result,
    };
    const bind = bindOf(c.provider, c.result.issuedAt);
    const unbound = leaseBindingError(c.assignmentId, c.taskId, c.provider, bind.salts, bind.legacyAllowed);
    if (unbound) return bad(`${name}.lease`, unbound, `${c.assignmentId}, bound to task ${c.taskId}`);
    const err = await verifyStatement(chainId, c.provider, statement);
    if (err) return bad(`${name}.signature`, err, `signed by ${c.provider}`);
    const n = (perTask.get(c.taskId) ?? 0) + 1;
    perTask.set(c.taskId, n);
    const limit = paidExecutionsPerTask(policyOfSpec(job.spec));
    if (n > limit) return bad(`${name}.executions`, n, `at most ${limit} paid executions per task`);
    if (!job.spec.resources.gpu && c.class !== 'cpu') return bad(`${name}.class`, c.class, 'cpu');
    if (c.region && job.spec.kind !== 'blender.render')
      return bad(`${name}.region`, `${c.region.pixels}/${c.region.taskPixels}`, 'none: not a render job');
    if (c.sizeCapMilli !== undefined && capOf(c) === undefined)
      return bad(`${name}.sizeCapMilli`, c.sizeCapMilli, 'a positive integer');
    const listed = leaseMsOf(c);
    if (listed !== undefined && c.leaseMs !== undefined && c.leaseMs !== listed)
      return bad(`${name}.leaseMs`, c.leaseMs, listed);
    const units =
      billedUnits.get(c.ref) ??
      billedUnitsMilli(c.class, c.result.usage, job.spec.taskTimeoutSec, c.leaseMs ?? listed, capOf(c));
    if (BigInt(c.unitsMilli) !== units) return bad(`${name}.unitsMilli`, c.unitsMilli, units);
    const priced = checkUnitPrice(c, job.maxPrice, {
      epoch: inputs.epoch,
      exact: unitPrices.exact,
      prices,
      pricesOf: unitPrices.pricesOf ?? (() => undefined),
      ended: endedOf,
    });
    if (priced) return priced;
    const unitPrice = BigInt(c.unitPrice);
    const charge = (units * unitPrice) / 1000n;
    const fee = (charge * PROTOCOL_FEE_BPS) / 10_000n;
    if (BigInt(c.charge) !== charge) return bad(`${name}.charge`, c.charge, charge);
    if (BigInt(c.fee) !== fee) return bad(`${name}.fee`, c.fee, fee);
    if (BigInt(c.providerAmount) !== charge - fee)
      return bad(`${name}.providerAmount`, c.providerAmount, charge - fee);
    for (const p of chargePostings(c, job.client)) add(p.account, p.amount);
  }
  const receiptsPaid = new Map<string, bigint>();
  const pricing: StoragePriceContext = {
    ...storage,
    prices: storage.prices ?? new Map(),
    online: new Set(inputs.sessions.map((x) => x.provider.toLowerCase())),
  };
  const providerBalances = new Map(inputs.providerBalances.map((b) => [b.account, b.balance]));
  for (const e of facts.entries) {
    const name = `entry[${e.ref}]`;
    const storage = STORAGE_ENTRY_KINDS.includes(e.kind);
    const compensation = e.kind === COMPENSATION_KIND;
    if (e.kind !== 'dataset-charge' && !storage && !compensation)
      return bad(`${name}.kind`, e.kind, 'a charge, a dataset sale, a storage entry or a compensation');
    if (refs.has(e.ref)) return bad(`${name}.ref`, e.ref, 'one entry per fact');
    refs.add(e.ref);
    const dispute = storage
      ? await checkStorageEntry(e, chainId, receiptsPaid, pricing)
      : compensation
        ? await checkCompensationEntry(e, chainId, providerBalances, bindOf)
        : null;
    if (dispute) return dispute;
    const sum = e.postings.reduce((a, p) => a + BigInt(p.amount), 0n);
    if (sum !== 0n) return bad(`${name}.postings`, sum, 0n);
    const sale = e.kind === 'dataset-charge' ? await checkDatasetSale(e, chainId) : null;
    if (sale) return sale;
    for (const p of e.postings) add(p.account, BigInt(p.amount));
  }
  // The balances the epoch settles are exactly what these facts add up to, account by account:
  // providers first, then clients, then the protocol's, so a dispute names whose money moved.
  const settled = new Map(inputs.epochBalances.map((b) => [b.account, b.balance]));
  const rank = (a: string) => (a.startsWith('provider:') ? 0 : a.startsWith('client:') ? 1 : 2);
  const all = [...new Set([...balances.keys(), ...settled.keys()])].sort(
    (a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0),
  );
  for (const account of all) {
    const claimed = settled.get(account) ?? 0n;
    const recomputed = balances.get(account) ?? 0n;
    if (claimed !== recomputed) return bad(`balance[${account}]`, claimed, recomputed);
  }

  // Slashes: each pending request has its evidence, and the provider signed something about the task.
  if (facts.slashes.length !== inputs.slashRequests.length)
    return bad(
      'slashes',
      facts.slashes.length,
      `${inputs.slashRequests.length} slash requests with evidence`,
    );
  for (const [i, r] of inputs.slashRequests.entries()) {
    const s = facts.slashes[i]!;
    const name = `slash[${r.id}]`;
    if (
      s.id !== r.id ||
      s.provider.toLowerCase() !== r.provider.toLowerCase() ||
      BigInt(s.amount) !== r.amount
    )
      return bad(name, `${s.id} ${s.provider} ${s.amount}`, `${r.id} ${r.provider} ${r.amount}`);
    if (s.kind === 'capability') continue; // a wrong capability answer: checked from its own evidence
    if (s.kind === 'storage') {
      // A storage challenge's fault: no provider statement, the challenge and answer are the evidence.
      const wrong = checkStorageSlash(s);
      if (wrong) return wrong;
      continue;
    }
    const own = s.signed.filter((x) => x.taskId.toLowerCase() === s.taskId.toLowerCase());
    if (own.length === 0)
      return bad(`${name}.evidence`, 'no signed statement', `a statement signed by ${s.provider}`);
    for (const x of own) {
      const err = await verifyStatement(chainId, s.provider as Address, x, bindOf(s.provider, x.issuedAt));
      if (err) return bad(`${name}.signature`, err, `signed by ${s.provider}`);
    }
    if (s.kind === 'outvoted') {
      // The winners' results (their outputs are compared again by checkVerdicts.ts): each signed
      // by a provider the evidence names as agreeing, about this task.
      const agreeing = new Set(
        ((s.evidence as { agreeing?: string[] } | null)?.agreeing ?? []).map((a) => a.toLowerCase()),
      );
      const accepted = (s.accepted ?? []).filter((x) => x.taskId.toLowerCase() === s.taskId.toLowerCase());
      if (accepted.length === 0 || agreeing.size === 0)
        return bad(`${name}.accepted`, 'no signed result of an agreeing provider', 'at least one');
      const winners = [...agreeing].filter((a) => a !== s.provider.toLowerCase());
      for (const x of accepted) {
        const verified = await Promise.all(
          winners.map((a) => verifyStatement(chainId, a as Address, x, bindOf(a, x.issuedAt))),
        );
        if (!verified.some((err) => err === null))
          return bad(`${name}.accepted`, x.assignmentId, 'a result signed by an agreeing provider');
      }
    }
  }
  // Canaries: the provider signed the result the canary was judged on (checkVerdicts.ts compares
  // it with the known answer).
  for (const c of facts.canaries ?? []) {
    const err = await verifyStatement(
      chainId,
      c.provider,
      {
        type: 'TaskResult',
        assignmentId: c.leaseId,
        taskId: c.taskId,
        ...c.result,
      },
      bindOf(c.provider, c.result.issuedAt),
    );
    if (err) return bad(`canary[${c.leaseId}].signature`, err, `signed by ${c.provider}`);
  }
  const batches = await checkSensorBatches(facts, chainId);
  if (batches) return batches;
  return checkDraws(facts, {
    epoch: inputs.epoch,
    policyOf: (jobId) => {
      const j = jobs.get(jobId);
      return j ? policyOfSpec(j.spec) : undefined;
    },
    commitmentOf,
    remembered,
    seedOf,
  });
}
