import type { Reading } from './types.ts';

/** A run of consecutive expected slots with no usable reading. */
export type Gap = { from: number; to: number; missingSlots: number };

/**
 * Gap check (WeatherXM `NO_DATA`): splits `[fromMs, toMs)` into slots of `stepMs` and returns
 * every run of slots that holds no non-empty reading. A reading belongs to the slot its
 * timestamp falls in, so jittered timestamps still fill their slot.
 *
 * @example
 * const r = [0, 16_000, 64_000].map((t) => ({ t, v: 1 }));
 * findGaps(r, 0, 80_000, 16_000); // [{ from: 32_000, to: 64_000, missingSlots: 2 }]
 */
export function findGaps(readings: readonly Reading[], fromMs: number, toMs: number, stepMs: number): Gap[] {
  const filled = slotsFilled(readings, fromMs, toMs, stepMs);
  const gaps: Gap[] = [];
  let start = -1;
  for (let s = 0; s <= filled.length; s++) {
    const missing = s < filled.length && filled[s] === 0;
    if (missing && start < 0) start = s;
    if (!missing && start >= 0) {
      gaps.push({ from: fromMs + start * stepMs, to: fromMs + s * stepMs, missingSlots: s - start });
      start = -1;
    }
  }
  return gaps;
}

/**
 * One byte per slot of `[fromMs, toMs)`: 1 where some non-empty reading falls in the slot.
 *
 * @example
 * slotsFilled([{ t: 5, v: 1 }], 0, 30, 10); // Uint8Array [1, 0, 0]
 */
export function slotsFilled(
  readings: readonly Reading[],
  fromMs: number,
  toMs: number,
  stepMs: number,
): Uint8Array {
  const filled = new Uint8Array(Math.max(0, Math.ceil((toMs - fromMs) / stepMs)));
  for (const { t, v } of readings) {
    if (v === null || t < fromMs || t >= toMs) continue;
    filled[Math.floor((t - fromMs) / stepMs)] = 1;
  }
  return filled;
}
