/**
 * What earlier signed bundles already settled (docs/validators.md "Settled once"): a bundle's own
 * refs are unique within it (checkFacts.ts), and this check carries that across bundles (review s12,
 * F2/F4). A validator keeps, from every bundle it signs (or replays: bootstrapReplay.ts,
 * auditHistory.ts), the refs of the facts that move money once — each execution's charge
 * (`exec:<assignment>`), each dataset sale (`dataset:<keccak(client:nonce)>`), each repair order
 * (`storage:repair:<order>`), each redeemed receipt (`storage:receipt:…`) — the paid executions
 * per task, and the highest receipt count paid per (reader, server, object). A later bundle that
 * settles a kept ref again, pays a task more executions than its job's policy allows across
 * bundles, or pays a receipt from below the count already paid is refused, named.
 */

import { paidExecutionsPerTask } from '../coordinator/market/priceExecution.ts';
import type { EntryFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { policyOfSpec } from '../coordinator/verification/policy.ts';
import { jobSpecSchema } from '../protocol/schemas.ts';
import { receiptFromWire, retrievalReceiptSchema } from '../protocol/storageMessages.ts';
import { receiptKey } from '../storage/receipts.ts';
import type { FactDispute } from './checkFacts.ts';

/** What earlier signed bundles settled (each lookup: bundles of epochs before the one checked). */
export type SettledMemory = {
  /** Whether an earlier bundle settled this ref. */
  settled: (ref: string) => boolean;
  /** How many executions of this task earlier bundles paid. */
  executions: (taskId: string) => number;
  /** The highest cumulative count earlier bundles paid for this receipt key (reader/server/object). */
  receiptPaid: (key: string) => bigint | undefined;
};

/** What one bundle settled, to keep when it is signed. */
export type SettledFacts = {
  refs: string[];
  /** [task id, executions this bundle paid]. */
  executions: [string, number][];
  /** [receipt key, highest count this bundle paid]. */
  receipts: [string, string][];
};

/** Entry kinds settled once, by their ref. */
const ONCE_KINDS = new Set(['dataset-charge', 'storage-repair', 'storage-retrieval']);

/** A retrieval entry's receipt key and counts (undefined: malformed, refused by checkStorageFacts). */
function retrievalOf(e: EntryFact): { key: string; from: bigint; count: bigint } | undefined {
  const memo = (e.memo ?? {}) as Record<string, unknown>;
  const parsed = retrievalReceiptSchema.safeParse(memo.receipt);
  if (!parsed.success || !/^[0-9]+$/.test(String(memo.fromBytes))) return undefined;
  const m = receiptFromWire(parsed.data).message;
  return { key: receiptKey(m), from: BigInt(String(memo.fromBytes)), count: m.cumulativeBytes };
}

/**
 * Checks a bundle's facts against what earlier bundles settled (`memory`; none: only this bundle's
 * facts are kept) and returns what this bundle settles, or the first fact settled twice.
 *
 * @example
 * const s = checkSettled(bundle.facts, memory);
 * if ('fact' in s) refuse(s); else keepWhenSigned(s);
 */
export function checkSettled(facts: EpochFacts, memory?: SettledMemory): FactDispute | SettledFacts {
  const refs: string[] = [];
  const executions = new Map<string, number>();
  const receipts = new Map<string, bigint>();
  const limits = new Map<string, number>();
  for (const j of facts.jobs) {
    const spec = jobSpecSchema.safeParse(j.spec);
    if (spec.success) limits.set(j.jobId.toLowerCase(), paidExecutionsPerTask(policyOfSpec(spec.data)));
  }
  for (const c of facts.charges) {
    if (memory?.settled(c.ref))
      return {
        fact: `charge[${c.ref}].settled`,
        claimed: c.ref,
        recomputed: 'not settled by an earlier bundle',
      };
    refs.push(c.ref);
    const task = c.taskId.toLowerCase();
    const n = (executions.get(task) ?? 0) + 1;
    executions.set(task, n);
    const before = memory?.executions(task) ?? 0;
    const limit = limits.get(c.jobId.toLowerCase());
    if (limit !== undefined && before + n > limit)
      return {
        fact: `charge[${c.ref}].executions`,
        claimed: `${before} paid by earlier bundles + ${n}`,
        recomputed: `at most ${limit} paid executions per task`,
      };
  }
  for (const e of facts.entries) {
    if (!ONCE_KINDS.has(e.kind)) continue;
    if (memory?.settled(e.ref))
      return {
        fact: `entry[${e.ref}].settled`,
        claimed: e.ref,
        recomputed: 'not settled by an earlier bundle',
      };
    refs.push(e.ref);
    if (e.kind !== 'storage-retrieval') continue;
    const r = retrievalOf(e);
    if (!r) continue;
    // The first receipt of a key in this bundle starts at or above what earlier bundles paid (later
    // ones are held to this bundle's own count by checkStorageFacts.ts).
    const paid = receipts.get(r.key) ?? memory?.receiptPaid(r.key);
    if (paid !== undefined && r.from < paid)
      return {
        fact: `entry[${e.ref}].fromBytes`,
        claimed: String(r.from),
        recomputed: `at least ${paid} (paid already)`,
      };
    if (paid === undefined || r.count > paid) receipts.set(r.key, r.count);
  }
  return {
    refs,
    executions: [...executions],
    receipts: [...receipts].map(([k, v]) => [k, v.toString()]),
  };
}

/**
 * An in-memory keeper of settled facts, for a replay that holds no store (bootstrapReplay.ts,
 * auditHistory.ts, tests): `keep` a signed bundle's, `memory` to check the next.
 *
 * @example
 * const book = settledBook();
 * const v = await verifyEpoch({ …, settled: book.memory });
 * if (v.ok) book.keep(v.settled);
 */
export function settledBook(): { keep: (s: SettledFacts) => void; memory: SettledMemory } {
  const refs = new Set<string>();
  const executions = new Map<string, number>();
  const receipts = new Map<string, bigint>();
  return {
    keep(s) {
      for (const r of s.refs) refs.add(r.toLowerCase());
      for (const [t, n] of s.executions) executions.set(t, (executions.get(t) ?? 0) + n);
      for (const [k, v] of s.receipts) {
        const b = BigInt(v);
        if (b > (receipts.get(k) ?? -1n)) receipts.set(k, b);
      }
    },
    memory: {
      settled: (ref) => refs.has(ref.toLowerCase()),
      executions: (t) => executions.get(t.toLowerCase()) ?? 0,
      receiptPaid: (k) => receipts.get(k),
    },
  };
}
