/**
 * The providers a bundle proves faulty (docs/validators.md "Emission and faults"): the provider of
 * every slash request it applies and of every `fault` entry of its journal within the epoch
 * (`startsAt` ≤ at < `endsAt`). From evidence version 10 the close adds them to `inputs.faulted`
 * (the verification faults recorded in the epoch, the coordinator's record), so no emission goes
 * to a provider the bundle itself slashes, and a validator refuses a bundle whose `faulted` leaves
 * one out (review s12, F5). Pure.
 */
import type { EpochInputs } from './epochComputation.ts';
import type { EpochFacts } from './epochFacts.ts';

/**
 * The providers `facts` and the slash requests of `inputs` prove faulty, lowercase, sorted.
 *
 * @example const proven = provenFaulty(inputs, facts); // ['0xab…']
 */
export function provenFaulty(
  inputs: Pick<EpochInputs, 'slashRequests' | 'startsAt' | 'endsAt'>,
  facts: Pick<EpochFacts, 'reputation'>,
): string[] {
  const out = new Set(inputs.slashRequests.map((r) => r.provider.toLowerCase()));
  for (const e of facts.reputation ?? [])
    if (e.kind === 'fault' && e.at >= inputs.startsAt && e.at < inputs.endsAt)
      out.add(e.provider.toLowerCase());
  return [...out].sort();
}

/**
 * `inputs.faulted` with every provider the bundle proves faulty added (after the recorded ones).
 *
 * @example inputs.faulted = withProvenFaults(inputs, facts);
 */
export function withProvenFaults(
  inputs: Pick<EpochInputs, 'faulted' | 'slashRequests' | 'startsAt' | 'endsAt'>,
  facts: Pick<EpochFacts, 'reputation'>,
): string[] {
  const have = new Set(inputs.faulted.map((p) => p.toLowerCase()));
  return [...inputs.faulted, ...provenFaulty(inputs, facts).filter((p) => !have.has(p))];
}
