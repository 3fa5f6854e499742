/**
 * A validator's check of `compensation` entries (docs/validators.md "Compensations",
 * docs/verification.md "Made whole"): a coordinator pays back a returned slash, an outvoted
 * provider's denied reward or a client's refund only when a trusted review check overturned a
 * known answer. Each entry carries its evidence in its memo (work/reviewCompensations.ts):
 *
 * - `checkCompensationEntry` (facts): the memo's shape and ref; the two checks', the wronged
 *   provider's and every wrong provider's results signed by them; the two checkers are two
 *   providers and none of the others; the one credit goes to the payee the part names, the debits only to the seized
 *   stake (`provider:<p>:slashed`) of the providers the part may take from (the wronged provider's
 *   own for a returned slash, the wrong answer's providers otherwise), and no such account is
 *   overdrawn after the epoch's entries (the money is in the settlement contract); a reward is at
 *   most the lowest provider amount and a refund at most the sum of the charges of the wrong
 *   answer's executions;
 * - `checkCompensationVerdicts` (outputs): the check's output differs from the overturned known
 *   answer, agrees with the first check's and the wronged provider's outputs, and differs from
 *   every wrong one.
 *
 * The checker's trust (its reputation) is the coordinator's word, as every reputation is
 * (docs/validators.md "What is not checked").
 */
import type { Address, Hex } from 'viem';
import type {
  CompensationMemo,
  EntryFact,
  EpochFacts,
  SignedResult,
} from '../coordinator/settlement/epochFacts.ts';
import { CHARGE_MEMORY_MS } from '../coordinator/verification/constants.ts';
import { outputsAgree } from '../coordinator/verification/outputsAgree.ts';
import { verifyPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32 } from '../protocol/ids.ts';
import type { Usage } from '../protocol/schemas.ts';
import { type LeaseBinding, verifyTaskSigned } from '../protocol/taskRef.ts';
import type { TensorSet } from '../protocol/tensorSet.ts';
import type { FactDispute } from './checkFacts.ts';

/**
 * Whether a reopened output and its re-run, or two outputs of a review, agree: two render frames
 * by the render rule (`compareRenderOutputs`: sampling noise within the SSIM/PSNR thresholds),
 * anything else by the tensor tolerance (verification/outputsAgree.ts, the coordinator's rule).
 */
const rerunAgrees = outputsAgree;

/** The entry kind this module checks. */
export const COMPENSATION_KIND = 'compensation';

const ADDRESS = /^0x[0-9a-f]{40}$/;

/**
 * Why `r` is not a `TaskResult` signed by `provider` (any age), or null.
 *
 * @example
 * const err = await signedBy(chainId, checker, memo.check.result);
 */
export async function signedBy(
  chainId: number,
  provider: string,
  r: SignedResult,
  bind?: (provider: string, issuedAtSec: number) => LeaseBinding,
): Promise<string | null> {
  try {
    const usage = r.usage as Usage;
    // Signed over the lease's opaque reference (protocol v3), or the task id (earlier agents).
    await verifyTaskSigned(
      r.assignmentId,
      r.taskId,
      (taskId) =>
        verifyPlexusMessage({
          chainId,
          primaryType: 'TaskResult',
          message: {
            provider: provider as Address,
            assignmentId: r.assignmentId as Hex,
            taskId,
            outputCid: cidToBytes32(r.outputCid),
            wallMs: BigInt(usage.wallMs),
            cpuMs: BigInt(usage.cpuMs),
            peakRssBytes: BigInt(usage.peakRssBytes),
            issuedAt: BigInt(r.issuedAt),
          },
          signature: r.signature as Hex,
          expectedSigner: provider as Address,
          nowSec: r.issuedAt,
        }),
      bind?.(provider, r.issuedAt),
    );
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Checks one `compensation` entry's evidence and postings; `providerBalances`: the epoch's
 * `inputs.providerBalances` (every `provider:` account over entries of epochs ≤ this one, this
 * epoch's included). Null when it holds.
 *
 * @example
 * const dispute = await checkCompensationEntry(entry, chainId, new Map(inputs.providerBalances.map((b) => [b.account, b.balance])));
 */
export async function checkCompensationEntry(
  e: EntryFact,
  chainId: number,
  providerBalances: ReadonlyMap<string, bigint>,
  /** Version 11: each statement's lease bound to its task (protocol/taskRef.ts `bindingsOf`). */
  bind?: (provider: string, issuedAtSec: number) => LeaseBinding,
): Promise<FactDispute | null> {
  const name = `compensation[${e.ref}]`;
  const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
    fact: `${name}.${fact}`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const m = e.memo as Partial<CompensationMemo> | undefined;
  if (
    !m ||
    !['slash', 'reward', 'refund', 'reopened', 'check'].includes(m.part ?? '') ||
    typeof m.taskId !== 'string' ||
    typeof m.expectedCid !== 'string' ||
    !m.check?.result ||
    !Array.isArray(m.wrong) ||
    !Array.isArray(m.charges)
  )
    return bad('evidence', 'no review evidence', 'a trusted check, the overturned answer and signed results');
  const part = m.part;
  const who = part === 'refund' ? m.client : m.provider;
  if (typeof who !== 'string' || !ADDRESS.test(who)) return bad('payee', who, 'an address');
  const ref = part === 'refund' ? `review:${m.taskId}:refund` : `review:${m.taskId}:${part}:${who}`;
  if (e.ref !== ref) return bad('ref', e.ref, ref);
  if (part === 'check')
    return checkPaidCheck(e, m as CompensationMemo, who, chainId, providerBalances, bad, bind);

  // Signatures: the trusted check, the wronged provider's own result, the wrong answer's results.
  const checker = m.check.provider.toLowerCase();
  const checkErr = await signedBy(chainId, checker, m.check.result, bind);
  if (checkErr) return bad('check.signature', checkErr, `signed by ${checker}`);
  if (part !== 'refund') {
    if (!m.wronged || m.wronged.taskId.toLowerCase() !== m.taskId.toLowerCase())
      return bad('wronged', 'no signed result', `a result of ${who} about ${m.taskId}`);
    const err = await signedBy(chainId, who, m.wronged, bind);
    if (err) return bad('wronged.signature', err, `signed by ${who}`);
  }
  // A reopened output paid back (work/reopenedPayback.ts): the reversed fault's result and the
  // re-run's, both signed; the wrong answer's results are about the reviewed task, not this one.
  let wrongTask = m.taskId;
  if (part === 'reopened') {
    if (!m.reversal) return bad('reversal', 'none', `the result of ${who} the review agreed with`);
    const err = await signedBy(chainId, who, m.reversal, bind);
    if (err) return bad('reversal.signature', err, `signed by ${who}`);
    const rerun = m.rerun?.provider?.toLowerCase();
    if (
      !m.rerun?.result ||
      !rerun ||
      rerun === who ||
      m.rerun.result.taskId.toLowerCase() !== m.taskId.toLowerCase()
    )
      return bad('rerun', rerun ?? 'none', `another provider's re-run of ${m.taskId}`);
    const rerunErr = await signedBy(chainId, rerun, m.rerun.result, bind);
    if (rerunErr) return bad('rerun.signature', rerunErr, `signed by ${rerun}`);
    if (typeof m.sourceTaskId !== 'string') return bad('sourceTaskId', 'none', 'the reviewed task');
    wrongTask = m.sourceTaskId;
  }
  const wrong = new Map<string, string>(); // assignment id → provider
  for (const w of m.wrong) {
    const p = w.provider.toLowerCase();
    if (w.result.taskId.toLowerCase() !== wrongTask.toLowerCase())
      return bad(`wrong[${p}].taskId`, w.result.taskId, wrongTask);
    const err = await signedBy(chainId, p, w.result, bind);
    if (err) return bad(`wrong[${p}].signature`, err, `signed by ${p}`);
    wrong.set(w.result.assignmentId.toLowerCase(), p);
  }
  if (checker === who || [...wrong.values()].includes(checker))
    return bad('check.provider', checker, 'a checker independent of the verdict');
  // An overturn needs two independent checks (canaryReviews.ts): the first is signed by another
  // provider, independent of the verdict too (its output agreeing is checkCompensationVerdicts').
  const first = m.firstCheck?.provider?.toLowerCase();
  if (
    !m.firstCheck?.result ||
    !first ||
    first === checker ||
    first === who ||
    [...wrong.values()].includes(first)
  )
    return bad('firstCheck', first ?? 'none', 'a second independent check');
  const firstErr = await signedBy(chainId, first, m.firstCheck.result, bind);
  if (firstErr) return bad('firstCheck.signature', firstErr, `signed by ${first}`);
  if (part !== 'slash' && wrong.size === 0)
    return bad('wrong', 'none', 'the signed results of the overturned answer');

  // Postings: one credit to the payee, debits only from the seized stake the part may take from.
  const payee = part === 'refund' ? `provider:${who}:refunds` : `provider:${who}:earnings`;
  const funders = new Set(
    part === 'slash' ? [`provider:${who}:slashed`] : [...wrong.values()].map((p) => `provider:${p}:slashed`),
  );
  let paid = 0n;
  for (const p of e.postings) {
    const amount = BigInt(p.amount);
    if (amount < 0n) {
      if (p.account !== payee) return bad('payee', p.account, payee);
      paid -= amount;
    } else if (!funders.has(p.account)) {
      return bad('funder', p.account, `seized stake of ${[...funders].join(', ')}`);
    } else if ((providerBalances.get(p.account) ?? 0n) > 0n) {
      return bad(
        'funder',
        `${p.account} overdrawn by ${providerBalances.get(p.account)}`,
        'covered by applied slashes',
      );
    }
  }
  if (paid === 0n) return bad('amount', 0n, 'a payment');

  // Amounts: from the charges of the wrong answer's executions.
  if (part !== 'slash') {
    if (m.charges.length === 0) return bad('charges', 'none', 'the charges of the overturned executions');
    let sum = 0n;
    let least: bigint | undefined;
    // A reopened output's pay: the charge of the agreeing re-run (what its provider was paid).
    const paidFor =
      part === 'reopened' && m.rerun
        ? new Map([[m.rerun.result.assignmentId.toLowerCase(), m.rerun.provider.toLowerCase()]])
        : wrong;
    for (const c of m.charges) {
      const exec = c.ref.startsWith('exec:') ? paidFor.get(c.ref.slice(5).toLowerCase()) : undefined;
      if (!exec || exec !== c.provider.toLowerCase())
        return bad(
          `charges[${c.ref}]`,
          c.provider,
          part === 'reopened' ? 'the charge of the re-run' : 'an execution of the overturned answer',
        );
      sum += BigInt(c.charge);
      const pa = BigInt(c.providerAmount);
      least = least === undefined || pa < least ? pa : least;
    }
    const cap = part === 'refund' ? sum : least!;
    if (paid > cap) return bad('amount', paid, `at most ${cap}`);
  }
  return null;
}

/**
 * A review checker's pay (part `check`, work/checkerPay.ts): the check signed by the payee, one
 * of at most two slots, credited to its earnings only, debited only from the seized stake of the
 * providers whose cited charges (of the reviewed task) it is paid from, none overdrawn, at most
 * their lowest provider amount; the checker is none of them. A confirmed `record-miss` review's
 * check names its funders in `wrong` instead (the missers it proved wrong, each with its own
 * signed result; checkCompensationVerdicts re-derives that the check agrees with the known answer
 * and each of them does not): debited only from their seized stake, the cited charges (anyone's,
 * of the reviewed task) bounding the amount. Null when it holds.
 */
async function checkPaidCheck(
  e: EntryFact,
  m: CompensationMemo,
  who: string,
  chainId: number,
  providerBalances: ReadonlyMap<string, bigint>,
  bad: (fact: string, claimed: unknown, recomputed: unknown) => FactDispute,
  bind?: (provider: string, issuedAtSec: number) => LeaseBinding,
): Promise<FactDispute | null> {
  if (m.check.provider.toLowerCase() !== who) return bad('check.provider', m.check.provider, who);
  const err = await signedBy(chainId, who, m.check.result, bind);
  if (err) return bad('check.signature', err, `signed by ${who}`);
  if (m.slot !== 1 && m.slot !== 2) return bad('slot', m.slot, '1 or 2');
  if (m.charges.length === 0) return bad('charges', 'none', 'the charges of the reviewed output');
  const funders = new Set<string>();
  const missers = m.wrong ?? [];
  for (const w of missers) {
    const p = w.provider.toLowerCase();
    const wErr = await signedBy(chainId, p, w.result, bind);
    if (wErr) return bad(`wrong[${p}].signature`, wErr, `signed by ${p}`);
    funders.add(`provider:${p}:slashed`);
  }
  let least: bigint | undefined;
  for (const c of m.charges) {
    if (!c.ref.startsWith('exec:')) return bad(`charges[${c.ref}]`, c.ref, 'an execution charge');
    if (missers.length === 0) funders.add(`provider:${c.provider.toLowerCase()}:slashed`);
    const pa = BigInt(c.providerAmount);
    least = least === undefined || pa < least ? pa : least;
  }
  if (funders.has(`provider:${who}:slashed`)) return bad('check.provider', who, 'a checker paid by others');
  const payee = `provider:${who}:earnings`;
  let paid = 0n;
  for (const p of e.postings) {
    const amount = BigInt(p.amount);
    if (amount < 0n) {
      if (p.account !== payee) return bad('payee', p.account, payee);
      paid -= amount;
    } else if (!funders.has(p.account)) {
      return bad('funder', p.account, `seized stake of ${[...funders].join(', ')}`);
    } else if ((providerBalances.get(p.account) ?? 0n) > 0n) {
      return bad('funder', `${p.account} overdrawn by ${providerBalances.get(p.account)}`, 'covered');
    }
  }
  if (paid === 0n) return bad('amount', 0n, 'a payment');
  if (paid > least!) return bad('amount', paid, `at most ${least}`);
  return null;
}

/**
 * Re-derives each compensation's overturn from the outputs; the first that does not hold, or null.
 * `output` reads and decodes a blob (or returns the dispute of a blob refused), as checkVerdicts.ts.
 *
 * @example
 * const dispute = await checkCompensationVerdicts(facts.entries, output);
 */
export async function checkCompensationVerdicts(
  entries: readonly EntryFact[],
  output: (cid: string, fact: string) => Promise<TensorSet | FactDispute>,
): Promise<FactDispute | null> {
  const isDispute = (x: TensorSet | FactDispute): x is FactDispute =>
    typeof (x as FactDispute).fact === 'string' && typeof (x as FactDispute).recomputed === 'string';
  for (const e of entries) {
    if (e.kind !== COMPENSATION_KIND) continue;
    const m = e.memo as CompensationMemo;
    // A checker's pay overturns nothing: its check may confirm the answer (checkerPay.ts); one
    // paid by missers confirms it, against each of them (below).
    if (m.part === 'check' && (m.wrong ?? []).length === 0) continue;
    const name = `compensation[${e.ref}]`;
    const check = await output(m.check.result.outputCid, name);
    if (isDispute(check)) return check;
    const same = async (cid: string) => {
      if (cid === m.check.result.outputCid) return true;
      const other = await output(cid, name);
      if (isDispute(other)) return other;
      // A caught provider's render frame of an ended job is reviewed by whole-frame re-renders:
      // frames agree by the render rule, never byte for byte (work/reviewLeases.ts).
      return rerunAgrees(other, check);
    };
    if (m.part === 'check') {
      const confirmed = await same(m.expectedCid);
      if (typeof confirmed !== 'boolean') return confirmed;
      if (!confirmed)
        return {
          fact: `${name}.check`,
          claimed: 'confirmed',
          recomputed: 'the check differs from the known answer',
        };
      for (const w of m.wrong) {
        const agrees = await same(w.result.outputCid);
        if (typeof agrees !== 'boolean') return agrees;
        if (agrees)
          return {
            fact: `${name}.wrong[${w.provider}]`,
            claimed: 'a missed known answer',
            recomputed: 'the output agrees with the check',
          };
      }
      continue;
    }
    const overturned = await same(m.expectedCid);
    if (typeof overturned !== 'boolean') return overturned;
    if (overturned)
      return {
        fact: `${name}.check`,
        claimed: 'overturned',
        recomputed: 'the check agrees with the known answer',
      };
    if (m.firstCheck) {
      const agrees = await same(m.firstCheck.result.outputCid);
      if (typeof agrees !== 'boolean') return agrees;
      if (!agrees)
        return {
          fact: `${name}.firstCheck`,
          claimed: 'two checks agree',
          recomputed: `the outputs ${m.firstCheck.result.outputCid} and ${m.check.result.outputCid} differ`,
        };
    }
    if (m.part === 'reopened') {
      // The review agreed with the reversed fault's result; the re-run agrees with the reopened one.
      const agrees = m.reversal ? await same(m.reversal.outputCid) : false;
      if (typeof agrees !== 'boolean') return agrees;
      if (!agrees)
        return {
          fact: `${name}.reversal`,
          claimed: 'the check agrees with the reinstated provider',
          recomputed: `the outputs ${m.reversal?.outputCid} and ${m.check.result.outputCid} differ`,
        };
      const mine = m.wronged ? await output(m.wronged.outputCid, name) : undefined;
      if (mine && isDispute(mine)) return mine;
      const rerun = m.rerun ? await output(m.rerun.result.outputCid, name) : undefined;
      if (rerun && isDispute(rerun)) return rerun;
      if (
        !m.wronged ||
        !m.rerun ||
        (m.wronged.outputCid !== m.rerun.result.outputCid && !rerunAgrees(mine!, rerun!))
      )
        return {
          fact: `${name}.rerun`,
          claimed: 'the re-run agrees with the reopened output',
          recomputed: `the outputs ${m.wronged?.outputCid} and ${m.rerun?.result.outputCid} differ`,
        };
    } else if (m.wronged) {
      const agrees = await same(m.wronged.outputCid);
      if (typeof agrees !== 'boolean') return agrees;
      if (!agrees)
        return {
          fact: `${name}.wronged`,
          claimed: 'the check agrees with the wronged provider',
          recomputed: `the outputs ${m.wronged.outputCid} and ${m.check.result.outputCid} differ`,
        };
    }
    for (const w of m.wrong) {
      const agrees = await same(w.result.outputCid);
      if (typeof agrees !== 'boolean') return agrees;
      if (agrees)
        return {
          fact: `${name}.wrong[${w.provider}]`,
          claimed: 'a wrong answer',
          recomputed: 'the output agrees with the trusted check',
        };
    }
  }
  return null;
}

/**
 * How long a validator remembers an execution charge it checked (45 days; the coordinator's
 * constant, so its reviews cite only charges validators still remember: `CHARGE_REFUND_WINDOW_MS`).
 * A compensation citing an older (forgotten) charge is refused.
 */
export { CHARGE_MEMORY_MS };

/**
 * An execution charge as a validator checked it in a signed bundle (the client from the job the
 * client signed).
 *
 * @example
 * const c: SeenCharge = { ref: 'exec:0x…', client: '0x…', taskId: '0x…', provider: '0x…', charge: '1000', providerAmount: '950' };
 */
export type SeenCharge = {
  ref: string;
  client: string;
  taskId: string;
  provider: string;
  charge: string;
  providerAmount: string;
};

/**
 * Checks every compensation's cited charges against the execution charges validators saw (this
 * bundle's and, through `seen`, earlier signed bundles' within {@link CHARGE_MEMORY_MS}): each
 * cited charge was seen, with the same provider and amounts, for the compensation's task; a
 * refund goes to that charge's client; and each charge backs one refund and, per wronged provider,
 * one reward (`used`: the backings earlier signed bundles consumed). `grace`: a validator without
 * the charges' history (it joined after the network's first bundle, or its store predates this
 * check) accepts a cited charge it never saw, checked by its memo alone, during its first
 * {@link CHARGE_MEMORY_MS}. Returns the dispute, or what to remember once the bundle is signed.
 *
 * @example
 * const r = checkCompensationCharges(facts, (ref) => store.charge(c, ref, epoch), (k) => store.chargeUsed(c, k, epoch), false);
 */
export function checkCompensationCharges(
  facts: Pick<EpochFacts, 'jobs' | 'charges' | 'entries'>,
  seen: (ref: string) => SeenCharge | undefined,
  used: (key: string) => boolean,
  grace: boolean,
): FactDispute | { charges: SeenCharge[]; used: string[] } {
  const clientOf = new Map(facts.jobs.map((j) => [j.jobId.toLowerCase(), j.client.toLowerCase()]));
  const now = new Map<string, SeenCharge>();
  for (const c of facts.charges) {
    const client = clientOf.get(c.jobId.toLowerCase());
    if (!client) continue; // checkFacts disputes a charge without its signed job
    now.set(c.ref.toLowerCase(), {
      ref: c.ref.toLowerCase(),
      client,
      taskId: c.taskId.toLowerCase(),
      provider: c.provider.toLowerCase(),
      charge: c.charge,
      providerAmount: c.providerAmount,
    });
  }
  const usedNow = new Set<string>();
  for (const e of facts.entries) {
    if (e.kind !== COMPENSATION_KIND) continue;
    const m = e.memo as CompensationMemo;
    if (m.part === 'slash') continue;
    const name = `compensation[${e.ref}].charges`;
    const payee = (m.part === 'refund' ? m.client : m.provider)?.toLowerCase() ?? '';
    const cited = new Set<string>();
    for (const c of m.charges) {
      const ref = c.ref.toLowerCase();
      if (cited.has(ref)) return badFact(`${name}[${ref}]`, 'cited twice', 'each charge once');
      cited.add(ref);
      const s = now.get(ref) ?? seen(ref);
      if (!s) {
        if (grace) continue;
        return badFact(
          `${name}[${ref}]`,
          `${c.charge} charged`,
          'a charge seen in a signed bundle (within 45 days)',
        );
      }
      const want: [string, string, string][] = [
        ['provider', c.provider.toLowerCase(), s.provider],
        ['charge', String(c.charge), s.charge],
        ['providerAmount', String(c.providerAmount), s.providerAmount],
        ['task', m.taskId.toLowerCase(), s.taskId],
      ];
      if (m.part === 'refund') want.push(['client', payee, s.client]);
      for (const [field, claimed, saw] of want)
        if (claimed !== saw) return badFact(`${name}[${ref}].${field}`, claimed, saw);
      // One refund and one reopened payback per charge; one reward per charge and wronged provider.
      const key =
        m.part === 'refund' || m.part === 'reopened'
          ? `${ref}:${m.part}`
          : m.part === 'check'
            ? `${ref}:check:${m.slot}`
            : `${ref}:reward:${payee}`;
      if (usedNow.has(key) || used(key))
        return badFact(`${name}[${ref}]`, `backs a second ${m.part}`, `one ${m.part} per charge`);
      usedNow.add(key);
    }
  }
  return { charges: [...now.values()], used: [...usedNow] };
}

const badFact = (fact: string, claimed: string, recomputed: string): FactDispute => ({
  fact,
  claimed,
  recomputed,
});
