/**
 * The evidence bundle of an epoch (docs/validators.md): the inputs `computeEpoch` ran on, in the
 * order the store returned them, chained to the previous epoch's bundle by hash, serialised as
 * canonical JSON (keys sorted, bigints as decimal strings, no whitespace) and addressed by its
 * sha256. The hash is part of the FinalizeEpoch payload validators sign and EpochSettlement
 * stores, so a finalized epoch names exactly the facts it was computed from.
 *
 * Pure: no store, no chain, no Node APIs — the validator imports it beside epochComputation.ts.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { type Address, type Hex, zeroHash } from 'viem';
import { packBundle, unpackBundle } from './compactBundle.ts';
import { type PackedFacts, packFacts, unpackFacts } from './compactFacts.ts';
import type { EpochInputs } from './epochComputation.ts';
import type { EpochFacts } from './epochFacts.ts';

/**
 * Format version of the bundle; a validator refuses a version it does not know. 2: the signed
 * facts (epochFacts.ts) beside the inputs; 3: the facts packed (compactFacts.ts: executions and
 * draws as rows, hex as base64url, derived amounts left out); 4: inputs and facts packed together
 * over one list of parties (compactBundle.ts: task ids recomputed from their job, times relative
 * to the epoch's start, revealed draws by reference, empty lists left out); 5: the same, shorter
 * (output cids as parties, tables of distinct amounts and hardware claims, times after the epoch's
 * start); 6: the task leases ended since the previous bundle, each once (`facts.endedLeases`,
 * docs/validators.md "Ended leases"); 7: a reinstatement carries its review's signed checks, and
 * a bundle the signed results on the tasks it pays that it does not pay (docs/validators.md
 * "Reinstatements", "Results neither paid nor faulted"); 8: a storage put's hold carries the
 * offers, floor and price it was priced with and the client's signed put (docs/validators.md
 * "Storage price"; the same packing as 7); 9: a charge priced at an earlier epoch's base price
 * names that epoch (`priceEpoch`, packed as `priceLags`) and the unit price is re-derived exactly
 * (docs/validators.md "Unit price"); a journal entry names its task and a canary miss carries what
 * decided fault or hold ("Journal task ids", "Canary holds"); 10: `inputs.faulted` lists every provider the bundle
 * slashes or journals a fault of within the epoch (settlement/bundleFaults.ts, docs/validators.md
 * "Emission and faults"), the close time is stamped under the epoch-close lock billing takes
 * (market/epochCloseLock.ts), so a charge priced at an earlier epoch came before its close exactly
 * ("Unit price"), and every review check carries what its checker was drawn on
 * (`ReviewCheckBasis`, "Review checkers"; the same packing as 9); 11: the salt of every lease the
 * bundle cites that has one (`facts.leaseSalts`, packed as `salts`, leaseSalts.ts), each lease id
 * being keccak256(abi.encode(taskId, provider, salt)) (docs/validators.md "Which task a provider
 * signed over"); 12: every review check's basis also records the review its draw was keyed by,
 * when it opened, and every provider online drawn lower than the checker with why it did not hold
 * the check (`ReviewCheckBasis.lower`, work/checkerDraw.ts), so a validator re-derives that the
 * checker is the one the seed picks (docs/validators.md "Review checkers"; the same packing as
 * 11), and the capability proof of every provider whose proven capacity can weigh in emission,
 * with its provider-signed answer and measured duration (`facts.capabilityProofs`, packed as
 * `capProofs`, capabilityEvidence.ts; docs/validators.md "Proven capacity"). Versions 2 to 11 are still read (and 3 to 11 written on request: the baselines).
 */
export const EVIDENCE_VERSION = 12;

/**
 * An epoch's evidence bundle.
 *
 * @example
 * const b: EvidenceBundle = { version: 2, epoch: 4, chainId: 31337, settlement, prevHash, inputs, facts };
 */
export type EvidenceBundle = {
  version: number;
  epoch: number;
  /** The chain and settlement contract the epoch settles on (the signature's domain). */
  chainId: number;
  settlement: Address;
  /** Hash of epoch − 1's bundle (the zero hash for the first epoch this coordinator closed). */
  prevHash: Hex;
  inputs: EpochInputs;
  /** What justifies the epoch's money: signed jobs and results, entries, slashes with evidence. */
  facts: EpochFacts;
};

/**
 * Canonical JSON: object keys sorted, bigints as decimal strings, `undefined` members dropped.
 * Applying it to its own parse gives the same text, which is what makes the hash checkable.
 *
 * @example
 * canonicalJson({ b: 1n, a: [2, { d: 'x', c: null }] }); // '{"a":[2,{"c":null,"d":"x"}],"b":"1"}'
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/**
 * sha256 of a bundle's bytes, as a 0x-prefixed bytes32.
 *
 * @example
 * const hash = evidenceHash(new TextEncoder().encode(text)); // '0x3f…'
 */
export function evidenceHash(bytes: Uint8Array): Hex {
  return `0x${bytesToHex(sha256(bytes))}`;
}

/**
 * Serialises a bundle canonically and hashes it.
 *
 * @example
 * const { text, hash } = encodeEvidence({ version: 2, epoch, chainId, settlement, prevHash, inputs, facts });
 */
export function encodeEvidence(bundle: EvidenceBundle): { text: string; hash: Hex } {
  const text = canonicalJson(
    bundle.version >= 4 && bundle.facts
      ? { ...bundle, ...packBundle(bundle.inputs, bundle.facts, bundle.version) }
      : bundle.version === 3
        ? { ...bundle, facts: packFacts(bundle.facts) }
        : bundle,
  );
  return { text, hash: evidenceHash(new TextEncoder().encode(text)) };
}

const big = (s: unknown): bigint => BigInt(s as string);

/**
 * Parses a bundle's text back into typed inputs (bigints restored) and checks it is canonical, so
 * two parties holding the same hash hold the same facts. Throws on anything else.
 *
 * @example
 * const { bundle, hash } = decodeEvidence(text); // computeEpoch(bundle.inputs, hash)
 */
export function decodeEvidence(text: string): { bundle: EvidenceBundle; hash: Hex } {
  const raw = JSON.parse(text) as EvidenceBundle & { inputs: Record<string, unknown> };
  if (canonicalJson(raw) !== text) throw new Error('evidence is not canonical JSON');
  if (![EVIDENCE_VERSION, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2].includes(raw.version))
    throw new Error(`unknown evidence version ${raw.version}`);
  if (raw.version >= 4) {
    const u = unpackBundle(raw.inputs, raw.facts, raw.version);
    raw.inputs = u.inputs as typeof raw.inputs;
    raw.facts = u.facts;
  }
  if (raw.version === 3) {
    if (!raw.facts || typeof raw.facts !== 'object') throw new Error('evidence has no facts');
    raw.facts = unpackFacts(raw.facts as unknown as PackedFacts);
  }
  const f = raw.facts as Partial<EpochFacts> | undefined;
  if (
    !f ||
    typeof f !== 'object' ||
    ![f.jobs, f.charges, f.entries, f.slashes, f.audits?.reveals].every(Array.isArray) ||
    typeof f.jobDomain?.chainId !== 'number'
  )
    throw new Error('evidence has no facts');
  const i = raw.inputs as Record<string, unknown>;
  const inputs: EpochInputs = {
    ...(raw.inputs as unknown as EpochInputs),
    emissionPerEpoch: big(i.emissionPerEpoch),
    sensorEmissionPerEpoch: big(i.sensorEmissionPerEpoch),
    unsettled: (i.unsettled as unknown as { client: Address; amount: string; escrow: string }[]).map((u) => ({
      client: u.client,
      amount: big(u.amount),
      escrow: big(u.escrow),
    })),
    slashRequests: (i.slashRequests as unknown as { id: number; provider: string; amount: string }[]).map(
      (s) => ({
        ...s,
        amount: big(s.amount),
      }),
    ),
    stakeHeld: (i.stakeHeld as unknown as { provider: string; held: string }[]).map((s) => ({
      ...s,
      held: big(s.held),
    })),
    providerBalances: (i.providerBalances as unknown as { account: string; balance: string }[]).map((b) => ({
      account: b.account,
      balance: big(b.balance),
    })),
    epochBalances: (i.epochBalances as unknown as { account: string; balance: string }[]).map((b) => ({
      account: b.account,
      balance: big(b.balance),
    })),
    prices: (i.prices as unknown as { class: string; basePrice: string }[]).map((p) => ({
      class: p.class,
      basePrice: big(p.basePrice),
    })),
  };
  const bundle = { ...raw, inputs };
  // Packing has choices (a task id written in full or as its job's index, say): only the packing
  // the encoder writes is accepted, so one set of facts has one hash and a coordinator cannot show
  // validators the same epoch under several hashes.
  if (raw.version >= 4 && encodeEvidence(bundle).text !== text)
    throw new Error('evidence is not in its canonical packing');
  return { bundle, hash: evidenceHash(new TextEncoder().encode(text)) };
}

/** The previous hash of the first bundle in a chain. */
export const GENESIS_EVIDENCE_HASH: Hex = zeroHash;
