/**
 * The facts behind every random draw an epoch's money rests on (docs/validators.md, "Audit draws"
 * and "Canaries"), read in the closing transaction: the audit draw of each task the epoch charges,
 * and the canary leases finished since the previous bundle with their injection draws, known
 * answers and the providers' signed results; and the sensor facts: batches as their devices signed
 * them and dataset sales as their clients signed them. Each canary lease and batch is reported
 * once (`reported_in`).
 */
import type { Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import type { Usage } from '../../protocol/schemas.ts';
import type { Database } from '../store/schema.ts';
import { auditDrawOfRow } from '../verification/auditSeeds.ts';
import type {
  AuditDraw,
  CanaryFact,
  DatasetSaleFact,
  ReputationEntry,
  SensorBatchFact,
  TimeoutCause,
} from './epochFacts.ts';

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
    .leftJoin('canary_holds as h', 'h.lease_id', 'a.id')
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
      'h.at as hold_at',
      'h.record as hold_record',
      'h.review as hold_review',
      'h.held as hold_held',
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
      ...(r.hold_at !== null && r.hold_record !== null && r.hold_held !== null
        ? {
            hold: {
              at: Number(r.hold_at),
              record: Number(r.hold_record),
              review: r.hold_review,
              held: Number(r.hold_held) === 1,
            },
          }
        : {}),
    };
  });
}

/**
 * Sensor batches received (with a kept signature) and not reported yet, marked reported in
 * `epoch`'s bundle: the readings' digest each device signed.
 *
 * @example
 * const batches = await readSensorBatchFacts(trx, 12);
 */
export async function readSensorBatchFacts(
  trx: Transaction<Database>,
  epoch: number,
): Promise<SensorBatchFact[]> {
  const rows = await trx
    .selectFrom('sensor_batches')
    .select(['id', 'device', 'sequence', 'payload_hash', 'issued_at', 'signature', 'readings'])
    .where('reported_in', 'is', null)
    .where('signature', 'is not', null)
    .orderBy('device')
    .orderBy('sequence')
    .execute();
  if (rows.length === 0) return [];
  for (let i = 0; i < rows.length; i += 500)
    await trx
      .updateTable('sensor_batches')
      .set({ reported_in: epoch })
      .where(
        'id',
        'in',
        rows.slice(i, i + 500).map((r) => r.id),
      )
      .execute();
  return rows.map((r) => ({
    device: r.device as Address,
    sequence: r.sequence,
    payloadHash: r.payload_hash as Hex,
    issuedAt: r.issued_at,
    signature: r.signature as Hex,
    readings: r.readings,
  }));
}

/**
 * The sale behind a `dataset-charge` entry (`ref` `dataset:<purchaseId>`, memo with the price per
 * reading); undefined for a sale recorded before migration 0020.
 *
 * @example
 * const sale = await readDatasetSale(trx, entry.ref, entry.memo);
 */
export async function readDatasetSale(
  trx: Transaction<Database>,
  ref: string,
  memo: string,
): Promise<DatasetSaleFact | undefined> {
  const id = ref.slice('dataset:'.length);
  const p = await trx.selectFrom('sensor_purchases').selectAll().where('id', '=', id).executeTakeFirst();
  if (!p?.auth || !p.owners) return undefined;
  const auth = JSON.parse(p.auth) as { maxCost: string; issuedAt: number; signature: Hex };
  return {
    purchaseId: p.id as Hex,
    client: p.client as Address,
    nonce: p.nonce,
    maxCost: auth.maxCost,
    issuedAt: auth.issuedAt,
    signature: auth.signature,
    query: JSON.parse(p.query) as unknown,
    readings: p.readings,
    pricePerReading: (JSON.parse(memo) as { pricePerReading?: string }).pricePerReading ?? '0',
    owners: JSON.parse(p.owners) as Record<string, string>,
  };
}

/**
 * Reputation changes not reported yet, in time order (then journal order), marked reported in
 * `epoch`'s bundle (migration 0026, docs/validators.md "Audit rates and reputation").
 *
 * @example
 * const reputation = await readReputationJournal(trx, 12);
 */
export async function readReputationJournal(
  trx: Transaction<Database>,
  epoch: number,
): Promise<ReputationEntry[]> {
  const rows = await trx
    .selectFrom('reputation_journal')
    .select(['id', 'provider', 'kind', 'at', 'detail', 'cause', 'task_id'])
    .where('reported_in', 'is', null)
    .orderBy('at')
    .orderBy('id')
    .execute();
  if (rows.length === 0) return [];
  for (let i = 0; i < rows.length; i += 500)
    await trx
      .updateTable('reputation_journal')
      .set({ reported_in: epoch })
      .where(
        'id',
        'in',
        rows.slice(i, i + 500).map((r) => r.id),
      )
      .execute();
  return rows.map((r) => {
    const detail = r.detail ? (JSON.parse(r.detail) as Partial<ReputationEntry>) : {};
    return {
      provider: r.provider,
      kind: r.kind as ReputationEntry['kind'],
      at: Number(r.at),
      ...(r.kind === 'reinstate'
        ? {
            before: detail.before ?? null,
            faultAt: Number(detail.faultAt),
            ...(detail.review ? { review: detail.review } : {}),
          }
        : {}),
      ...(r.kind === 'state' && detail.state ? { state: detail.state } : {}),
      ...(r.cause ? { cause: JSON.parse(r.cause) as TimeoutCause } : {}),
      ...(r.task_id ? { taskId: r.task_id as Hex } : {}),
    };
  });
}
