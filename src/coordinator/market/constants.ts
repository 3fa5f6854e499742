/**
 * Market parameters (docs/market.md). Prices are integer PLX base units (18 decimals) per resource
 * unit; a resource unit is one second of one resource (a CPU core, or one GPU of a class).
 */
import { PLX } from '../../chain/constants.ts';

/** The CPU class: every provider can run CPU work. Unit: cpu-core-second. */
export const CPU_CLASS = 'cpu';
export const CPU_UNIT = 'cpu-core-second';
/** GPU classes are `gpu:<model slug>` (e.g. `gpu:nvidia-h100`). Unit: gpu-second. */
export const GPU_UNIT = 'gpu-second';

/** Starting base price of cpu-core-second: 0.0001 PLX. */
export const DEFAULT_CPU_BASE_PRICE = PLX / 10_000n;
/** Starting base price of a gpu-second, any class: 0.002 PLX. */
export const DEFAULT_GPU_BASE_PRICE = (2n * PLX) / 1_000n;
/** Base prices never fall below this (a price of 0 could never rise again). */
export const MIN_BASE_PRICE = 1_000n;

/** Floor an agent advertises when it sets none: half the starting base price. */
export const DEFAULT_CPU_FLOOR_PRICE = DEFAULT_CPU_BASE_PRICE / 2n;
export const DEFAULT_GPU_FLOOR_PRICE = DEFAULT_GPU_BASE_PRICE / 2n;

/** Utilization the base price steers toward (EIP-1559's "half-full block"). */
export const TARGET_UTILIZATION = 0.5;
/** Largest change of a base price from one epoch to the next: 1/8 = 12.5% (EIP-1559's bound). */
export const MAX_PRICE_STEP_DENOMINATOR = 8n;

/** Protocol fee kept back from every charge, in basis points: 5%. */
export const PROTOCOL_FEE_BPS = 500n;

/**
 * Billing cap of CPU work: at most this many core-seconds per wall-second of a task, so the
 * worst case of a task is bounded by its timeout even on a many-core provider.
 */
export const MAX_BILLED_CORES = 4;

/**
 * Slack on the lease time the coordinator measured (assignment created → result received) when it
 * caps an execution's billed wall time (priceExecution.ts `billedUnitsMilli`): the provider runs
 * the task inside that window, so its honest `wallMs` is below it; the slack only absorbs clock
 * granularity. A provider's self-reported usage is never billed beyond lease time + this.
 */
export const BILLED_LEASE_SLACK_MS = 1000;

/**
 * Slack on a job's verified task size when it caps what one execution may bill (work/taskEconomics.ts
 * `leaseSizeCap`, fixed at lease time; priceExecution.ts `billedUnitsMilli`): an execution bills at
 * most this × the median billed units of the job's verified executions (else its model's recent
 * verified size). An honest provider up to 4× slower than that median is billed in full; a lone
 * unaudited provider holding its result back until the deadline gains at most 4× the task's size
 * instead of its whole lease (docs/verification.md, "Usage capped by the verified size").
 */
export const BILLED_SIZE_SLACK = 4n;

/** Executions a client pays for at most per task, by verification policy (docs/market.md). */
export const AUDIT_EXECUTION_MULTIPLIER = 3;

/** Default emission per epoch: 100 PLX (PlexusToken allows at most 50,000). */
export const DEFAULT_EMISSION_PER_EPOCH = 100n * PLX;
/** Largest emission bonus for a provider in an under-served region: +50%. */
export const MAX_REGION_BONUS = 0.5;
/**
 * The region an epoch's inputs give a provider whose region the coordinator has not corroborated
 * (all of them, for now: a hello's region is self-declared), so no region bonus is paid on a claim.
 */
export const UNVERIFIED_REGION = 'unverified';

/** Default base price of a class. */
export function defaultBasePrice(cls: string): bigint {
  return cls === CPU_CLASS ? DEFAULT_CPU_BASE_PRICE : DEFAULT_GPU_BASE_PRICE;
}

/** Default floor of a class, when the agent advertises none. */
export function defaultFloorPrice(cls: string): bigint {
  return cls === CPU_CLASS ? DEFAULT_CPU_FLOOR_PRICE : DEFAULT_GPU_FLOOR_PRICE;
}
