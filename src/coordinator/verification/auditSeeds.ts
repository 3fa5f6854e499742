/**
 * Audit draws validators can recompute (docs/validators.md, "Audit draws"). Each epoch has a
 * secret random seed whose sha256 is published two epochs ahead, in the evidence bundle of epoch
 * e − 2 (closed while e − 1 runs, so before any draw of epoch e). An audit draw made in epoch e is
 * `hashUnit(seed_e, 'audit', provider, taskId)`; it and the rate it was compared with are recorded.
 * The seed itself is revealed only in the first bundle closed after every verification drawn in
 * its epoch has a verdict — nothing about an open task leaks — together with those draws, so a
 * validator can check that each draw was made with the committed seed and that every draw below
 * its rate was audited ("we chose not to audit" is checkable).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AuditDraw, AuditFacts } from '../settlement/epochFacts.ts';
import type { Database } from '../store/schema.ts';

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * The seed of `epoch`, created (random, secret) on first use and kept.
 *
 * @example
 * const seed = await epochSeed(trx, 12); // '9f…' (64 hex)
 */
export async function epochSeed(db: Executor, epoch: number): Promise<string> {
  const seed = randomBytes(32).toString('hex');
  await db
    .insertInto('epoch_seeds')
    .values({ epoch, seed, commitment: seedCommitment(seed), revealed_in: null })
    .onConflict((oc) => oc.column('epoch').doNothing())
    .execute();
  const row = await db
    .selectFrom('epoch_seeds')
    .select('seed')
    .where('epoch', '=', epoch)
    .executeTakeFirstOrThrow();
  return row.seed;
}

/**
 * The published commitment to a seed: sha256 of its bytes, 0x-prefixed.
 *
 * @example
 * seedCommitment('00'.repeat(32)); // '0x66687aad…'
 */
export function seedCommitment(seed: string): `0x${string}` {
  return `0x${createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex')}`;
}

/**
 * Records a draw in the caller's transaction.
 *
 * @example
 * await recordAuditDraw(trx, draw);
 */
export async function recordAuditDraw(trx: Transaction<Database>, d: AuditDraw): Promise<void> {
  await trx
    .insertInto('audit_draws')
    .values({
      task_id: d.taskId,
      provider: d.provider.toLowerCase(),
      epoch: d.epoch,
      rate: JSON.stringify(d.rate),
      draw: JSON.stringify(d.draw),
      audited: d.audited ? 1 : 0,
      other_online: d.otherOnline ? 1 : 0,
      economics: d.economics ? JSON.stringify(d.economics) : null,
      basis: d.basis ? JSON.stringify(d.basis) : null,
    })
    .onConflict((oc) => oc.columns(['task_id', 'provider']).doNothing())
    .execute();
}

/**
 * A stored draw as published.
 *
 * @example
 * const draws = rows.map(auditDrawOfRow);
 */
export function auditDrawOfRow(d: Selectable<Database['audit_draws']>): AuditDraw {
  return {
    taskId: d.task_id,
    provider: d.provider,
    epoch: d.epoch,
    rate: JSON.parse(d.rate) as number,
    draw: JSON.parse(d.draw) as number,
    audited: d.audited === 1,
    otherOnline: d.other_online === 1,
    ...(d.economics ? { economics: JSON.parse(d.economics) as NonNullable<AuditDraw['economics']> } : {}),
    ...(d.basis ? { basis: JSON.parse(d.basis) as NonNullable<AuditDraw['basis']> } : {}),
  };
}

/**
 * What the bundle of `closing` publishes about audit draws: the commitment to the seed of
 * `closing + 2`, and the seeds of every earlier epoch whose draws all have verdicts (marked
 * revealed here, in the closing transaction) with those draws.
 *
 * @example
 * const audits = await readAuditFacts(trx, 12);
 */
export async function readAuditFacts(trx: Transaction<Database>, closing: number): Promise<AuditFacts> {
  const ahead = closing + 2;
  await epochSeed(trx, ahead);
  const commitment = (
    await trx
      .selectFrom('epoch_seeds')
      .select('commitment')
      .where('epoch', '=', ahead)
      .executeTakeFirstOrThrow()
  ).commitment as `0x${string}`;
  const candidates = await trx
    .selectFrom('epoch_seeds')
    .select(['epoch', 'seed'])
    .where('revealed_in', 'is', null)
    .where('epoch', '<=', closing)
    .orderBy('epoch')
    .execute();
  const reveals: AuditFacts['reveals'] = [];
  for (const c of candidates) {
    const open = await trx
      .selectFrom('audit_draws as d')
      .innerJoin('task_verifications as v', 'v.task_id', 'd.task_id')
      .select('d.task_id')
      .where('d.epoch', '=', c.epoch)
      .where('v.status', '=', 'open')
      .executeTakeFirst();
    if (open) continue; // a verdict is pending: its draw must stay secret
    // A canary drawn with this seed still out: revealing the seed would tell its provider.
    const leased = await trx
      .selectFrom('canary_assignments')
      .select('id')
      .where('draw_epoch', '=', c.epoch)
      .where('status', '=', 'leased')
      .executeTakeFirst();
    if (leased) continue;
    const draws = await trx
      .selectFrom('audit_draws')
      .selectAll()
      .where('epoch', '=', c.epoch)
      .orderBy('task_id')
      .orderBy('provider')
      .execute();
    reveals.push({
      epoch: c.epoch,
      seed: c.seed,
      draws: draws.map(auditDrawOfRow),
    });
    await trx.updateTable('epoch_seeds').set({ revealed_in: closing }).where('epoch', '=', c.epoch).execute();
  }
  return { commitment: { epoch: ahead, commitment }, reveals };
}
