/**
 * The pure arithmetic of a render task's value (docs/render.md "Frame sampling", docs/validators.md
 * "Render value rewards"): the reward for a size in billed milli-units, a verified frame's size from
 * its agreeing executions, and a task's worst case. Shared by the coordinator
 * (work/renderValueFloor.ts, work/taskEconomics.ts) and the validator (checkAuditRates.ts), which
 * re-derives a draw's value reward with the same functions. No store, no state.
 */
import { CPU_CLASS } from '../market/constants.ts';
import { billedUnitsMilli } from '../market/priceExecution.ts';

/**
 * R_task for a task of `unitsMilli` billed milli-units: the reference reward per unit, never
 * below one unit's (a tiny task is never priced below the global figures).
 *
 * @example
 * rewardForUnits(1_000_000n, 60_000n); // 60_000_000n
 */
export function rewardForUnits(unitReward: bigint, unitsMilli: bigint): bigint {
  const v = (unitsMilli * unitReward) / 1000n;
  return v > unitReward ? v : unitReward;
}

/**
 * The size of one verified render task (billed milli-units) from its agreeing executions: the
 * largest of a whole-task execution's units and a region execution's units × task pixels ÷
 * region pixels, capped by `worst`.
 *
 * @example renderFrameUnits([{ unitsMilli: 900n }, { unitsMilli: 100n, regionPixels: 192 }], 3072, 10_000n); // 1600n
 */
export function renderFrameUnits(
  executions: ReadonlyArray<{ unitsMilli: bigint; regionPixels?: number }>,
  taskPixels: number,
  worst: bigint,
): bigint | undefined {
  let most: bigint | undefined;
  for (const e of executions) {
    const units =
      e.regionPixels !== undefined && e.regionPixels > 0
        ? (e.unitsMilli * BigInt(Math.max(1, Math.round(taskPixels)))) / BigInt(e.regionPixels)
        : e.unitsMilli;
    if (most === undefined || units > most) most = units;
  }
  return most === undefined ? undefined : most < worst ? most : worst;
}

/**
 * The worst case of one task (billed milli-units): its timeout × billed cores.
 *
 * @example renderWorstUnits(600, false); // the CPU class's units for 600 s
 */
export function renderWorstUnits(taskTimeoutSec: number, gpu: boolean): bigint {
  return billedUnitsMilli(
    gpu ? 'gpu' : CPU_CLASS,
    { wallMs: taskTimeoutSec * 1000, cpuMs: Number.MAX_SAFE_INTEGER, peakRssBytes: 0 },
    taskTimeoutSec,
  );
}
