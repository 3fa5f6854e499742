/**
 * Which canary a drawn slot gets (canaries.ts `injectCanary`). Review s13 F3 (issue 15): only one
 * canary was looked at (the oldest stocked shadow job's, else one unseen at random), and when a kin
 * of the provider had run its source task the slot went to real client work although other
 * eligible canaries waited; a ring keeping a kin-sourced stocked job the oldest gave its probation
 * newcomers real tasks. Now the candidates are walked in order (stocked ones oldest first, then
 * unseen ones at random), each bounded by `CANARY_CANDIDATES`, and the first eligible one is taken.
 */
import type { Selectable } from 'kysely';
import type { Database } from '../store/schema.ts';
import { CANARY_CANDIDATES } from './canaryQueries.ts';
import { checkerKinship } from './kinship.ts';
import { stockedFor } from './shadowStock.ts';
import type { WorkDeps, WorkState } from './workState.ts';

type Canary = Selectable<Database['canary_tasks']>;

/**
 * Whether a network or funder kin of `provider` (kinship.ts `checkerKinship`, the rule a review's
 * checker passes) executed canary source task `sourceTaskId`: a ring that pools the input cids its
 * members were assigned recognises a canary made of one (docs/verification.md "Canaries look like
 * work"). Only `kin` excludes: an executor this coordinator knows nothing of says nothing.
 *
 * @example if (await sourceRunByKin(state, deps, provider, canary.source_task_id)) continue;
 */
export async function sourceRunByKin(s: WorkState, d: WorkDeps, provider: string, sourceTaskId: string) {
  const rows = await d.db
    .selectFrom('task_executions')
    .select('provider')
    .where('task_id', '=', sourceTaskId)
    .execute();
  return rows.some((r) => checkerKinship(s, provider, [r.provider]) === 'kin');
}

/**
 * The canary for `provider`'s drawn slot: the oldest stocked one it may take (with the stocked
 * job's id to claim), else an unseen one at random; undefined only when none of the candidates
 * looked at is eligible (a GPU canary needs a GPU-trusted provider; no kin of it ran the source).
 *
 * @example const pick = await eligibleCanary(state, deps, provider);
 */
export async function eligibleCanary(
  s: WorkState,
  d: WorkDeps,
  provider: string,
): Promise<{ canary: Canary; pendingId?: string } | undefined> {
  const eligible = async (c: Canary) =>
    (c.gpu === 0 || d.proofs.gpuTrusted(provider)) &&
    !(await sourceRunByKin(s, d, provider, c.source_task_id));
  for (const stocked of await stockedFor(d.db, provider, CANARY_CANDIDATES)) {
    if (await eligible(stocked.canary)) return stocked;
  }
  for (const canary of await d.stmt.all(d.db, d.q.unseenCanaries, { provider })) {
    if (await eligible(canary)) return { canary };
  }
  return undefined;
}
