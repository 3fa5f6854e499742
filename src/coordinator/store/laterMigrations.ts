import { type Migration, sql } from 'kysely';
import { canaryHoldMigration } from './canaryHoldMigration.ts';
import { journalTaskMigration } from './journalTaskMigration.ts';
import { reopenedOutputsMigration } from './reopenedMigration.ts';
import { shadowJobsMigration } from './shadowJobsMigration.ts';

/**
 * The store's migrations from 0011 on (the first ten are in migrations.ts, which merges these in;
 * Kysely runs all of them in name order). The same rules: never edit one that has shipped, one
 * list for both dialects.
 */
export const laterMigrations: Record<string, Migration> = {
  // Storage network (issue 19, docs/storage.md; tables typed in coordinator/storage/storageTables.ts):
  // stored objects with their manifest (every piece root), where each piece is and its health,
  // challenge windows with their seeds, faults, and retrieval receipts redeemed.
  '0011_storage_network': {
    async up(db) {
      await db.schema
        .createTable('storage_objects')
        .addColumn('object_id', 'text', (c) => c.primaryKey())
        .addColumn('client', 'text', (c) => c.notNull())
        .addColumn('object_bytes', 'integer', (c) => c.notNull())
        .addColumn('data_pieces', 'integer', (c) => c.notNull())
        .addColumn('parity_pieces', 'integer', (c) => c.notNull())
        .addColumn('manifest', 'text', (c) => c.notNull())
        .addColumn('epochs', 'integer', (c) => c.notNull())
        .addColumn('price_per_gib_epoch', 'text', (c) => c.notNull())
        .addColumn('escrow', 'text', (c) => c.notNull())
        .addColumn('start_epoch', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('storage_objects_client')
        .on('storage_objects')
        .columns(['client'])
        .execute();
      await db.schema
        .createTable('storage_pieces')
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('segment', 'integer', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('root', 'text', (c) => c.notNull())
        .addColumn('piece_bytes', 'integer', (c) => c.notNull())
        .addColumn('holder', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('order_id', 'text')
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('storage_pieces_pk', ['object_id', 'segment', 'idx'])
        .execute();
      await db.schema
        .createIndex('storage_pieces_holder')
        .on('storage_pieces')
        .columns(['holder', 'status'])
        .execute();
      await db.schema.createIndex('storage_pieces_root').on('storage_pieces').columns(['root']).execute();
      await db.schema
        .createTable('storage_windows')
        .addColumn('window', 'integer', (c) => c.primaryKey())
        .addColumn('seed', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('opened_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('storage_faults')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('segment', 'integer', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('root', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('window', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('storage_faults_provider')
        .on('storage_faults')
        .columns(['provider'])
        .execute();
      await db.schema
        .createTable('storage_receipts')
        .addColumn('reader', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('served_bytes', 'text', (c) => c.notNull())
        .addColumn('redeemed_bytes', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('storage_receipts_pk', ['reader', 'server', 'object_id'])
        .execute();
    },
  },
  // Per-provider uptime over time (issue 22, the explorer's provider charts): a provider's
  // sessions are read by provider and time, which the time-only index did not serve.
  '0016_provider_uptime': {
    async up(db) {
      await db.schema
        .createIndex('provider_sessions_provider')
        .on('provider_sessions')
        .columns(['provider', 'connected_at'])
        .execute();
    },
  },
  // Stake locked per lease (issue 15, docs/verification.md "Stake locked per lease"): k × the
  // task's pay is locked from the provider's stake while the lease is open, released on the
  // verdict, slashed when the verdict faults it (work/stakeLocks.ts).
  '0019_stake_locks': {
    async up(db) {
      await db.schema
        .createTable('stake_locks')
        .addColumn('assignment_id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('amount', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('settled_at', 'integer')
        .execute();
      await db.schema
        .createIndex('stake_locks_provider')
        .on('stake_locks')
        .columns(['provider', 'status'])
        .execute();
      await db.schema.createIndex('stake_locks_task').on('stake_locks').columns(['task_id']).execute();
      await db.schema
        .createIndex('stake_locks_job')
        .on('stake_locks')
        .columns(['job_id', 'status'])
        .execute();
    },
  },
  // Strategic trust (issue 15, docs/verification.md "Canary reviews"): who agreed on each canary's
  // source verdict, re-verifications of doubtful canaries by a trusted provider, the reputation a
  // provider had before a canary miss (to make it whole), and reversed faults with their slash.
  '0014_strategic_trust': {
    async up(db) {
      await db.schema
        .createTable('canary_sources')
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('canary_sources_pk', ['canary_id', 'provider'])
        .execute();
      await db.schema
        .createIndex('canary_sources_provider')
        .on('canary_sources')
        .columns(['provider'])
        .execute();
      await db.schema
        .createTable('canary_reviews')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('lease_id', 'text')
        .addColumn('provider', 'text')
        .addColumn('evidence', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('check_lease_id', 'text')
        .addColumn('checked_by', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('resolved_at', 'integer')
        .execute();
      await db.schema.createIndex('canary_reviews_status').on('canary_reviews').columns(['status']).execute();
      await db.schema
        .createIndex('canary_reviews_check')
        .on('canary_reviews')
        .columns(['check_lease_id'])
        .execute();
      await db.schema
        .createIndex('canary_reviews_canary')
        .on('canary_reviews')
        .columns(['canary_id'])
        .execute();
      await db.schema.alterTable('canary_assignments').addColumn('rep_before', 'text').execute();
      await db.schema
        .createTable('fault_reversals')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('slash_id', 'integer')
        .addColumn('withdrawn', 'integer', (c) => c.notNull())
        .addColumn('compensation', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('fault_reversals_provider')
        .on('fault_reversals')
        .columns(['provider'])
        .execute();
      await db.schema
        .createIndex('fault_reversals_slash')
        .on('fault_reversals')
        .columns(['slash_id'])
        .execute();
    },
  },
  // Region audits of render jobs (issue 20, docs/render.md): the region each auditor was asked to
  // render, so its output is checked against it (and the comparison crops the primary's image).
  '0013_render_regions': {
    async up(db) {
      await db.schema
        .createTable('render_audit_regions')
        .addColumn('assignment_id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('crop', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('render_audit_regions_task')
        .on('render_audit_regions')
        .columns(['task_id'])
        .execute();
    },
  },
  // Every random draw that moves money is checkable (issue 17, docs/validators.md "Audit draws",
  // "Canaries", "Sensors and datasets"): the economics each audit draw's rate was bounded with, per
  // canary lease the draw that injected it, the provider's signed result and the epoch whose bundle
  // reported it; sensor batches' signed digests; dataset sales' signed requests.
  '0020_validator_facts': {
    async up(db) {
      await db.schema.alterTable('audit_draws').addColumn('economics', 'text').execute();
      for (const col of ['draw_epoch', 'reported_in'])
        await db.schema.alterTable('canary_assignments').addColumn(col, 'integer').execute();
      for (const col of ['slot', 'rate', 'draw', 'result'])
        await db.schema.alterTable('canary_assignments').addColumn(col, 'text').execute();
      // Sensor batches as the device signed them (the readings' digest and the signature), and
      // each dataset sale's signed request and how many readings of each owner it sold.
      for (const col of ['payload_hash', 'signature'])
        await db.schema.alterTable('sensor_batches').addColumn(col, 'text').execute();
      await db.schema.alterTable('sensor_batches').addColumn('reported_in', 'integer').execute();
      for (const col of ['auth', 'owners'])
        await db.schema.alterTable('sensor_purchases').addColumn(col, 'text').execute();
      await db.schema
        .createIndex('sensor_batches_reported')
        .on('sensor_batches')
        .columns(['reported_in'])
        .execute();
      await db.schema
        .createIndex('canary_assignments_reported')
        .on('canary_assignments')
        .columns(['reported_in', 'status'])
        .execute();
    },
  },
  // Storage money (issue 19, docs/storage.md "Money"): each passed challenge (holders are paid per
  // proven GiB-epoch from them) and every receipt redemption tried, accepted or refused.
  '0017_storage_money': {
    async up(db) {
      await db.schema
        .createTable('storage_proofs')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('segment', 'integer', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('root', 'text', (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('window', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('storage_proofs_time')
        .on('storage_proofs')
        .columns(['created_at'])
        .execute();
      await db.schema
        .createTable('storage_redemptions')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('reader', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('redeemer', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('cumulative_bytes', 'text', (c) => c.notNull())
        .addColumn('ok', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('amount', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  // Coordinator replicas (issue 18, docs/scaling.md): on PostgreSQL every blob's bytes, in 1 MiB
  // chunks (bytea), so a replica reads a blob another one received (blobs/sharedBlobs.ts).
  // SQLite has the table too (one list for both dialects) and leaves it empty.
  '0018_replicas': {
    async up(db) {
      await db.schema
        .createTable('blob_chunks')
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('data', 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('blob_chunks_pk', ['cid', 'idx'])
        .execute();
    },
  },
  // Session ownership per replica (issue 18, docs/scaling.md "Sessions"): every coordinator
  // process has a row it heartbeats; a provider session belongs to the replica holding its
  // socket, and only sessions whose owner stopped heartbeating are closed by the others.
  '0022_replica_sessions': {
    async up(db) {
      await db.schema
        .createTable('coordinator_replicas')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('started_at', 'integer', (c) => c.notNull())
        .addColumn('heartbeat_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('provider_sessions').addColumn('replica', 'text').execute();
      await sql
        .raw(
          'CREATE INDEX provider_sessions_open ON provider_sessions (replica) WHERE disconnected_at IS NULL',
        )
        .execute(db);
    },
  },
  // A fault is reversed at most once (issue 15, security review: two reviews of one miss settled at
  // once each restored the provider, erasing a real fault as well).
  '0023_fault_reversals_once': {
    async up(db) {
      await db.schema
        .createIndex('fault_reversals_once')
        .on('fault_reversals')
        .columns(['task_id', 'provider'])
        .unique()
        .execute();
    },
  },
  // Made whole through the ledger (issue 15, docs/verification.md "Made whole"): what an overturned
  // verdict owes (an applied slash returned, the reward the outvoted provider was denied, the
  // client's refund), each paid once by a `compensation` entry funded from seized stake; and a
  // canary's record-miss review opened at most once (a second miss joins the open review).
  '0024_review_compensations': {
    async up(db) {
      await db.schema
        .createTable('review_compensations')
        .addColumn('ref', 'text', (c) => c.primaryKey())
        .addColumn('part', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text')
        .addColumn('payee', 'text', (c) => c.notNull())
        .addColumn('amount', 'text', (c) => c.notNull())
        .addColumn('funders', 'text', (c) => c.notNull())
        .addColumn('memo', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('paid_epoch', 'integer')
        .addColumn('paid_at', 'integer')
        .execute();
      await sql
        .raw(
          'CREATE INDEX review_compensations_owed ON review_compensations (created_at) WHERE paid_at IS NULL',
        )
        .execute(db);
      // Reviews opened twice for one canary before this migration: the later ones keep their history
      // under another reason, so the index below can hold.
      await sql
        .raw(
          `UPDATE canary_reviews SET reason = 'record-miss-duplicate' WHERE reason = 'record-miss' AND id NOT IN (SELECT MIN(id) FROM canary_reviews WHERE reason = 'record-miss' GROUP BY canary_id)`,
        )
        .execute(db);
      await sql
        .raw(
          `CREATE UNIQUE INDEX canary_reviews_record_miss_once ON canary_reviews (canary_id) WHERE reason = 'record-miss'`,
        )
        .execute(db);
    },
  },
  // Canary-review checks (issue 15, security review): the checker is a seeded draw among trusted
  // providers whose identities are known from the store (network prefix kept here, so every replica
  // sees a ring member connected elsewhere), a "poisoned" outcome needs a second independent check
  // (the first one's lease is kept), and owed compensations close at a deadline.
  '0025_review_checks': {
    async up(db) {
      await db.schema.alterTable('providers').addColumn('network_prefix', 'text').execute();
      await db.schema.alterTable('canary_reviews').addColumn('first_check_lease_id', 'text').execute();
      await db.schema.alterTable('canary_reviews').addColumn('first_checked_by', 'text').execute();
      await db.schema.alterTable('review_compensations').addColumn('lapsed_at', 'integer').execute();
    },
  },
  // The reputation journal (issue 17, docs/validators.md "Audit rates and reputation"): every change
  // of a provider's reputation with its time, reported once in an evidence bundle, so validators
  // replay reputation and recompute each audit draw's rate; each draw keeps what its rate was
  // computed with besides the economics (`basis`: the time, the unit reward the value floor is
  // priced in, a render task's value reward). Providers with a reputation before this migration get
  // a `state` entry: where the journal starts for them.
  '0026_reputation_journal': {
    async up(db) {
      await db.schema
        .createTable('reputation_journal')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('at', 'integer', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('reported_in', 'integer')
        .execute();
      await sql
        .raw(
          'CREATE INDEX reputation_journal_unreported ON reputation_journal (id) WHERE reported_in IS NULL',
        )
        .execute(db);
      await db.schema.alterTable('audit_draws').addColumn('basis', 'text').execute();
      const rows = await db
        .selectFrom('providers')
        .select(['address', 'reputation'])
        .where('reputation', 'is not', null)
        .orderBy('address')
        .execute();
      for (const r of rows) {
        const state = JSON.parse(r.reputation!) as { updatedAt: number };
        await db
          .insertInto('reputation_journal')
          .values({
            provider: r.address.toLowerCase(),
            kind: 'state',
            at: state.updatedAt,
            detail: JSON.stringify({ state }),
          })
          .execute();
      }
    },
  },
  // Storage repair evidence (issue 19, docs/storage.md "Repair" and "Evidence"): the client's
  // signed put kept with its object (validators check who owns what they are charged for), and
  // every repair order in the store, with the source pieces its holder fetched, so a repair
  // finished around a coordinator restart is still paid, once (its ledger ref is the order's).
  '0028_storage_repair_evidence': {
    async up(db) {
      await db.schema.alterTable('storage_objects').addColumn('put_request', 'text').execute();
      await db.schema
        .createTable('storage_repair_orders')
        .addColumn('order_id', 'text', (c) => c.primaryKey())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('segment', 'integer', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('root', 'text', (c) => c.notNull())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('need', 'integer', (c) => c.notNull())
        .addColumn('fetched', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('storage_repair_orders_holder')
        .on('storage_repair_orders')
        .columns(['holder', 'object_id'])
        .execute();
    },
  },
  // Region-audited render primaries billed for their frame (issue 20, docs/render.md "Billing"):
  // each region audit keeps its task's size in pixels, so billing sizes the auditor's units to the
  // whole task before the median (market/priceExecution.ts `medianBilling`).
  '0029_render_region_task_pixels': {
    async up(db) {
      await db.schema.alterTable('render_audit_regions').addColumn('task_pixels', 'integer').execute();
    },
  },
  // A provider proven faulty has its unchecked outputs of running jobs reopened (issue 15,
  // work/recheckCaught.ts): they are found by provider and status in the fault's transaction.
  '0030_tasks_provider': {
    async up(db) {
      await db.schema.createIndex('tasks_provider').on('tasks').columns(['provider', 'status']).execute();
    },
  },
  // A timeout's cause travels with its journal entry (the lease and its deadline, or the provider's
  // signed failure: docs/validators.md "Timeouts"); a signed failure report is kept with its lease.
  // Timeouts journaled before this and not reported yet are marked `legacy` (no cause was kept).
  '0031_reputation_cause': {
    async up(db) {
      await db.schema.alterTable('reputation_journal').addColumn('cause', 'text').execute();
      await db.schema.alterTable('assignments').addColumn('failure_auth', 'text').execute();
      await sql`UPDATE reputation_journal SET cause = '{"legacy":true}' WHERE kind = 'timeout' AND reported_in IS NULL`.execute(
        db,
      );
    },
  },
  // Tiny blobs in the store (issue 18, coordinator CPU per task): an output sent inside a result
  // is kept in its row, so storing it costs a row, not a file's create, write and rename; with
  // replicas every replica reads it from the row (createBlobStore.ts `putBytes`).
  '0033_inline_blobs': {
    async up(db) {
      await db.schema.alterTable('blobs').addColumn('data', 'blob').execute();
    },
  },
  // Each slash records the epoch that applied it (security review): the old cursor, "every slash
  // up to the highest id an epoch applied", skipped a slash with a lower id that the close did not
  // read (stamped past the epoch's end before it got its id, or not yet committed on PostgreSQL),
  // and a later reversal of it counted it applied. Slashes up to the old cursor were applied.
  '0035_slash_applied_epoch': {
    async up(db) {
      await db.schema.alterTable('slashes').addColumn('applied_epoch', 'integer').execute();
      const cursor = await db
        .selectFrom('market_meta')
        .select('value')
        .where('key', '=', 'slashes_applied_through')
        .executeTakeFirst();
      await db
        .updateTable('slashes')
        .set({ applied_epoch: 0 })
        .where('id', '<=', Number(cursor?.value ?? '0'))
        .execute();
      await db.schema.createIndex('slashes_pending').on('slashes').columns(['applied_epoch', 'id']).execute();
    },
  },
  // Outputs revoked after delivery (issue 15, work/recheckCaught.ts `revokeOverturnedOutput`): two
  // independent trusted checks found a delivered output wrong (a caught provider's unchecked output
  // of an ended job, or a poisoned canary's source); the client sees the replacement and whether
  // it is refunded. One row per task.
  '0036_output_revocations': {
    async up(db) {
      await db.schema
        .createTable('output_revocations')
        .addColumn('task_id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text')
        .addColumn('revoked_cid', 'text', (c) => c.notNull())
        .addColumn('replacement_cid', 'text', (c) => c.notNull())
        .addColumn('review_id', 'text', (c) => c.notNull())
        .addColumn('checked_by', 'text', (c) => c.notNull())
        .addColumn('refund', 'integer', (c) => c.notNull())
        .addColumn('revoked_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('output_revocations_job')
        .on('output_revocations')
        .column('job_id')
        .execute();
    },
  },
  // Every ended task lease is reported once, with its outcome, by the evidence bundle closed after
  // it ended (docs/validators.md "Ended leases", evidence version 6): validators match each timeout
  // to one listed lease and see a timeout left out. Leases of tasks that are already finished are
  // marked reported (0: before this) — their timeouts were journaled at their verdicts.
  '0037_lease_reports': {
    async up(db) {
      await db.schema.alterTable('assignments').addColumn('reported_in', 'integer').execute();
      await sql`UPDATE assignments SET reported_in = 0 WHERE status <> 'leased' AND task_id IN (SELECT id FROM tasks WHERE status IN ('completed', 'failed', 'cancelled'))`.execute(
        db,
      );
      await db.schema
        .createIndex('assignments_reported_in')
        .on('assignments')
        .columns(['reported_in', 'status'])
        .execute();
    },
  },
  // Direct-serving tickets kept (issue 19, docs/storage.md "Direct serving"): a ticket's bytes are
  // a reservation until its server reports serving it, given back once if it never does by its
  // expiry or reports the piece aborted (coordinator/storage/directTickets.ts); kept in the store
  // so a restart still gives back what it reserved.
  '0040_storage_tickets': {
    async up(db) {
      await db.schema
        .createTable('storage_tickets')
        .addColumn('ticket', 'text', (c) => c.primaryKey())
        .addColumn('reader', 'text', (c) => c.notNull())
        .addColumn('server', 'text', (c) => c.notNull())
        .addColumn('object_id', 'text', (c) => c.notNull())
        .addColumn('bytes', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('storage_tickets_state')
        .on('storage_tickets')
        .columns(['state', 'expires_at'])
        .execute();
    },
  },
  // Dataset requests spend their nonce before any work, refusals included (security review: a
  // refused request, replayed, made the coordinator scan the readings every time;
  // sensors/dataset/createDatasetSeller.ts).
  '0041_sensor_request_nonces': {
    async up(db) {
      await db.schema
        .createTable('sensor_request_nonces')
        .addColumn('client', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sensor_request_nonces_pk', ['client', 'nonce'])
        .execute();
    },
  },
  // Reopened outputs kept, so a fault reversed on review pays back the right ones (issue 15).
  '0044_reopened_outputs': reopenedOutputsMigration,
  // When a session's provider said it drains (takes no new work): its uptime and capacity stop
  // counting there (security review p9: a provider that drained at once kept its emission share;
  // settlement/epochComputation.ts `sessionEnd`).
  '0048_session_draining': {
    async up(db) {
      await db.schema.alterTable('provider_sessions').addColumn('draining_at', 'integer').execute();
    },
  },
  // Canary leases' shadow jobs: a canary's job and task ids look like any client's (issue 15).
  '0053_shadow_jobs': shadowJobsMigration,
  '0057_journal_task_id': journalTaskMigration,
  '0058_canary_holds': canaryHoldMigration,
};
