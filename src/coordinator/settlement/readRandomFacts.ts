/**
 * The facts behind every random draw an epoch's money rests on (docs/validators.md, "Audit draws"
 * and "Canaries"), read in the closing transaction: the audit draw of each task the epoch charges,
 * and the canary leases finished since the previous bundle with their injection draws, known
 * answers and the providers' signed results. Each canary lease is reported once (`reported_in`).
 */
import type { Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import type { Usage } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { auditDrawOfRow } from '../verification/auditSeeds.ts';
import type { AuditDraw, CanaryFact } from './epochFacts.ts';

/**
 * The recorded audit draws of `taskIds` (the tasks an epoch charges), by task and provider.
 *
 * @example
 * const draws = await readChargedDraws(trx, ['0xab…']);
 */
export async function readChargedDraws(
  trx: Transaction<Database>,
  taskIds: readonly string[],
): Promise<AuditDraw[]> {
  if (taskIds.length === 0) return [];
  const rows = await trx
    .selectFrom('audit_draws')
    .selectAll()
    .where('task_id', 'in', [...new Set(taskIds)])
    .orderBy('task_id')
    .orderBy('provider')
    .execute();
  return rows.map(auditDrawOfRow);
}

/**
 * Canary leases with a signed result not reported yet, marked reported in `epoch`'s bundle.
 *
 * @example
 * const canaries = await readCanaryFacts(trx, 12);
 */
export async function readCanaryFacts(trx: Transaction<Database>, epoch: number): Promise<CanaryFact[]> {
  const rows = await trx
    .selectFrom('canary_assignments as a')
    .innerJoin('canary_tasks as c', 'c.id', 'a.canary_id')
    .select([
      'a.id',
      'a.task_id',
      'a.provider',
      'a.status',
      'a.output_cid',
      'a.result',
      'a.draw_epoch',
      'a.slot',
      'a.rate',
      'a.draw',
      'c.expected_cid',
      'c.expected_digest',
    ])
    .where('a.reported_in', 'is', null)
    .where('a.status', 'in', ['passed', 'failed', 'review'])
    .where('a.result', 'is not', null)
    .orderBy('a.created_at')
    .orderBy('a.id')
    .execute();
  if (rows.length === 0) return [];
  await trx
    .updateTable('canary_assignments')
    .set({ reported_in: epoch })
    .where(
      'id',
      'in',
      rows.map((r) => r.id),
    )
    .execute();
  return rows.map((r) => {
    const result = JSON.parse(r.result!) as { usage: Usage; issuedAt: number; signature: Hex };
    return {
      leaseId: r.id as Hex,
      taskId: r.task_id as Hex,
      provider: r.provider as Address,
      status: r.status as CanaryFact['status'],
      expectedCid: r.expected_cid,
      expectedDigest: r.expected_digest as Hex,
      result: {
        outputCid: r.output_cid ?? '',
        usage: result.usage,
        issuedAt: result.issuedAt,
        signature: result.signature,
      },
      draw:
        r.draw_epoch === null || r.slot === null || r.rate === null || r.draw === null
          ? null
          : {
              epoch: r.draw_epoch,
              slot: r.slot as Hex,
              rate: JSON.parse(r.rate) as number,
              draw: JSON.parse(r.draw) as number,
            },
    };
  });
}
