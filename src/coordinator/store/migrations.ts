import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';
import { canaryFailureMigrations } from './canaryFailureMigration.ts';
import { capabilityProofMigrations } from './capabilityProofMigration.ts';
import { dialectOf } from './dialect.ts';
import { knownAnswerKindMigrations } from './knownAnswerKindMigration.ts';
import { laterMigrations } from './laterMigrations.ts';
import { leaseMigrations } from './leaseMigrations.ts';
import { publicReputationMigrations } from './publicReputationMigration.ts';
import { reviewCheckMigrations } from './reviewCheckMigration.ts';
import { securityMigrations } from './securityMigrations.ts';
import { shadowPendingMigrations } from './shadowPendingMigration.ts';
import { speedMigrations } from './speedMigrations.ts';

/**
 * Store migrations, in order. Never edit a migration that has shipped: add a new one.
 * They are plain objects (not files found at run time) so they work the same under tsx and in tests.
 *
 * One list for both dialects. Each says what it does on SQLite (what it has always done there);
 * on PostgreSQL the schema builder's column types are rewritten (dialect.ts: integer → bigint,
 * real → double precision, autoincrement → identity) and the few raw SQL statements branch on
 * `dialectOf(db)`.
 */
const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('blobs')
        .addColumn('cid', 'text', (c) => c.primaryKey())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('client', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('spec', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('tasks_total', 'integer', (c) => c.notNull())
        .addColumn('tasks_done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('deadline_ms', 'integer', (c) => c.notNull())
        .addColumn('issued_at', 'integer', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .addUniqueConstraint('jobs_client_nonce', ['client', 'nonce'])
        .execute();
      await db.schema.createIndex('jobs_status').on('jobs').columns(['status', 'deadline_ms']).execute();
      await db.schema
        .createTable('tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('job_id', 'text', (c) => c.notNull().references('jobs.id'))
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('input_cid', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('output_cid', 'text')
        .addColumn('provider', 'text')
        .addColumn('result', 'text')
        .addColumn('last_error', 'text')
        .addColumn('queued_at', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tasks_queue').on('tasks').columns(['status', 'queued_at']).execute();
      await db.schema.createIndex('tasks_job').on('tasks').columns(['job_id', 'idx']).unique().execute();
      await db.schema
        .createTable('assignments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull().references('tasks.id'))
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('lease_expires_at', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('finished_at', 'integer')
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .execute();
      await db.schema
        .createIndex('assignments_lease')
        .on('assignments')
        .columns(['status', 'lease_expires_at'])
        .execute();
      await db.schema.createIndex('assignments_task').on('assignments').columns(['task_id']).execute();
      await db.schema
        .createIndex('assignments_provider')
        .on('assignments')
        .columns(['provider', 'status'])
        .execute();
      await db.schema
        .createTable('providers')
        .addColumn('address', 'text', (c) => c.primaryKey())
        .addColumn('hardware', 'text', (c) => c.notNull())
        .addColumn('slots', 'integer', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('agent_version', 'text', (c) => c.notNull())
        .addColumn('connected', 'integer', (c) => c.notNull())
        .addColumn('first_seen', 'integer', (c) => c.notNull())
        .addColumn('last_seen', 'integer', (c) => c.notNull())
        .addColumn('tasks_completed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('tasks_failed', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('events')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('job_id', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('events_job').on('events').columns(['job_id', 'id']).execute();
      await sql`select 1`.execute(db);
    },
  },
  // Verification wiring (docs/verification.md): per-task state machines, results awaiting a
  // verdict, faults, slash entries and per-provider reputation.
  '0002_verification': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('providers').addColumn('reputation', 'text').execute();
      await db.schema
        .createTable('task_verifications')
        .addColumn('task_id', 'text', (c) => c.primaryKey().references('tasks.id'))
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('audit', 'integer', (c) => c.notNull())
        .addColumn('log', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('verdict', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('task_executions')
        .addColumn('assignment_id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('output_cid', 'text', (c) => c.notNull())
        .addColumn('output_digest', 'text', (c) => c.notNull())
        .addColumn('salt', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('task_executions_task')
        .on('task_executions')
        .columns(['task_id'])
        .execute();
      await db.schema
        .createTable('verification_faults')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('verification_faults_provider')
        .on('verification_faults')
        .columns(['provider'])
        .execute();
      await db.schema
        .createTable('slashes')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('amount', 'text', (c) => c.notNull())
        .addColumn('evidence', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('slashes_provider').on('slashes').columns(['provider']).execute();
    },
  },
  // Market and settlement (docs/market.md): the append-only double-entry ledger, provider
  // sessions (uptime), per-class prices, the epoch state machine, and money columns on jobs and
  // providers.
  '0003_market': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ledger_entries')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('ref', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('job_id', 'text')
        .addColumn('memo', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ledger_entries_epoch').on('ledger_entries').columns(['epoch']).execute();
      await db.schema.createIndex('ledger_entries_job').on('ledger_entries').columns(['job_id']).execute();
      await db.schema
        .createTable('ledger_postings')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('entry_id', 'integer', (c) => c.notNull().references('ledger_entries.id'))
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('amount', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('ledger_postings_account')
        .on('ledger_postings')
        .columns(['account'])
        .execute();
      await db.schema
        .createIndex('ledger_postings_entry')
        .on('ledger_postings')
        .columns(['entry_id'])
        .execute();
      // Append-only, enforced by the database itself: no code path can rewrite history.
      if (dialectOf(db) === 'postgres') {
        await sql`CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$`.execute(db);
        for (const table of ['ledger_entries', 'ledger_postings']) {
          await sql
            .raw(
              `CREATE TRIGGER ${table}_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()`,
            )
            .execute(db);
        }
      }
      for (const table of dialectOf(db) === 'postgres' ? [] : ['ledger_entries', 'ledger_postings']) {
        for (const op of ['UPDATE', 'DELETE']) {
          await sql
            .raw(
              `CREATE TRIGGER ${table}_no_${op.toLowerCase()} BEFORE ${op} ON ${table} BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END`,
            )
            .execute(db);
        }
      }
      await db.schema
        .createTable('provider_sessions')
        .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('slots', 'integer', (c) => c.notNull())
        .addColumn('connected_at', 'integer', (c) => c.notNull())
        .addColumn('disconnected_at', 'integer')
        .execute();
      await db.schema
        .createIndex('provider_sessions_time')
        .on('provider_sessions')
        .columns(['connected_at'])
        .execute();
      await db.schema
        .createTable('prices')
        .addColumn('class', 'text', (c) => c.notNull())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('base_price', 'text', (c) => c.notNull())
        .addColumn('utilization', 'real')
        .addPrimaryKeyConstraint('prices_pk', ['class', 'epoch'])
        .execute();
      await db.schema
        .createTable('epochs')
        .addColumn('epoch', 'integer', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('starts_at', 'integer', (c) => c.notNull())
        .addColumn('ends_at', 'integer', (c) => c.notNull())
        .addColumn('payload', 'text')
        .addColumn('tree', 'text')
        .addColumn('summary', 'text')
        .addColumn('signatures', 'text')
        .addColumn('tx_hash', 'text')
        .addColumn('settled_at', 'integer')
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('market_meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
      await db.schema.alterTable('jobs').addColumn('max_price', 'text').execute();
      await db.schema.alterTable('jobs').addColumn('worst_case', 'text').execute();
      await db.schema.alterTable('providers').addColumn('floor_prices', 'text').execute();
    },
  },
  // Live verification (docs/verification.md): capability proofs and each provider's latest
  // capability, the canary pool and canary assignments (kept apart from jobs and tasks so a canary
  // never bills a client), and the commitments providers sign before they reveal an output.
  '0004_verification_live': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('providers').addColumn('capability', 'text').execute();
      await db.schema
        .createTable('capability_proofs')
        .addColumn('challenge_id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('hardware_class', 'text', (c) => c.notNull())
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('elapsed_ms', 'real')
        .addColumn('gflops', 'real')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('capability_proofs_provider')
        .on('capability_proofs')
        .columns(['provider', 'created_at'])
        .execute();
      await db.schema
        .createTable('canary_tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('source_task_id', 'text', (c) => c.notNull().unique())
        .addColumn('source_job_id', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('input_cid', 'text', (c) => c.notNull())
        .addColumn('gpu', 'integer', (c) => c.notNull())
        .addColumn('timeout_ms', 'integer', (c) => c.notNull())
        .addColumn('expected_digest', 'text', (c) => c.notNull())
        .addColumn('expected_cid', 'text', (c) => c.notNull())
        .addColumn('issued', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('retired', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('canary_assignments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull().unique())
        .addColumn('canary_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('lease_expires_at', 'integer', (c) => c.notNull())
        .addColumn('output_cid', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('finished_at', 'integer')
        .execute();
      await db.schema
        .createIndex('canary_assignments_provider')
        .on('canary_assignments')
        .columns(['provider', 'status'])
        .execute();
      await db.schema
        .createTable('task_commitments')
        .addColumn('assignment_id', 'text', (c) => c.primaryKey())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('commitment', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'integer', (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('task_commitments_task')
        .on('task_commitments')
        .columns(['task_id'])
        .execute();
    },
  },
  // Sensor data network (docs/sensors.md): devices owned by provider accounts, signed reading
  // batches (sequence per device refuses replays), readings deduplicated by (device, variable, t),
  // quality scores per device and window, and paid dataset purchases.
  '0005_sensors': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sensor_devices')
        .addColumn('address', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('lat', 'real', (c) => c.notNull())
        .addColumn('lon', 'real', (c) => c.notNull())
        .addColumn('registration', 'text', (c) => c.notNull())
        .addColumn('last_sequence', 'integer', (c) => c.notNull().defaultTo(-1))
        .addColumn('last_seen', 'integer')
        .addColumn('readings_total', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('registered_at', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sensor_devices_owner').on('sensor_devices').columns(['owner']).execute();
      await db.schema
        .createTable('sensor_batches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('device', 'text', (c) => c.notNull())
        .addColumn('sequence', 'integer', (c) => c.notNull())
        .addColumn('issued_at', 'integer', (c) => c.notNull())
        .addColumn('received_at', 'integer', (c) => c.notNull())
        .addColumn('lat', 'real')
        .addColumn('lon', 'real')
        .addColumn('readings', 'integer', (c) => c.notNull())
        .addColumn('stored', 'integer', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addUniqueConstraint('sensor_batches_device_sequence', ['device', 'sequence'])
        .execute();
      await db.schema
        .createIndex('sensor_batches_received')
        .on('sensor_batches')
        .columns(['device', 'received_at'])
        .execute();
      // The primary key is the deduplication rule; WITHOUT ROWID keeps one b-tree per reading.
      if (dialectOf(db) === 'postgres')
        await sql`CREATE TABLE sensor_readings (
          device TEXT NOT NULL, variable TEXT NOT NULL, t BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
          flag BIGINT NOT NULL, PRIMARY KEY (device, variable, t))`.execute(db);
      else
        await sql`CREATE TABLE sensor_readings (
        device TEXT NOT NULL, variable TEXT NOT NULL, t INTEGER NOT NULL, value REAL NOT NULL,
        flag INTEGER NOT NULL, PRIMARY KEY (device, variable, t)) WITHOUT ROWID`.execute(db);
      await db.schema
        .createTable('sensor_scores')
        .addColumn('device', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('window_start', 'integer', (c) => c.notNull())
        .addColumn('window_end', 'integer', (c) => c.notNull())
        .addColumn('data_score', 'real', (c) => c.notNull())
        .addColumn('location_score', 'real', (c) => c.notNull())
        .addColumn('score', 'real', (c) => c.notNull())
        .addColumn('flags', 'text', (c) => c.notNull())
        .addColumn('detail', 'text', (c) => c.notNull())
        .addColumn('computed_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('sensor_scores_pk', ['device', 'kind', 'window_start'])
        .execute();
      await db.schema
        .createTable('sensor_purchases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('client', 'text', (c) => c.notNull())
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('query', 'text', (c) => c.notNull())
        .addColumn('readings', 'integer', (c) => c.notNull())
        .addColumn('amount', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addUniqueConstraint('sensor_purchases_client_nonce', ['client', 'nonce'])
        .execute();
    },
  },
  '0006_epoch_evidence': {
    // One evidence bundle per closed epoch (settlement/evidence.ts): canonical JSON, its sha256
    // (the payload's evidenceHash) and the previous epoch's hash it is chained to.
    async up(db) {
      await db.schema
        .createTable('epoch_evidence')
        .addColumn('epoch', 'integer', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute();
    },
  },
  // Blob access (issue 16): who uploaded each blob (quotas, read rights) and the indexes the read
  // check and the garbage collector look blobs up by.
  '0007_blob_access': {
    async up(db) {
      await db.schema
        .createTable('blob_uploads')
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('account', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('blob_uploads_pk', ['cid', 'account'])
        .execute();
      await db.schema.createIndex('blob_uploads_account').on('blob_uploads').columns(['account']).execute();
      await db.schema.createIndex('blobs_created').on('blobs').columns(['created_at']).execute();
      await db.schema.createIndex('tasks_input').on('tasks').columns(['input_cid']).execute();
      await db.schema.createIndex('tasks_output').on('tasks').columns(['output_cid']).execute();
      await db.schema
        .createIndex('task_executions_output')
        .on('task_executions')
        .columns(['output_cid'])
        .execute();
      // PostgreSQL gets SQLite's json_extract for the '$.key' paths the queries use (JSON true and
      // false as '1' and '0', numbers and strings as text), so queries and this index are the same text.
      if (dialectOf(db) === 'postgres')
        await sql`CREATE FUNCTION json_extract(doc text, path text) RETURNS text
          LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT CASE jsonb_typeof(v) WHEN 'boolean' THEN CASE WHEN v = 'true'::jsonb THEN '1' ELSE '0' END
              WHEN 'null' THEN NULL ELSE v #>> '{}' END
            FROM (SELECT doc::jsonb #> string_to_array(substr(path, 3), '.') AS v) s $$`.execute(db);
      await sql`CREATE INDEX jobs_model ON jobs (json_extract(spec, '$.model'))`.execute(db);
      for (const col of ['model', 'input_cid', 'expected_cid'])
        await db.schema.createIndex(`canary_tasks_${col}`).on('canary_tasks').columns([col]).execute();
      await db.schema
        .createIndex('canary_assignments_output')
        .on('canary_assignments')
        .columns(['output_cid'])
        .execute();
    },
  },
  '0008_signed_spec': {
    // The spec exactly as the client signed it (its canonical JSON hashes to the signed specHash;
    // `spec` holds it with defaults applied), so a validator can check the client's signature.
    async up(db) {
      await db.schema.alterTable('jobs').addColumn('signed_spec', 'text').execute();
    },
  },
  '0009_audit_seeds': {
    // Audit draws validators can recompute (verification/auditSeeds.ts): one secret seed per
    // epoch, committed two epochs ahead and revealed once its draws all have verdicts.
    async up(db) {
      await db.schema
        .createTable('epoch_seeds')
        .addColumn('epoch', 'integer', (c) => c.primaryKey())
        .addColumn('seed', 'text', (c) => c.notNull())
        .addColumn('commitment', 'text', (c) => c.notNull())
        .addColumn('revealed_in', 'integer')
        .execute();
      await db.schema
        .createTable('audit_draws')
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('epoch', 'integer', (c) => c.notNull())
        .addColumn('rate', 'text', (c) => c.notNull())
        .addColumn('draw', 'text', (c) => c.notNull())
        .addColumn('audited', 'integer', (c) => c.notNull())
        .addColumn('other_online', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('audit_draws_pk', ['task_id', 'provider'])
        .execute();
      await db.schema.createIndex('audit_draws_epoch').on('audit_draws').columns(['epoch']).execute();
    },
  },
  // Collaborative training (issue 21, docs/training.md): each train.diloco job's outer state, and
  // every blob a training job references (shards, per-round weights, optimizer state), which its
  // leased workers may read and the collector must keep.
  '0010_train_diloco': {
    async up(db) {
      await db.schema
        .createTable('train_jobs')
        .addColumn('job_id', 'text', (c) => c.primaryKey())
        .addColumn('round', 'integer', (c) => c.notNull())
        .addColumn('weights_cid', 'text', (c) => c.notNull())
        .addColumn('momentum_cid', 'text', (c) => c.notNull())
        .addColumn('last_update_cid', 'text', (c) => c.notNull())
        .addColumn('history', 'text', (c) => c.notNull())
        .addColumn('final_cid', 'text')
        .execute();
      await db.schema
        .createTable('train_blobs')
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('task_id', 'text', (c) => c.notNull())
        .addColumn('cid', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('train_blobs_pk', ['job_id', 'task_id', 'cid'])
        .execute();
      await db.schema.createIndex('train_blobs_cid').on('train_blobs').columns(['cid']).execute();
      await db.schema.createIndex('train_blobs_task').on('train_blobs').columns(['task_id']).execute();
    },
  },
};

/** Kysely migration provider over the in-code lists (this one, laterMigrations.ts, leaseMigrations.ts, speedMigrations.ts, securityMigrations.ts, reviewCheckMigration.ts, shadowPendingMigration.ts, canaryFailureMigration.ts, publicReputationMigration.ts, knownAnswerKindMigration.ts, capabilityProofMigration.ts). */
export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return {
      ...migrations,
      ...laterMigrations,
      ...leaseMigrations,
      ...speedMigrations,
      ...securityMigrations,
      ...reviewCheckMigrations,
      ...shadowPendingMigrations,
      ...canaryFailureMigrations,
      ...publicReputationMigrations,
      ...knownAnswerKindMigrations,
      ...capabilityProofMigrations,
    };
  },
};
