/**
 * Lease salts in the evidence (version 11, docs/validators.md "Which task a provider signed
 * over"): every lease id made since migration 0066 is keccak256(abi.encode(taskId, provider,
 * salt)) (protocol/taskRef.ts `boundLeaseId`). The salt stays in the store until the epoch's
 * bundle cites the lease; the bundle then publishes it, so a validator can check that the
 * statement a provider signed over the opaque id was about the task the bundle says.
 */
import type { Transaction } from 'kysely';
import type { Hex } from 'viem';
import type { Database } from '../store/schema.ts';
import { packString, unpackString } from './compactFacts.ts';
import type { ChargeFact, EpochFacts } from './epochFacts.ts';

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
/** Members that name a lease in the facts (charges, statements, canaries, ended leases, memos). */
const LEASE_KEYS = new Set(['assignmentId', 'lease', 'leaseId']);
/** Ids per `IN (…)` query. */
const CHUNK = 500;

/**
 * Every lease id `facts` cite, lowercase (any depth: memos and slash evidence included).
 *
 * @example
 * const ids = leaseIdsOf(facts); // Set { '0xab…', … }
 */
export function leaseIdsOf(facts: EpochFacts): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (LEASE_KEYS.has(k) && typeof x === 'string' && HEX32.test(x)) out.add(x.toLowerCase());
        else walk(x);
      }
  };
  walk(facts);
  return out;
}

/**
 * The salts of the leases `facts` cite that have one (task and canary leases, 0066).
 *
 * @example
 * facts.leaseSalts = await readLeaseSalts(trx, facts);
 */
export async function readLeaseSalts(
  trx: Transaction<Database>,
  facts: EpochFacts,
): Promise<Record<string, Hex>> {
  const ids = [...leaseIdsOf(facts)];
  const out: Record<string, Hex> = {};
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    for (const table of ['assignments', 'canary_assignments'] as const) {
      const rows = await trx
        .selectFrom(table)
        .select(['id', 'lease_salt'])
        .where('id', 'in', chunk)
        .where('lease_salt', 'is not', null)
        .execute();
      for (const r of rows) out[r.id.toLowerCase()] = (r.lease_salt as string).toLowerCase() as Hex;
    }
  }
  return out;
}

type Json = (number | string)[][];

/**
 * Packs the salts: a charge's lease by its charge row, `[row, salt]` in charge order, then the
 * other leases `[id, salt]` by id; hex as base64url.
 *
 * @example
 * facts.salts = packLeaseSalts(f.leaseSalts ?? {}, f.charges);
 */
export function packLeaseSalts(salts: Record<string, Hex>, charges: readonly ChargeFact[]): Json {
  const rows: Json = [];
  const byCharge = new Set<string>();
  for (const [i, c] of charges.entries()) {
    const id = c.assignmentId.toLowerCase();
    const salt = salts[id];
    if (salt === undefined || byCharge.has(id)) continue;
    byCharge.add(id);
    rows.push([i, packString(salt)]);
  }
  for (const id of Object.keys(salts).sort())
    if (!byCharge.has(id)) rows.push([packString(id), packString(salts[id] as string)]);
  return rows;
}

/**
 * The inverse of {@link packLeaseSalts}; throws on a malformed row.
 *
 * @example
 * const leaseSalts = unpackLeaseSalts(f.salts, charges);
 */
export function unpackLeaseSalts(raw: unknown, charges: readonly ChargeFact[]): Record<string, Hex> {
  const rows = raw ?? [];
  if (!Array.isArray(rows)) throw new Error('evidence: salts are not rows');
  const out: Record<string, Hex> = {};
  for (const r of rows) {
    if (!Array.isArray(r) || r.length !== 2 || typeof r[1] !== 'string')
      throw new Error('evidence: a salt row is not [lease, salt]');
    const [lease, salt] = r as [unknown, string];
    const id =
      typeof lease === 'number'
        ? charges[lease]?.assignmentId.toLowerCase()
        : typeof lease === 'string'
          ? unpackString(lease).toLowerCase()
          : undefined;
    if (id === undefined) throw new Error(`evidence: salt row names no lease (${String(lease)})`);
    out[id] = unpackString(salt).toLowerCase() as Hex;
  }
  return out;
}
