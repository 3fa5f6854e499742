/**
 * Money of the storage network through the coordinator's ledger (issue 19, docs/storage.md
 * "Money"). Every amount is an integer number of PLX base units; every entry is append-only and
 * idempotent (its ref), posted in the epoch it belongs to, so the epoch's close collects the
 * clients' charges from their on-chain escrow and the rewards tree pays the providers on chain.
 *
 * - **Hold** at put: the whole stored term, `epochs × Σ pieces ⌊pieceBytes × price / GiB⌋`, moves
 *   to `client:<c>:storage-escrow` (counted against the client's available escrow, so neither a
 *   job nor a withdrawal can spend it) against `storage:<object>:term`.
 * - **Payment** each epoch (just before it closes): each piece whose latest passed challenge in the
 *   epoch is its holder's, with no fault of that holder on that piece in the epoch, pays that
 *   holder its ⌊pieceBytes × price / GiB⌋; the client is charged the same from its hold.
 * - **Retrieval**: an accepted receipt (redeemReceipt.ts) charges the reader and pays the server
 *   `payableBytes × pricePerByte`, in the same transaction as the redeemed count moves; a
 *   provider's read of a job's model is charged to the model's owner, the job's client.
 * - **Repair**: a provider that rebuilt a lost piece and keeps it (its order fetched K sources) is
 *   paid `repairFee` = K × pieceBytes × pricePerByte from the object's hold, the client charged the
 *   same; skipped (logged by the caller) when the hold has less left.
 * - **Release**: on `store rm` (after paying the epochs not closed yet) and after a term's last epoch, the
 *   unused rest of the hold goes back to the client's available escrow.
 */
import type { Kysely, Transaction } from 'kysely';
import type { RetrievalReceiptWire, StorageRequestWire } from '../../protocol/storageMessages.ts';
import { pieceEpochPay, repairFee, type StoragePricing } from '../../storage/storagePrice.ts';
import { accounts } from '../ledger/accounts.ts';
import { type Posting, postEntry } from '../ledger/postEntry.ts';
import { readBalances } from '../ledger/readBalances.ts';
import type { Database } from '../store/schema.ts';
import type { StorageDatabase } from './storageTables.ts';

type Ex = Kysely<StorageDatabase> | Transaction<StorageDatabase>;
const asLedger = (db: Ex) => db as unknown as Kysely<Database>;

/** The ledger key of one put of an object (an object removed and stored again is a new term). */
const termKey = (o: { object_id: string; created_at: number }) => `${o.object_id}:${o.created_at}`;

/** What is left of an object's term escrow. */
async function termLeft(db: Ex, objectId: string): Promise<bigint> {
  const account = accounts.storageTerm(objectId);
  return -((await readBalances(asLedger(db), { account })).get(account) ?? 0n);
}

/**
 * Holds a term's escrow at put (in the caller's transaction, with the object's row).
 *
 * @example await holdTerm(trx, { object_id, client, created_at }, escrow, epoch, Date.now());
 */
export async function holdTerm(
  trx: Ex,
  o: { object_id: string; client: string; created_at: number },
  amount: bigint,
  epoch: number,
  now: number,
  /** The put's price evidence and the client's signed put (pricePut.ts), for validators. */
  evidence?: { pricing: StoragePricing; owner?: StorageRequestWire },
): Promise<void> {
  if (amount <= 0n) return;
  await postEntry(
    asLedger(trx),
    {
      ref: `storage:hold:${termKey(o)}`,
      kind: 'storage-hold',
      epoch,
      memo: { client: o.client, objectId: o.object_id, ...evidence },
      postings: [
        { account: accounts.clientStorageEscrow(o.client), amount },
        { account: accounts.storageTerm(o.object_id), amount: -amount },
      ],
    },
    now,
  );
}

/**
 * Pays the holders of one object for the proven part of `epoch` (proofs and faults in
 * `[from, to)`), charging its client from the hold. Returns what was paid.
 */
async function payObject(
  trx: Ex,
  o: StorageDatabase['storage_objects'],
  w: { epoch: number; from: number; to: number },
  now: number,
  /** The epoch the entry is posted in (a removal pays an ended, unclosed epoch in the current one). */
  postIn = w.epoch,
): Promise<bigint> {
  const price = BigInt(o.price_per_gib_epoch);
  const proofs = await trx
    .selectFrom('storage_proofs')
    .select(['segment', 'idx', 'root', 'holder', 'window', 'created_at'])
    .where('object_id', '=', o.object_id)
    .where('created_at', '>=', Math.max(w.from, o.created_at))
    .where('created_at', '<', w.to)
    .orderBy('id')
    .execute();
  const faults = await trx
    .selectFrom('storage_faults')
    .select(['segment', 'idx', 'provider'])
    .where('object_id', '=', o.object_id)
    .where('created_at', '>=', w.from)
    .where('created_at', '<', w.to)
    .execute();
  const faulted = new Set(faults.map((f) => `${f.segment}/${f.idx}/${f.provider}`));
  const sizes = new Map(
    (
      await trx
        .selectFrom('storage_pieces')
        .select(['segment', 'idx', 'piece_bytes'])
        .where('object_id', '=', o.object_id)
        .execute()
    ).map((p) => [`${p.segment}/${p.idx}`, p.piece_bytes]),
  );
  // The latest passed challenge of each piece in the epoch names who kept it.
  const latest = new Map<string, (typeof proofs)[number]>();
  for (const p of proofs) latest.set(`${p.segment}/${p.idx}`, p);
  let left = await termLeft(trx, o.object_id);
  const pieces: {
    segment: number;
    idx: number;
    root: string;
    holder: string;
    pieceBytes: number;
    window: number;
  }[] = [];
  const earned = new Map<string, bigint>();
  for (const [key, p] of [...latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const pieceBytes = sizes.get(key);
    if (pieceBytes === undefined || faulted.has(`${key}/${p.holder}`)) continue;
    const pay = pieceEpochPay(pieceBytes, price);
    if (pay <= 0n || pay > left) continue;
    left -= pay;
    pieces.push({
      segment: p.segment,
      idx: p.idx,
      root: p.root,
      holder: p.holder,
      pieceBytes,
      window: p.window,
    });
    earned.set(p.holder, (earned.get(p.holder) ?? 0n) + pay);
  }
  let total = 0n;
  for (const v of earned.values()) total += v;
  if (total === 0n) return 0n;
  const postings: Posting[] = [
    { account: accounts.clientUnsettled(o.client), amount: total },
    { account: accounts.clientStorageEscrow(o.client), amount: -total },
    { account: accounts.storageTerm(o.object_id), amount: total },
    ...[...earned].map(([h, v]) => ({ account: accounts.providerEarnings(h), amount: -v })),
  ];
  await postEntry(
    asLedger(trx),
    {
      ref: `storage:pay:${w.epoch}:${termKey(o)}`,
      kind: 'storage-payment',
      epoch: postIn,
      memo: { client: o.client, objectId: o.object_id, pricePerGiBEpoch: price.toString(), pieces },
      postings,
    },
    now,
  );
  return total;
}

/** Gives the unused rest of an object's hold back to its client's available escrow. */
async function releaseTerm(
  trx: Ex,
  o: StorageDatabase['storage_objects'],
  epoch: number,
  now: number,
): Promise<bigint> {
  const left = await termLeft(trx, o.object_id);
  if (left <= 0n) return 0n;
  await postEntry(
    asLedger(trx),
    {
      ref: `storage:release:${termKey(o)}`,
      kind: 'storage-release',
      epoch,
      memo: { client: o.client, objectId: o.object_id },
      postings: [
        { account: accounts.clientStorageEscrow(o.client), amount: -left },
        { account: accounts.storageTerm(o.object_id), amount: left },
      ],
    },
    now,
  );
  return left;
}

/**
 * Pays every stored object's holders for `epoch` (called just before the epoch closes, so the
 * entries are part of it); releases the rest of terms whose last epoch this is. Idempotent.
 *
 * @example await payStorageEpoch(db, { epoch: 4, from: startsAt, to: endsAt }, Date.now());
 */
export async function payStorageEpoch(
  db: Kysely<StorageDatabase>,
  w: { epoch: number; from: number; to: number },
  now: number,
): Promise<bigint> {
  const objects = await db
    .selectFrom('storage_objects')
    .selectAll()
    .where('status', 'not in', ['removed', 'failed'])
    .where('start_epoch', '<=', w.epoch)
    .execute();
  let total = 0n;
  for (const o of objects) {
    if (w.epoch >= o.start_epoch + o.epochs) continue;
    await db.transaction().execute(async (trx) => {
      total += await payObject(trx, o, w, now);
      if (w.epoch === o.start_epoch + o.epochs - 1) await releaseTerm(trx, o, w.epoch, now);
    });
  }
  return total;
}

/**
 * On `store rm`: pays the holders for the epochs not closed yet (`windows`: the current one so far,
 * and the one before when it has ended but not closed), posting in `epoch`, then releases the rest
 * of the hold (in the caller's transaction, with the object's removal). A payment the closing
 * epoch already posted has the same ref, so it is never made twice. Returns the refund.
 *
 * @example const refund = await settleRemoval(trx, row, [{ epoch, from: startsAt, to: now }], epoch, now);
 */
export async function settleRemoval(
  trx: Ex,
  o: StorageDatabase['storage_objects'],
  windows: readonly { epoch: number; from: number; to: number }[],
  epoch: number,
  now: number,
): Promise<bigint> {
  for (const w of windows)
    if (w.epoch >= o.start_epoch && w.epoch < o.start_epoch + o.epochs)
      await payObject(trx, o, w, now, epoch);
  return releaseTerm(trx, o, epoch, now);
}

/**
 * Pays the provider that rebuilt a lost piece (a repair order fulfilled), from the object's hold,
 * once per order (its ref). Returns the fee paid, 0 when the hold has less than the fee left.
 *
 * @example await payRepair(db, row, { orderId, segment: 0, idx: 3, root, repairer, pieceBytes, pricePerByte }, 4, now);
 */
export async function payRepair(
  db: Ex,
  o: StorageDatabase['storage_objects'],
  r: {
    orderId: string;
    segment: number;
    idx: number;
    root: string;
    repairer: string;
    pieceBytes: number;
    pricePerByte: bigint;
    /** Evidence for validators: the loss repaired (its fault) and the client's signed put. */
    lost?: Record<string, unknown> | undefined;
    owner?: unknown;
  },
  epoch: number,
  now: number,
): Promise<bigint> {
  const fee = repairFee(r.pieceBytes, o.data_pieces, r.pricePerByte);
  if (fee <= 0n || fee > (await termLeft(db, o.object_id))) return 0n;
  const repairer = r.repairer.toLowerCase();
  await postEntry(
    asLedger(db),
    {
      ref: `storage:repair:${r.orderId}`,
      kind: 'storage-repair',
      epoch,
      memo: {
        client: o.client,
        objectId: o.object_id,
        segment: r.segment,
        idx: r.idx,
        root: r.root,
        repairer,
        pieceBytes: r.pieceBytes,
        dataPieces: o.data_pieces,
        pricePerByte: r.pricePerByte.toString(),
        ...(r.lost ? { lost: r.lost } : {}),
        ...(r.owner ? { owner: r.owner } : {}),
      },
      postings: [
        { account: accounts.clientUnsettled(o.client), amount: fee },
        { account: accounts.clientStorageEscrow(o.client), amount: -fee },
        { account: accounts.storageTerm(o.object_id), amount: fee },
        { account: accounts.providerEarnings(repairer), amount: -fee },
      ],
    },
    now,
  );
  return fee;
}

/**
 * Posts an accepted retrieval receipt: the reader is charged and the server paid `amount` (in
 * the caller's transaction, with the redeemed count's update).
 *
 * @example await postRetrieval(trx, { receipt, fromBytes: 0n, pricePerByte, amount, epoch }, now);
 */
export async function postRetrieval(
  trx: Ex,
  r: {
    receipt: RetrievalReceiptWire;
    fromBytes: bigint;
    pricePerByte: bigint;
    amount: bigint;
    epoch: number;
    /**
     * Who pays when not the reader: the model's owner, for a provider reading it for a task of the
     * owner's job (jobReads.ts), or a repairer reading the sources of its order (repairOrders.ts).
     */
    payer?: string;
    /** Why the owner pays (`job-model` when absent) and its signed put of the object (evidence). */
    readFor?: 'job-model' | 'repair';
    owner?: unknown;
  },
  now: number,
): Promise<void> {
  if (r.amount <= 0n) return;
  const m = r.receipt;
  const object = m.objectId.slice(2).toLowerCase();
  const reader = m.reader.toLowerCase();
  const payer = (r.payer ?? reader).toLowerCase();
  // A repair's source reads are part of keeping the object: paid from its term's hold (which
  // reserves a repair round) while the hold covers them, from the owner's balance only after.
  const fromHold = payer !== reader && r.readFor === 'repair' && r.amount <= (await termLeft(trx, object));
  const forJob =
    payer !== reader
      ? {
          payer,
          readFor: r.readFor ?? 'job-model',
          ...(r.owner ? { owner: r.owner } : {}),
          ...(fromHold ? { fromHold: true } : {}),
        }
      : {};
  await postEntry(
    asLedger(trx),
    {
      ref: `storage:receipt:${m.reader.toLowerCase()}:${m.server.toLowerCase()}:${object}:${m.cumulativeBytes}`,
      kind: 'storage-retrieval',
      epoch: r.epoch,
      memo: {
        receipt: m,
        fromBytes: r.fromBytes.toString(),
        pricePerByte: r.pricePerByte.toString(),
        ...forJob,
      },
      postings: [
        { account: accounts.clientUnsettled(payer), amount: r.amount },
        { account: accounts.providerEarnings(m.server), amount: -r.amount },
        ...(fromHold
          ? [
              { account: accounts.clientStorageEscrow(payer), amount: -r.amount },
              { account: accounts.storageTerm(object), amount: r.amount },
            ]
          : []),
      ],
    },
    now,
  );
}

/**
 * The latest receipt `reader` signed for each server of `objectId` that was paid (from the
 * ledger's retrieval entries): a reader that lost its own count (a new process) continues from
 * these, checking its own signature first, so its next receipts are not refused as replayed.
 *
 * @example const receipts = await paidReceipts(db, '0xreader…', 'ab…'); // one per server
 */
export async function paidReceipts(
  db: Kysely<Database>,
  reader: string,
  objectId: string,
): Promise<RetrievalReceiptWire[]> {
  const rows = await db
    .selectFrom('ledger_entries')
    .select('memo')
    .where('kind', '=', 'storage-retrieval')
    .where('ref', 'like', `storage:receipt:${reader.toLowerCase()}:%:${objectId.toLowerCase()}:%`)
    .execute();
  const latest = new Map<string, RetrievalReceiptWire>();
  for (const r of rows) {
    const receipt = (JSON.parse(r.memo) as { receipt: RetrievalReceiptWire }).receipt;
    const key = receipt.server.toLowerCase();
    const had = latest.get(key);
    if (!had || BigInt(receipt.cumulativeBytes) > BigInt(had.cumulativeBytes)) latest.set(key, receipt);
  }
  return [...latest.values()];
}
