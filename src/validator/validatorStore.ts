/**
 * The validator's own SQLite store: per coordinator, epoch and evidence bundle, the evidence hash
 * it checked and either its signature or the dispute it recorded. A restarted validator resumes
 * from here and never signs a bundle it disputed; a coordinator that reopens a disputed epoch
 * (`plexus ledger reopen`) publishes a new bundle for it, which gets a decision of its own.
 */
import SQLite from 'better-sqlite3';
import type { Hex } from 'viem';
import type { ReputationEntry } from '../coordinator/settlement/epochFacts.ts';
import { CHARGE_MEMORY_MS, type SeenCharge } from './checkCompensations.ts';
import type { PublishedDraw } from './checkDraws.ts';
import type { RenderAudit } from './checkRenderRegions.ts';
import type { SettledFacts } from './checkSettled.ts';
import type { EpochPrices } from './checkUnitPrice.ts';
import { ReputationReplay } from './reputationReplay.ts';

/**
 * One decided epoch.
 *
 * @example
 * const row: DecidedEpoch = { coordinator: 'http://…', epoch: 4, evidenceHash: '0x…', status: 'signed', … };
 */
export type DecidedEpoch = {
  coordinator: string;
  epoch: number;
  evidenceHash: Hex | null;
  prevHash: Hex | null;
  status: 'signed' | 'disputed';
  signer: string | null;
  signature: Hex | null;
  /** The first differing fact (disputed only). */
  fact: string | null;
  claimed: string | null;
  recomputed: string | null;
  decidedAt: number;
};

/**
 * The validator store.
 *
 * @example
 * const store = openValidatorStore(join(dataDir, 'validator.db'));
 * store.last('http://127.0.0.1:8080'); // highest decided epoch, or undefined
 */
export type ValidatorStore = {
  record(row: DecidedEpoch): void;
  /** The latest decision about `epoch` (a reopened epoch has one per bundle). */
  get(coordinator: string, epoch: number): DecidedEpoch | undefined;
  /** The highest epoch decided for this coordinator. */
  last(coordinator: string): DecidedEpoch | undefined;
  /** The latest decision about `epoch` of whichever followed coordinator: a signature or a dispute. */
  latestFor(epoch: number): DecidedEpoch | undefined;
  disputes(limit?: number): DecidedEpoch[];
  /** Keeps the audit-seed commitment a signed bundle published (the first one kept wins). */
  commit(coordinator: string, epoch: number, commitment: Hex): void;
  commitment(coordinator: string, epoch: number): Hex | undefined;
  /** Keeps the draws a signed bundle published, to recompute when their seed is revealed. */
  rememberDraws(coordinator: string, draws: readonly PublishedDraw[]): void;
  /** The draws kept for `epoch`'s seed. */
  draws(coordinator: string, epoch: number): PublishedDraw[];
  /** Keeps the seeds a signed bundle revealed (a draw published later is recomputed at once). */
  rememberSeeds(coordinator: string, seeds: readonly { epoch: number; seed: string }[]): void;
  /** The revealed seed of `epoch`, if a bundle this validator accepted revealed it. */
  seed(coordinator: string, epoch: number): string | undefined;
  /** Keeps the evidence version of a signed bundle: the highest one kept is the floor (versionRule.ts). */
  rememberVersion(coordinator: string, version: number): void;
  /** The highest evidence version signed for this coordinator (undefined: none yet). */
  highestVersion(coordinator: string): number | undefined;
  /** Keeps the region audits a signed bundle paid, to re-derive when their seed is revealed. */
  rememberRenderAudits(coordinator: string, audits: readonly RenderAudit[]): void;
  /** The region audits kept for `epoch`'s seed. */
  renderAudits(coordinator: string, epoch: number): RenderAudit[];
  /**
   * Keeps a signed bundle's reputation journal and the replay's state after it (reputationReplay.ts),
   * per epoch. A bundle of an epoch signed before (re-closed after `plexus ledger reopen`) replaces
   * what was kept for that epoch and every later one (they were reopened too).
   */
  keepReputation(
    coordinator: string,
    epoch: number,
    entries: readonly ReputationEntry[],
    replay: ReputationReplay,
  ): void;
  /**
   * Keeps the execution charges a signed bundle of `epoch` showed and the refund/reward backings its
   * compensations used (checkCompensations.ts), replacing what an earlier bundle of `epoch` left;
   * forgets those of bundles that ended more than CHARGE_MEMORY_MS before `endsAt`.
   */
  rememberCharges(
    coordinator: string,
    epoch: number,
    endsAt: number,
    seen: { charges: readonly SeenCharge[]; used: readonly string[] },
  ): void;
  /** A charge kept from a signed bundle of an epoch before `before`. */
  charge(coordinator: string, ref: string, before: number): SeenCharge | undefined;
  /** Whether a signed bundle of an epoch before `before` used this backing. */
  chargeUsed(coordinator: string, key: string, before: number): boolean;
  /**
   * Keeps the storage price each hold of a signed bundle of `epoch` set, per object (null: a hold
   * without its evidence, price unknown), replacing what an earlier bundle of `epoch` left.
   */
  rememberStoragePrices(coordinator: string, epoch: number, prices: readonly [string, bigint | null][]): void;
  /** The price of an object's term as the latest hold of an epoch before `before` set it. */
  storagePrice(coordinator: string, objectId: string, before: number): bigint | undefined;
  /** Keeps a signed bundle's base prices and close time (checkUnitPrice.ts), replacing earlier ones. */
  rememberEpochPrices(coordinator: string, prices: EpochPrices): void;
  /** The base prices and close time of `epoch` as the bundle this validator signed published them. */
  epochPrices(coordinator: string, epoch: number): EpochPrices | undefined;
  /**
   * Keeps what a signed bundle of `epoch` settled once (checkSettled.ts: refs, paid executions per
   * task, highest receipt counts), replacing what an earlier bundle of `epoch` left. Kept for good:
   * a replay of any age is refused.
   */
  rememberSettled(coordinator: string, epoch: number, settled: SettledFacts): void;
  /** Whether a signed bundle of an epoch before `before` settled this ref. */
  settledRef(coordinator: string, ref: string, before: number): boolean;
  /** How many executions of a task signed bundles of epochs before `before` paid. */
  settledExecutions(coordinator: string, taskId: string, before: number): number;
  /** The highest count of a receipt key signed bundles of epochs before `before` paid. */
  receiptPaid(coordinator: string, key: string, before: number): bigint | undefined;
  /** The replay rebuilt from every journal kept, in epoch order. */
  reputation(coordinator: string): ReputationReplay;
  /** The latest epoch whose bundle the kept replay applied (undefined: none, or a store from before 0037). */
  replayEpoch(coordinator: string): number | undefined;
  /** The replay as it was before `epoch`'s bundle was applied: what a re-closed `epoch` is checked with. */
  reputationBefore(coordinator: string, epoch: number): ReputationReplay;
  close(): void;
};

type Row = {
  coordinator: string;
  epoch: number;
  evidence_hash: string | null;
  prev_hash: string | null;
  status: string;
  signer: string | null;
  signature: string | null;
  fact: string | null;
  claimed: string | null;
  recomputed: string | null;
  decided_at: number;
};

const fromRow = (r: Row | undefined): DecidedEpoch | undefined =>
  r && {
    coordinator: r.coordinator,
    epoch: r.epoch,
    evidenceHash: (r.evidence_hash || null) as Hex | null,
    prevHash: r.prev_hash as Hex | null,
    status: r.status as DecidedEpoch['status'],
    signer: r.signer,
    signature: r.signature as Hex | null,
    fact: r.fact,
    claimed: r.claimed,
    recomputed: r.recomputed,
    decidedAt: r.decided_at,
  };

/**
 * Opens (creating when absent) the validator's store at `path` (`:memory:` for tests).
 *
 * @example
 * const store = openValidatorStore(':memory:');
 */
export function openValidatorStore(path: string): ValidatorStore {
  const db = new SQLite(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS decisions (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, evidence_hash TEXT NOT NULL, prev_hash TEXT,
    status TEXT NOT NULL, signer TEXT, signature TEXT, fact TEXT, claimed TEXT, recomputed TEXT,
    decided_at INTEGER NOT NULL, PRIMARY KEY (coordinator, epoch, evidence_hash))`);
  // Stores written before epochs could be reopened kept one decision per epoch (table `decided`).
  const legacy = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'decided'").get();
  if (legacy)
    db.transaction(() => {
      db.exec(`INSERT OR IGNORE INTO decisions SELECT coordinator, epoch, COALESCE(evidence_hash, ''),
        prev_hash, status, signer, signature, fact, claimed, recomputed, decided_at FROM decided`);
      db.exec('DROP TABLE decided');
    })();
  db.exec(`CREATE TABLE IF NOT EXISTS seed_commitments (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, commitment TEXT NOT NULL,
    PRIMARY KEY (coordinator, epoch))`);
  db.exec(`CREATE TABLE IF NOT EXISTS published_draws (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, kind TEXT NOT NULL, provider TEXT NOT NULL,
    key TEXT NOT NULL, draw REAL NOT NULL, name TEXT NOT NULL, PRIMARY KEY (coordinator, kind, provider, key))`);
  const drawIns = db.prepare(
    'INSERT OR IGNORE INTO published_draws VALUES (@coordinator, @epoch, @kind, @provider, @key, @draw, @name)',
  );
  const drawsGet = db.prepare(
    'SELECT epoch, kind, provider, key, draw, name FROM published_draws WHERE coordinator = ? AND epoch = ?',
  );
  db.exec(`CREATE TABLE IF NOT EXISTS revealed_seeds (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, seed TEXT NOT NULL, PRIMARY KEY (coordinator, epoch))`);
  const seedIns = db.prepare('INSERT OR IGNORE INTO revealed_seeds VALUES (?, ?, ?)');
  const seedGet = db.prepare('SELECT seed FROM revealed_seeds WHERE coordinator = ? AND epoch = ?');
  db.exec(`CREATE TABLE IF NOT EXISTS render_audits (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, task_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (coordinator, task_id))`);
  const renderIns = db.prepare('INSERT OR IGNORE INTO render_audits VALUES (?, ?, ?, ?)');
  const renderGet = db.prepare('SELECT body FROM render_audits WHERE coordinator = ? AND epoch = ?');
  db.exec(`CREATE TABLE IF NOT EXISTS reputation_journal (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (coordinator, epoch))`);
  db.exec(`CREATE TABLE IF NOT EXISTS reputation_replay (
    coordinator TEXT PRIMARY KEY, body TEXT NOT NULL)`);
  const journalIns = db.prepare('INSERT OR IGNORE INTO reputation_journal VALUES (?, ?, ?)');
  const journalGet = db.prepare(
    'SELECT epoch, body FROM reputation_journal WHERE coordinator = ? AND epoch <= ? ORDER BY epoch',
  );
  const replayPut = db.prepare('INSERT OR REPLACE INTO reputation_replay VALUES (?, ?)');
  // The replay's state after each signed epoch: a re-closed epoch is checked from the one before.
  db.exec(`CREATE TABLE IF NOT EXISTS replay_states (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (coordinator, epoch))`);
  const stateIns = db.prepare('INSERT OR REPLACE INTO replay_states VALUES (?, ?, ?)');
  const stateBefore = db.prepare(
    'SELECT body FROM replay_states WHERE coordinator = ? AND epoch < ? ORDER BY epoch DESC LIMIT 1',
  );
  const stateLast = db.prepare('SELECT MAX(epoch) AS epoch FROM replay_states WHERE coordinator = ?');
  const statesDrop = db.prepare(
    'DELETE FROM replay_states WHERE coordinator = ? AND epoch >= ? AND epoch <= ?',
  );
  const journalsDrop = db.prepare(
    'DELETE FROM reputation_journal WHERE coordinator = ? AND epoch >= ? AND epoch <= ?',
  );
  // The epoch whose bundle the kept replay applied last (a re-signed old epoch moves it back).
  db.exec('CREATE TABLE IF NOT EXISTS replay_head (coordinator TEXT PRIMARY KEY, epoch INTEGER NOT NULL)');
  const headPut = db.prepare('INSERT OR REPLACE INTO replay_head VALUES (?, ?)');
  const headGet = db.prepare('SELECT epoch FROM replay_head WHERE coordinator = ?');
  // The highest evidence version signed per coordinator: a later bundle never carries a lower one.
  db.exec(
    'CREATE TABLE IF NOT EXISTS accepted_versions (coordinator TEXT PRIMARY KEY, version INTEGER NOT NULL)',
  );
  const versionPut = db.prepare(
    'INSERT INTO accepted_versions VALUES (?, ?) ON CONFLICT (coordinator) DO UPDATE SET version = MAX(version, excluded.version)',
  );
  const versionGet = db.prepare('SELECT version FROM accepted_versions WHERE coordinator = ?');
  const journalsBefore = db.prepare(
    'SELECT body FROM reputation_journal WHERE coordinator = ? AND epoch < ? ORDER BY epoch',
  );
  // Execution charges of signed bundles and the compensation backings they used (CHARGE_MEMORY_MS).
  db.exec(`CREATE TABLE IF NOT EXISTS seen_charges (
    coordinator TEXT NOT NULL, ref TEXT NOT NULL, epoch INTEGER NOT NULL, ends_at INTEGER NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (coordinator, ref))`);
  db.exec(`CREATE TABLE IF NOT EXISTS used_charges (
    coordinator TEXT NOT NULL, key TEXT NOT NULL, epoch INTEGER NOT NULL, ends_at INTEGER NOT NULL,
    PRIMARY KEY (coordinator, key))`);
  const chargeIns = db.prepare('INSERT OR REPLACE INTO seen_charges VALUES (?, ?, ?, ?, ?)');
  const usedIns = db.prepare('INSERT OR REPLACE INTO used_charges VALUES (?, ?, ?, ?)');
  const chargesDrop = db.prepare(
    'DELETE FROM seen_charges WHERE coordinator = ? AND (epoch = ? OR ends_at < ?)',
  );
  const usedDrop = db.prepare(
    'DELETE FROM used_charges WHERE coordinator = ? AND (epoch = ? OR ends_at < ?)',
  );
  const chargeGet = db.prepare(
    'SELECT body FROM seen_charges WHERE coordinator = ? AND ref = ? AND epoch < ?',
  );
  const usedGet = db.prepare(
    'SELECT 1 AS x FROM used_charges WHERE coordinator = ? AND key = ? AND epoch < ?',
  );
  // Each object's storage price as its signed hold set it (checkStoragePrice.ts; '' unknown).
  db.exec(`CREATE TABLE IF NOT EXISTS storage_prices (
    coordinator TEXT NOT NULL, object_id TEXT NOT NULL, epoch INTEGER NOT NULL, price TEXT NOT NULL,
    PRIMARY KEY (coordinator, object_id, epoch))`);
  const priceIns = db.prepare('INSERT OR REPLACE INTO storage_prices VALUES (?, ?, ?, ?)');
  const pricesDrop = db.prepare('DELETE FROM storage_prices WHERE coordinator = ? AND epoch = ?');
  const priceGet = db.prepare(
    'SELECT price FROM storage_prices WHERE coordinator = ? AND object_id = ? AND epoch < ? ORDER BY epoch DESC LIMIT 1',
  );
  // Each signed epoch's base prices and close time (checkUnitPrice.ts).
  db.exec(`CREATE TABLE IF NOT EXISTS epoch_prices (
    coordinator TEXT NOT NULL, epoch INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (coordinator, epoch))`);
  const epochPricesIns = db.prepare('INSERT OR REPLACE INTO epoch_prices VALUES (?, ?, ?)');
  const epochPricesGet = db.prepare('SELECT body FROM epoch_prices WHERE coordinator = ? AND epoch = ?');
  // What signed bundles settled once (checkSettled.ts): refs, paid executions per task, and the
  // highest count paid per receipt key; per epoch, so a re-closed epoch's bundle replaces its own.
  db.exec(`CREATE TABLE IF NOT EXISTS settled_refs (
    coordinator TEXT NOT NULL, ref TEXT NOT NULL, epoch INTEGER NOT NULL, PRIMARY KEY (coordinator, ref, epoch))`);
  db.exec(`CREATE TABLE IF NOT EXISTS settled_tasks (
    coordinator TEXT NOT NULL, task_id TEXT NOT NULL, epoch INTEGER NOT NULL, executions INTEGER NOT NULL,
    PRIMARY KEY (coordinator, task_id, epoch))`);
  db.exec(`CREATE TABLE IF NOT EXISTS settled_receipts (
    coordinator TEXT NOT NULL, key TEXT NOT NULL, epoch INTEGER NOT NULL, bytes TEXT NOT NULL,
    PRIMARY KEY (coordinator, key, epoch))`);
  const settledDrop = ['settled_refs', 'settled_tasks', 'settled_receipts'].map((t) =>
    db.prepare(`DELETE FROM ${t} WHERE coordinator = ? AND epoch = ?`),
  );
  const settledRefIns = db.prepare('INSERT OR REPLACE INTO settled_refs VALUES (?, ?, ?)');
  const settledTaskIns = db.prepare('INSERT OR REPLACE INTO settled_tasks VALUES (?, ?, ?, ?)');
  const settledReceiptIns = db.prepare('INSERT OR REPLACE INTO settled_receipts VALUES (?, ?, ?, ?)');
  const settledRefGet = db.prepare(
    'SELECT 1 AS x FROM settled_refs WHERE coordinator = ? AND ref = ? AND epoch < ? LIMIT 1',
  );
  const settledTaskGet = db.prepare(
    'SELECT COALESCE(SUM(executions), 0) AS n FROM settled_tasks WHERE coordinator = ? AND task_id = ? AND epoch < ?',
  );
  const settledReceiptGet = db.prepare(
    'SELECT bytes FROM settled_receipts WHERE coordinator = ? AND key = ? AND epoch < ?',
  );
  const replayGet = db.prepare('SELECT body FROM reputation_replay WHERE coordinator = ?');
  const commitIns = db.prepare('INSERT OR IGNORE INTO seed_commitments VALUES (?, ?, ?)');
  const commitGet = db.prepare('SELECT commitment FROM seed_commitments WHERE coordinator = ? AND epoch = ?');
  // A decision about a bundle is final: INSERT OR IGNORE keeps the first, so a disputed bundle is
  // never signed later.
  const insert = db.prepare(`INSERT OR IGNORE INTO decisions VALUES
    (@coordinator, @epoch, @evidenceHash, @prevHash, @status, @signer, @signature, @fact, @claimed, @recomputed, @decidedAt)`);
  const latest = 'ORDER BY decided_at DESC, rowid DESC LIMIT 1';
  const get = db.prepare(`SELECT * FROM decisions WHERE coordinator = ? AND epoch = ? ${latest}`);
  const last = db.prepare(
    `SELECT * FROM decisions WHERE coordinator = ? ORDER BY epoch DESC, decided_at DESC, rowid DESC LIMIT 1`,
  );
  const latestFor = db.prepare(`SELECT * FROM decisions WHERE epoch = ? ${latest}`);
  const disputes = db.prepare(
    "SELECT * FROM decisions WHERE status = 'disputed' ORDER BY decided_at DESC LIMIT ?",
  );
  return {
    record: (row) => void insert.run({ ...row, evidenceHash: row.evidenceHash ?? '' }),
    get: (c, e) => fromRow(get.get(c, e) as Row | undefined),
    last: (c) => fromRow(last.get(c) as Row | undefined),
    latestFor: (e) => fromRow(latestFor.get(e) as Row | undefined),
    disputes: (limit = 200) => (disputes.all(limit) as Row[]).map((r) => fromRow(r)!),
    commit: (c, e, commitment) => void commitIns.run(c, e, commitment),
    commitment: (c, e) => (commitGet.get(c, e) as { commitment: Hex } | undefined)?.commitment,
    rememberDraws: (c, draws) =>
      db.transaction(() => {
        for (const d of draws) drawIns.run({ coordinator: c, ...d });
      })(),
    draws: (c, e) => drawsGet.all(c, e) as PublishedDraw[],
    rememberSeeds: (c, seeds) =>
      db.transaction(() => {
        for (const s of seeds) seedIns.run(c, s.epoch, s.seed);
      })(),
    seed: (c, e) => (seedGet.get(c, e) as { seed: string } | undefined)?.seed,
    rememberVersion: (c, version) => void versionPut.run(c, version),
    highestVersion: (c) => (versionGet.get(c) as { version: number } | undefined)?.version,
    rememberRenderAudits: (c, audits) =>
      db.transaction(() => {
        for (const a of audits) renderIns.run(c, a.epoch, a.taskId, JSON.stringify(a));
      })(),
    renderAudits: (c, e) =>
      (renderGet.all(c, e) as { body: string }[]).map((r) => JSON.parse(r.body) as RenderAudit),
    keepReputation: (c, epoch, entries, replay) =>
      db.transaction(() => {
        // Only this epoch's are replaced: later epochs' stay until their re-closed bundles are
        // signed (the head says which the replay is after; review 2 of issue 17).
        journalsDrop.run(c, epoch, epoch);
        statesDrop.run(c, epoch, epoch);
        if (entries.length > 0) journalIns.run(c, epoch, JSON.stringify(entries));
        const meta = JSON.stringify(replay.meta());
        stateIns.run(c, epoch, meta);
        replayPut.run(c, meta);
        headPut.run(c, epoch);
      })(),
    rememberCharges: (c, epoch, endsAt, seen) =>
      db.transaction(() => {
        chargesDrop.run(c, epoch, endsAt - CHARGE_MEMORY_MS);
        usedDrop.run(c, epoch, endsAt - CHARGE_MEMORY_MS);
        for (const ch of seen.charges) chargeIns.run(c, ch.ref, epoch, endsAt, JSON.stringify(ch));
        for (const k of seen.used) usedIns.run(c, k, epoch, endsAt);
      })(),
    charge: (c, ref, before) => {
      const r = chargeGet.get(c, ref.toLowerCase(), before) as { body: string } | undefined;
      return r ? (JSON.parse(r.body) as SeenCharge) : undefined;
    },
    chargeUsed: (c, key, before) => usedGet.get(c, key, before) !== undefined,
    rememberStoragePrices: (c, epoch, prices) =>
      db.transaction(() => {
        pricesDrop.run(c, epoch);
        for (const [o, p] of prices) priceIns.run(c, o, epoch, p === null ? '' : p.toString());
      })(),
    storagePrice: (c, o, before) => {
      const r = priceGet.get(c, o, before) as { price: string } | undefined;
      return r && r.price !== '' ? BigInt(r.price) : undefined;
    },
    rememberEpochPrices: (c, p) => {
      epochPricesIns.run(c, p.epoch, JSON.stringify(p));
    },
    epochPrices: (c, epoch) => {
      const r = epochPricesGet.get(c, epoch) as { body: string } | undefined;
      return r ? (JSON.parse(r.body) as EpochPrices) : undefined;
    },
    rememberSettled: (c, epoch, settled) =>
      db.transaction(() => {
        for (const drop of settledDrop) drop.run(c, epoch);
        for (const r of settled.refs) settledRefIns.run(c, r.toLowerCase(), epoch);
        for (const [t, n] of settled.executions) settledTaskIns.run(c, t.toLowerCase(), epoch, n);
        for (const [k, v] of settled.receipts) settledReceiptIns.run(c, k, epoch, v);
      })(),
    settledRef: (c, ref, before) => settledRefGet.get(c, ref.toLowerCase(), before) !== undefined,
    settledExecutions: (c, t, before) => (settledTaskGet.get(c, t.toLowerCase(), before) as { n: number }).n,
    receiptPaid: (c, key, before) => {
      let most: bigint | undefined;
      for (const r of settledReceiptGet.all(c, key, before) as { bytes: string }[]) {
        const b = BigInt(r.bytes);
        if (most === undefined || b > most) most = b;
      }
      return most;
    },
    replayEpoch: (c) =>
      (headGet.get(c) as { epoch: number } | undefined)?.epoch ??
      (stateLast.get(c) as { epoch: number | null } | undefined)?.epoch ??
      undefined,
    reputationBefore: (c, epoch) => {
      const meta = stateBefore.get(c, epoch) as { body: string } | undefined;
      const journals = (journalsBefore.all(c, epoch) as { body: string }[]).map(
        (r) => JSON.parse(r.body) as ReputationEntry[],
      );
      return ReputationReplay.restore(
        meta ? JSON.parse(meta.body) : { complete: false },
        meta ? journals : [],
      );
    },
    reputation: (c) => {
      const meta = replayGet.get(c) as { body: string } | undefined;
      const head = (headGet.get(c) as { epoch: number } | undefined)?.epoch ?? Number.MAX_SAFE_INTEGER;
      const journals = (journalGet.all(c, head) as { body: string }[]).map(
        (r) => JSON.parse(r.body) as ReputationEntry[],
      );
      return ReputationReplay.restore(meta ? JSON.parse(meta.body) : { complete: false }, journals);
    },
    close: () => db.close(),
  };
}
