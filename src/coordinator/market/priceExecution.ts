import type { Usage } from '../../protocol/schemas.ts';
import { MAX_EXECUTIONS_PER_TASK } from '../verification/constants.ts';
import type { VerificationPolicy } from '../verification/policy.ts';
import { bigMax, bigMin } from './bigMath.ts';
import {
  AUDIT_EXECUTION_MULTIPLIER,
  BILLED_LEASE_SLACK_MS,
  CPU_CLASS,
  MAX_BILLED_CORES,
  PROTOCOL_FEE_BPS,
} from './constants.ts';

/** What one execution costs the client and earns its provider. */
export type ExecutionPrice = {
  /** Billed usage in milli-units (cpu-core-milliseconds or gpu-milliseconds). */
  unitsMilli: bigint;
  /**
   * Price per unit applied: max(base, `floor`), never above the client's cap. The market passes
   * floor 0 (the base price in force): a provider's floor is eligibility only (docs/market.md).
   */
  unitPrice: bigint;
  /** What the client is charged: unitsMilli × unitPrice / 1000, rounded down. */
  charge: bigint;
  /** The protocol fee kept back from the charge. */
  fee: bigint;
  /** What the provider earns: charge − fee. */
  providerAmount: bigint;
};

/**
 * Billed usage of one execution in milli-units: CPU work is the measured CPU time, capped at
 * MAX_BILLED_CORES cores for the wall time and for the task timeout; GPU work is wall time capped
 * at the timeout. With `leaseMs`, the lease time the coordinator measured (assignment created →
 * result received), the wall time is also capped at `leaseMs + BILLED_LEASE_SLACK_MS` (and CPU
 * time at that × MAX_BILLED_CORES): the provider's report alone cannot bill more time than the
 * lease lasted. With `sizeCapMilli`, the cap fixed at lease time from the job's verified task size
 * (`BILLED_SIZE_SLACK` × it; work/taskEconomics.ts `leaseSizeCap`), the result is also at most that.
 * The coordinator (createMarket.ts) and a validator (checkFacts.ts, from the charge fact's
 * `leaseMs` and `sizeCapMilli`) both compute it here. Pure.
 *
 * @example
 * billedUnitsMilli('cpu', { wallMs: 1000, cpuMs: 1800, peakRssBytes: 0 }, 120); // 1800n
 * billedUnitsMilli('cpu', { wallMs: 600_000, cpuMs: 2_400_000, peakRssBytes: 0 }, 600, 50); // 4200n
 * billedUnitsMilli('cpu', { wallMs: 600_000, cpuMs: 2_400_000, peakRssBytes: 0 }, 600, 600_000, 800n); // 800n
 */
export function billedUnitsMilli(
  cls: string,
  usage: Usage,
  timeoutSec: number,
  leaseMs?: number,
  sizeCapMilli?: bigint,
): bigint {
  const timeoutMs = BigInt(timeoutSec) * 1000n;
  const leased =
    leaseMs === undefined || !Number.isSafeInteger(leaseMs)
      ? timeoutMs
      : BigInt(Math.max(0, leaseMs) + BILLED_LEASE_SLACK_MS);
  const wall = [BigInt(usage.wallMs), timeoutMs, leased].reduce((a, b) => (b < a ? b : a));
  const cores = BigInt(MAX_BILLED_CORES);
  const units = cls === CPU_CLASS ? bigMin(BigInt(usage.cpuMs), wall * cores) : wall;
  return sizeCapMilli === undefined ? units : bigMin(units, sizeCapMilli);
}

/**
 * Prices one valid execution: measured usage × the price in force, never above the client's cap.
 *
 * @example
 * priceExecution({ cls: 'cpu', usage, timeoutSec: 120, basePrice: 10n ** 14n, floor: 0n, maxPrice: 10n ** 16n });
 */
export function priceExecution(args: {
  cls: string;
  usage: Usage;
  timeoutSec: number;
  basePrice: bigint;
  floor: bigint;
  maxPrice: bigint;
  /** Billed units decided elsewhere (the median of a task's agreeing executions), replacing `usage`'s. */
  unitsMilli?: bigint;
}): ExecutionPrice {
  const unitsMilli = args.unitsMilli ?? billedUnitsMilli(args.cls, args.usage, args.timeoutSec);
  const unitPrice = bigMin(bigMax(args.basePrice, args.floor), args.maxPrice);
  const charge = (unitsMilli * unitPrice) / 1000n;
  const fee = (charge * PROTOCOL_FEE_BPS) / 10_000n;
  return { unitsMilli, unitPrice, charge, fee, providerAmount: charge - fee };
}

/**
 * Executions per task a client pays for at most: 1 without verification, 3 with audits (primary,
 * auditor, tie-breaker), k + 2 with redundancy (capped by the verifier's 7). Valid executions
 * beyond this are not billed.
 *
 * @example
 * paidExecutionsPerTask({ kind: 'redundant', k: 3 }); // 5
 */
export function paidExecutionsPerTask(policy: VerificationPolicy): number {
  if (policy.kind === 'none') return 1;
  if (policy.kind === 'audit') return AUDIT_EXECUTION_MULTIPLIER;
  return Math.min(MAX_EXECUTIONS_PER_TASK, policy.k + 2);
}

/**
 * A job's worst-case cost, reserved against the client's escrow at admission: tasks × paid
 * executions per task × per-task usage cap (timeout × MAX_BILLED_CORES units) × the client's cap.
 *
 * @example
 * worstCaseCost({ tasks: 10, policy: { kind: 'none' }, taskTimeoutSec: 60, maxPrice: 10n ** 16n });
 */
export function worstCaseCost(args: {
  tasks: number;
  policy: VerificationPolicy;
  taskTimeoutSec: number;
  maxPrice: bigint;
  /** Reserved besides the compute: the job's model reads from the storage network (modelReadReserve.ts). */
  modelReads?: bigint;
}): bigint {
  const perTaskUnits = BigInt(args.taskTimeoutSec) * BigInt(MAX_BILLED_CORES);
  const compute =
    BigInt(args.tasks) * BigInt(paidExecutionsPerTask(args.policy)) * perTaskUnits * args.maxPrice;
  return compute + (args.modelReads ?? 0n);
}

/**
 * What each paid execution of one task is billed for (median billing): the median of the billed
 * units of the task's paid executions (the lower middle one for an even count), so one provider
 * that inflates its self-reported usage moves nobody's bill, its own included, unless it is the
 * majority. A single paid execution is billed its own units.
 *
 * @example
 * medianBilledUnits([1000n, 1100n, 90_000n]); // 1100n
 */
export function medianBilledUnits(units: readonly bigint[]): bigint | undefined {
  if (units.length === 0) return undefined;
  const sorted = [...units].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/**
 * A region audit's share of its task (render jobs, docs/render.md "Region audits"): the pixels its
 * auditor rendered and the task's pixels.
 */
export type RegionShare = { pixels: number; taskPixels: number };

/** True when `r` is a proper part of its task (a region audit grown to the whole task is not). */
function isPart(r: RegionShare | undefined): r is RegionShare {
  return (
    r !== undefined &&
    Number.isSafeInteger(r.pixels) &&
    Number.isSafeInteger(r.taskPixels) &&
    r.pixels > 0 &&
    r.pixels < r.taskPixels
  );
}

/**
 * What each paid execution of one task is billed (median billing with region audits): every
 * execution's units are first sized to the whole task — a region auditor's scaled by task pixels ÷
 * region pixels, capped at the task's worst case (timeout × billed cores of its class) — and the
 * median of those is the task's size; a whole-task execution is billed that size, a region
 * auditor its region's share of it. Without the scaling an audited honest primary would be billed
 * the lower median of its frame and the auditor's region, about the region's share of the frame.
 * The coordinator (createMarket.ts) and a validator (checkFacts.ts) both compute it here. Pure.
 *
 * @example
 * medianBilling([{ cls: 'cpu', unitsMilli: 9000n }, { cls: 'cpu', unitsMilli: 500n, region: { pixels: 192, taskPixels: 3072 } }], 600);
 * // [8000n, 500n]: the region's 500 sized to 8000 for the whole frame
 */
export function medianBilling(
  executions: ReadonlyArray<{ cls: string; unitsMilli: bigint; region?: RegionShare | undefined }>,
  timeoutSec: number,
): bigint[] {
  const sized = executions.map((e) => {
    if (!isPart(e.region)) return e.unitsMilli;
    const worst = billedUnitsMilli(
      e.cls,
      { wallMs: timeoutSec * 1000, cpuMs: Number.MAX_SAFE_INTEGER, peakRssBytes: 0 },
      timeoutSec,
    );
    return bigMin((e.unitsMilli * BigInt(e.region.taskPixels)) / BigInt(e.region.pixels), worst);
  });
  const median = medianBilledUnits(sized);
  if (median === undefined) return [];
  return executions.map((e) =>
    isPart(e.region) ? (median * BigInt(e.region.pixels)) / BigInt(e.region.taskPixels) : median,
  );
}

/**
 * The units each of a task's paid executions is charged, by {@link medianBilling}, leaving out
 * those whose charge (`chargeOf`) rounds to nothing and sizing the median again over the others
 * until every one left is charged: the coordinator posts no entry for a zero charge, so what a
 * validator sees of the task is exactly the executions this keeps, and it re-derives the same
 * units from them (checkFacts.ts).
 *
 * @example
 * const units = await chargedUnits(billable, 600, async (x, u) => (u * price) / 1000n);
 */
export async function chargedUnits<
  T extends { cls: string; units: bigint; region?: RegionShare | undefined },
>(
  executions: readonly T[],
  timeoutSec: number,
  chargeOf: (x: T, unitsMilli: bigint) => Promise<bigint>,
): Promise<Map<T, bigint>> {
  let kept = [...executions];
  for (;;) {
    const units = medianBilling(
      kept.map((x) => ({ cls: x.cls, unitsMilli: x.units, region: x.region })),
      timeoutSec,
    );
    const next: T[] = [];
    for (const [i, x] of kept.entries()) if ((await chargeOf(x, units[i]!)) > 0n) next.push(x);
    if (next.length === kept.length) return new Map(kept.map((x, i) => [x, units[i]!]));
    kept = next;
  }
}
