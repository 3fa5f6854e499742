/**
 * Paid datasets (docs/sensors.md): a client signs a query; the coordinator counts the matching
 * readings, prices them (readings × price per reading), checks the client signed a high enough
 * maxCost and that its escrow covers the cost (the same admission lock as jobs), and posts the
 * charge to the ledger — the client's unsettled balance, which the next epoch collects from escrow,
 * against the owners of the devices whose readings were sold (by reading count) and the fee.
 */
import { type Kysely, sql } from 'kysely';
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import { accounts } from '../../coordinator/ledger/accounts.ts';
import { postEntry } from '../../coordinator/ledger/postEntry.ts';
import type { Market } from '../../coordinator/market/createMarket.ts';
import { inTransaction } from '../../coordinator/store/inTransaction.ts';
import type { Database } from '../../coordinator/store/schema.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { DATASET_FEE_BPS, MAX_DATASET_READINGS } from '../constants.ts';
import { verifySensorMessage } from '../identity/sensorMessages.ts';
import { type DatasetQuery, datasetQueryHash } from '../protocol.ts';
import { splitExact } from '../rewards/splitExact.ts';
import { type DatasetRow, toCsv, toParquet } from './encodeDataset.ts';

const DAY = 86_400_000;

export type DatasetSale = {
  purchaseId: Hex;
  readings: number;
  cost: bigint;
  contentType: string;
  body: string | Buffer;
};

export type DatasetSeller = {
  sell(
    query: DatasetQuery,
    auth: { client: Address; nonce: string; maxCost: string; issuedAt: number; signature: Hex },
  ): Promise<DatasetSale>;
};

/**
 * Builds the dataset seller.
 *
 * @example
 * const seller = createDatasetSeller({ db, market, chainId: 31337, pricePerReading: 10n ** 12n });
 */
export function createDatasetSeller(deps: {
  db: Kysely<Database>;
  market: Market;
  chainId: number;
  pricePerReading: bigint;
  now?: () => number;
}): DatasetSeller {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  return {
    async sell(query, auth) {
      await verifySensorMessage({
        chainId: deps.chainId,
        primaryType: 'DatasetRequest',
        message: {
          client: auth.client,
          queryHash: datasetQueryHash(query),
          nonce: BigInt(auth.nonce),
          maxCost: BigInt(auth.maxCost),
          issuedAt: BigInt(auth.issuedAt),
        },
        signature: auth.signature,
        expectedSigner: auth.client,
        nowSec: Math.floor(now() / 1000),
      });
      const client = auth.client.toLowerCase();
      const used = await db
        .selectFrom('sensor_purchases')
        .select('id')
        .where('client', '=', client)
        .where('nonce', '=', auth.nonce)
        .executeTakeFirst();
      if (used) throw new PlexusError('PLX_REPLAY', `nonce ${auth.nonce} was already used`);
      // The nonce is spent before any work, refusals included: one signed request is answered once
      // (security review: a refused request, replayed, made the coordinator scan every time).
      await spendNonce(db, client, auth.nonce, now());
      // Counted first, bounded by what the client could pay (its signed maxCost and, with a chain,
      // its available escrow): a client that can pay for nothing makes the store count one row.
      const maxCost = BigInt(auth.maxCost);
      let budget = maxCost;
      if (deps.market.escrowChecked) {
        const { available } = await deps.market.availableEscrow(auth.client);
        if (available < budget) budget = available < 0n ? 0n : available;
      }
      const affordable =
        deps.pricePerReading > 0n ? budget / deps.pricePerReading : BigInt(MAX_DATASET_READINGS);
      const bound = Number(
        affordable < BigInt(MAX_DATASET_READINGS) ? affordable : BigInt(MAX_DATASET_READINGS),
      );
      const counted = await countReadings(db, query, bound + 1);
      if (counted > MAX_DATASET_READINGS)
        throw new PlexusError(
          'PLX_SENSOR_DATASET_TOO_LARGE',
          `the query matches more than ${MAX_DATASET_READINGS} readings`,
        );
      const atLeast = BigInt(counted) * deps.pricePerReading;
      if (atLeast > maxCost)
        throw new PlexusError(
          'PLX_SENSOR_COST_ABOVE_MAX',
          `the dataset costs ${counted > bound ? 'at least ' : ''}${atLeast}, above maxCost ${auth.maxCost}`,
          {
            details: {
              cost: atLeast.toString(),
              readings: counted,
              pricePerReading: deps.pricePerReading.toString(),
            },
          },
        );
      if (counted > bound)
        throw new PlexusError(
          'PLX_INSUFFICIENT_ESCROW',
          `available escrow ${budget} is below the dataset's cost`,
          {
            details: { available: budget.toString(), required: atLeast.toString() },
          },
        );
      // Loaded in pages, yielding between them, only once the client is known to be able to pay.
      const rows = await loadReadings(db, query, counted);
      const cost = BigInt(rows.length) * deps.pricePerReading;
      const purchaseId = keccak256(toBytes(`dataset:${client}:${auth.nonce}`));
      // Revenue to the owners of the devices sold, by reading count; the protocol keeps its fee.
      const byDevice = new Map<string, bigint>();
      for (const r of rows) byDevice.set(r.device, (byDevice.get(r.device) ?? 0n) + 1n);
      const owners = new Map(
        byDevice.size === 0
          ? []
          : (
              await db
                .selectFrom('sensor_devices')
                .select(['address', 'owner'])
                .where('address', 'in', [...byDevice.keys()])
                .execute()
            ).map((d) => [d.address, d.owner]),
      );
      const byOwner = new Map<string, bigint>();
      for (const [d, n] of byDevice) {
        const o = owners.get(d)!;
        byOwner.set(o, (byOwner.get(o) ?? 0n) + n);
      }
      const fee = (cost * DATASET_FEE_BPS) / 10_000n;
      const shares = splitExact(cost - fee, byOwner);
      const t = now();
      try {
        await deps.market.admitCharge(auth.client, cost, (given) =>
          inTransaction(db, given, async (trx) => {
            await trx
              .insertInto('sensor_purchases')
              .values({
                id: purchaseId,
                client,
                nonce: auth.nonce,
                query: JSON.stringify(query),
                readings: rows.length,
                amount: cost.toString(),
                created_at: t,
                auth: JSON.stringify({
                  maxCost: auth.maxCost,
                  issuedAt: auth.issuedAt,
                  signature: auth.signature,
                }),
                owners: JSON.stringify(Object.fromEntries([...byOwner].map(([o, n]) => [o, n.toString()]))),
              })
              .execute();
            if (cost === 0n) return;
            await postEntry(
              trx,
              {
                ref: `dataset:${purchaseId}`,
                kind: 'dataset-charge',
                epoch: await deps.market.currentEpoch(trx, t),
                memo: {
                  purchase: purchaseId,
                  readings: rows.length,
                  pricePerReading: deps.pricePerReading.toString(),
                },
                postings: [
                  { account: accounts.clientUnsettled(client), amount: cost },
                  ...[...shares].map(([o, v]) => ({ account: accounts.providerEarnings(o), amount: -v })),
                  ...(fee > 0n ? [{ account: accounts.protocolFees, amount: -fee }] : []),
                ],
              },
              t,
            );
          }),
        );
      } catch (err) {
        if (String(err).includes('UNIQUE'))
          throw new PlexusError('PLX_REPLAY', `nonce ${auth.nonce} was already used`);
        throw err;
      }
      return query.format === 'parquet'
        ? {
            purchaseId,
            readings: rows.length,
            cost,
            contentType: 'application/vnd.apache.parquet',
            body: toParquet(rows),
          }
        : {
            purchaseId,
            readings: rows.length,
            cost,
            contentType: 'text/csv; charset=utf-8',
            body: toCsv(rows),
          };
    },
  };
}

/** Rows per page when a dataset is loaded: each page is one short synchronous query. */
const PAGE_ROWS = 20_000;

/** The WHERE clause of a dataset query over `sensor_devices d`, `sensor_readings r`, `sensor_scores s`. */
function matching(q: DatasetQuery) {
  const [minLon, minLat, maxLon, maxLat] = q.bbox.split(',').map(Number) as [number, number, number, number];
  const variables = q.variables.split(',');
  return sql`
    FROM sensor_devices d
    JOIN sensor_readings r ON r.device = d.address
    LEFT JOIN sensor_scores s ON s.device = r.device AND s.kind = 'day' AND s.window_start = (r.t / ${sql.lit(DAY)}) * ${sql.lit(DAY)}
    WHERE d.lat >= ${minLat} AND d.lat <= ${maxLat} AND d.lon >= ${minLon} AND d.lon <= ${maxLon}
      AND r.variable IN (${sql.join(variables)}) AND r.t >= ${q.from} AND r.t < ${q.to}
      AND (${q.minQuality} = 0 OR s.score >= ${q.minQuality})`;
}

/**
 * How many readings a query matches, counting at most `limit` (so the caller learns "more than it
 * can pay for" without the store scanning the rest).
 *
 * @example const n = await countReadings(db, query, 1001); // 1001: more than 1,000
 */
export async function countReadings(db: Kysely<Database>, q: DatasetQuery, limit: number): Promise<number> {
  const r = await sql<{
    n: number | string;
  }>`SELECT COUNT(*) AS n FROM (SELECT 1 ${matching(q)} LIMIT ${limit}) x`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * The readings a query matches (at most `limit`), in pages of {@link PAGE_ROWS} (keyed on device,
 * variable, time; the event loop runs between pages), with each device's claimed position and the
 * device-day score.
 *
 * @example const rows = await loadReadings(db, { bbox: '4,52,5,53', from, to, variables: 'temperature', minQuality: 0.5, format: 'csv' }, 1000);
 */
export async function loadReadings(
  db: Kysely<Database>,
  q: DatasetQuery,
  limit: number,
): Promise<DatasetRow[]> {
  const out: DatasetRow[] = [];
  let last: DatasetRow | undefined;
  while (out.length < limit) {
    const after = last
      ? sql`AND (r.device > ${last.device} OR (r.device = ${last.device} AND (r.variable > ${last.variable} OR (r.variable = ${last.variable} AND r.t > ${last.t}))))`
      : sql``;
    const page = await sql<DatasetRow>`
      SELECT r.device AS device, d.lat AS lat, d.lon AS lon, r.variable AS variable, r.t AS t, r.value AS value,
             r.flag AS flag, s.score AS quality
      ${matching(q)} ${after}
      ORDER BY r.device, r.variable, r.t
      LIMIT ${Math.min(PAGE_ROWS, limit - out.length)}`.execute(db);
    for (const r of page.rows) out.push(r);
    if (page.rows.length < PAGE_ROWS) break;
    last = out[out.length - 1];
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/**
 * Records a dataset request's (client, nonce) as used; PLX_REPLAY if it was already.
 *
 * @example await spendNonce(db, '0xabc…', '7', Date.now());
 */
async function spendNonce(db: Kysely<Database>, client: string, nonce: string, t: number): Promise<void> {
  try {
    // Not in schema.ts's Database type (that file is at its size limit): the table is 0041's.
    await sql`INSERT INTO sensor_request_nonces (client, nonce, created_at) VALUES (${client}, ${nonce}, ${t})`.execute(
      db,
    );
  } catch (err) {
    if (/UNIQUE|duplicate key/i.test(String(err)))
      throw new PlexusError('PLX_REPLAY', `nonce ${nonce} was already used`);
    throw err;
  }
}
