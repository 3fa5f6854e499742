/**
 * The compact form of an epoch's facts inside an evidence bundle (version 3, docs/validators.md
 * "Evidence size"). Nothing is dropped that cannot be recomputed, and no signature is dropped:
 *
 * - charged executions and audit draws, the bulk of a busy epoch, are rows (arrays in a fixed
 *   column order) instead of objects, so field names are not repeated per execution;
 * - addresses and job ids they refer to are indices into one `parties` list;
 * - lowercase hex strings (ids, content ids, digests, signatures) are written as base64url behind a
 *   one-character tag (`~` for 0x-hex, `!` for bare hex): 65 signature bytes take 88 characters
 *   instead of 132;
 * - a charge's `ref` (`exec:<assignmentId>`), `charge` (units × unit price / 1000), `fee` and
 *   `providerAmount` are what the market's own pricing gives, so they are recomputed on reading;
 *   a coordinator whose ledger posted other amounts is refused by the validator's balance check.
 *
 * `unpackFacts(packFacts(f))` equals `f` for every honest coordinator's facts. Pure, like evidence.ts.
 */
import { PROTOCOL_FEE_BPS } from '../market/constants.ts';
import type { AuditDraw, AuditFacts, ChargeFact, EpochFacts } from './epochFacts.ts';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

function hexToB64(hex: string): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < hex.length; i += 2) {
    acc = (acc << 8) | Number.parseInt(hex.slice(i, i + 2), 16);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += B64[(acc >> bits) & 63];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B64[(acc << (6 - bits)) & 63];
  return out;
}

function b64ToHex(b64: string): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const c of b64) {
    const v = B64_INDEX.get(c);
    if (v === undefined) throw new Error(`evidence: bad base64url character ${JSON.stringify(c)}`);
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += ((acc >> bits) & 255).toString(16).padStart(2, '0');
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/**
 * A string in its compact form: lowercase hex as tagged base64url, anything else as it is (tagged
 * `\` when it starts with a tag character).
 *
 * @example
 * packString('0xabcd'); // '~q80'
 */
export function packString(v: string): string {
  if (/^0x(?:[0-9a-f]{2})+$/.test(v)) return `~${hexToB64(v.slice(2))}`;
  if (/^(?:[0-9a-f]{2}){16,}$/.test(v)) return `!${hexToB64(v)}`;
  return /^[~!\\]/.test(v) ? `\\${v}` : v;
}

/**
 * The inverse of {@link packString}.
 *
 * @example
 * unpackString('~q80'); // '0xabcd'
 */
export function unpackString(v: string): string {
  if (v.startsWith('~')) return `0x${b64ToHex(v.slice(1))}`;
  if (v.startsWith('!')) return b64ToHex(v.slice(1));
  return v.startsWith('\\') ? v.slice(1) : v;
}

/** A charge row: the columns in order. */
type ChargeRow = [
  assignmentId: string,
  taskId: string,
  job: number | string,
  provider: number | string,
  cls: string,
  unitsMilli: string,
  unitPrice: string,
  outputCid: string,
  wallMs: number,
  cpuMs: number,
  peakRssBytes: number,
  issuedAt: number,
  signature: string,
  /** A render region audit's pixels and its task's (ChargeFact `region`), absent otherwise. */
  regionPixels?: number,
  taskPixels?: number,
];
/** A draw row; the economics are null for a draw recorded before they were. */
type DrawRow = [
  taskId: string,
  provider: number | string,
  epoch: number,
  rate: number,
  draw: number,
  audited: 0 | 1,
  otherOnline: 0 | 1,
  reward: string | null,
  honestCost: string | null,
  slashable: string | null,
];

/**
 * The facts as a bundle of version 3 carries them.
 *
 * @example
 * const packed = packFacts(facts); // canonicalJson(packed) is the bundle's `facts`
 */
export type PackedFacts = Omit<EpochFacts, 'charges' | 'draws' | 'audits'> & {
  parties: string[];
  charges: ChargeRow[];
  draws?: DrawRow[];
  audits: {
    commitment: AuditFacts['commitment'];
    reveals: { epoch: number; seed: string; draws: DrawRow[] }[];
  };
};

/**
 * Packs facts for the bundle (see the module comment).
 *
 * @example
 * const bundle = { version: 3, …, facts: packFacts(facts) };
 */
export function packFacts(f: EpochFacts): PackedFacts {
  const parties: string[] = [];
  const index = new Map<string, number>();
  const party = (v: string): number => {
    let i = index.get(v);
    if (i === undefined) {
      i = parties.length;
      parties.push(v);
      index.set(v, i);
    }
    return i;
  };
  const drawRow = (d: AuditDraw): DrawRow => [
    packString(d.taskId),
    party(d.provider),
    d.epoch,
    d.rate,
    d.draw,
    d.audited ? 1 : 0,
    d.otherOnline ? 1 : 0,
    d.economics?.reward ?? null,
    d.economics?.honestCost ?? null,
    d.economics?.slashable ?? null,
  ];
  const charges = f.charges.map(
    (c): ChargeRow => [
      packString(c.assignmentId),
      packString(c.taskId),
      party(c.jobId),
      party(c.provider),
      c.class,
      c.unitsMilli,
      c.unitPrice,
      packString(c.result.outputCid),
      c.result.usage.wallMs,
      c.result.usage.cpuMs,
      c.result.usage.peakRssBytes,
      c.result.issuedAt,
      packString(c.result.signature),
      ...((c.region ? [c.region.pixels, c.region.taskPixels] : []) as [number, number] | []),
    ],
  );
  const { draws, audits, charges: _charges, ...rest } = f;
  return {
    ...rest,
    charges,
    ...(draws ? { draws: draws.map(drawRow) } : {}),
    audits: {
      commitment: audits.commitment,
      reveals: audits.reveals.map((r) => ({ epoch: r.epoch, seed: r.seed, draws: r.draws.map(drawRow) })),
    },
    parties,
  };
}

/**
 * What an execution of `unitsMilli` at `unitPrice` charges, the protocol's fee and the provider's
 * share, as the market prices it (decimal strings): what a packed charge leaves out.
 *
 * @example
 * executionAmounts('13', '1000'); // { charge: '13', fee: '0', providerAmount: '13' }
 */
export function executionAmounts(
  unitsMilli: string,
  unitPrice: string,
): { charge: string; fee: string; providerAmount: string } {
  const charge = (BigInt(unitsMilli) * BigInt(unitPrice)) / 1000n;
  const fee = (charge * PROTOCOL_FEE_BPS) / 10_000n;
  return { charge: charge.toString(), fee: fee.toString(), providerAmount: (charge - fee).toString() };
}

/**
 * Unpacks a bundle's facts, recomputing the derived amounts (throws on a malformed row).
 *
 * @example
 * const facts = unpackFacts(raw.facts as PackedFacts);
 */
export function unpackFacts(p: PackedFacts): EpochFacts {
  if (!Array.isArray(p.parties) || !Array.isArray(p.charges) || !Array.isArray(p.draws ?? []))
    throw new Error('evidence facts are not packed rows');
  const party = (v: number | string): string => {
    if (typeof v === 'string') return v;
    const s = p.parties[v];
    if (s === undefined) throw new Error(`evidence: no party ${v}`);
    return s;
  };
  const draw = (r: DrawRow): AuditDraw => {
    const [taskId, provider, epoch, rate, value, audited, otherOnline, reward, honestCost, slashable] = r;
    return {
      taskId: unpackString(taskId),
      provider: party(provider),
      epoch,
      rate,
      draw: value,
      audited: audited === 1,
      otherOnline: otherOnline === 1,
      ...(reward !== null && honestCost !== null && slashable !== null
        ? { economics: { reward, honestCost, slashable } }
        : {}),
    };
  };
  const charges = p.charges.map((r): ChargeFact => {
    const [
      aid,
      taskId,
      job,
      provider,
      cls,
      unitsMilli,
      unitPrice,
      cid,
      wallMs,
      cpuMs,
      peakRssBytes,
      issuedAt,
      sig,
      regionPixels,
      taskPixels,
    ] = r;
    const assignmentId = unpackString(aid) as ChargeFact['assignmentId'];
    return {
      ref: `exec:${assignmentId}`,
      jobId: party(job) as ChargeFact['jobId'],
      taskId: unpackString(taskId) as ChargeFact['taskId'],
      assignmentId,
      provider: party(provider) as ChargeFact['provider'],
      class: cls,
      unitsMilli,
      unitPrice,
      ...executionAmounts(unitsMilli, unitPrice),
      result: {
        outputCid: unpackString(cid),
        usage: { wallMs, cpuMs, peakRssBytes },
        issuedAt,
        signature: unpackString(sig) as ChargeFact['result']['signature'],
      },
      ...(typeof regionPixels === 'number' && typeof taskPixels === 'number'
        ? { region: { pixels: regionPixels, taskPixels } }
        : {}),
    };
  });
  const { parties: _parties, charges: _c, draws, audits, ...rest } = p;
  return {
    ...rest,
    charges,
    ...(draws ? { draws: draws.map(draw) } : {}),
    audits: {
      commitment: audits.commitment,
      reveals: audits.reveals.map((r) => ({ epoch: r.epoch, seed: r.seed, draws: r.draws.map(draw) })),
    },
  };
}
