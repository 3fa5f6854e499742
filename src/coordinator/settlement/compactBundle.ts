/**
 * The compact form of a version-4 evidence bundle (docs/validators.md, "Evidence size"): the
 * inputs and the facts packed together, over one list of `parties`. Everything a validator needs
 * is still written out — every signature, every fact, every input — only once and shorter:
 *
 * - one `parties` list for the whole bundle: addresses, job ids and task ids, each written once
 *   (as tagged base64url, compactFacts.ts `packString`) and referred to by index everywhere else;
 *   a task id that is `taskIdOf(jobId, i)` for an input `i` of its job's signed spec is written
 *   `@<job party>.<i>` and recomputed on reading (keccak256), so it is never stored at all;
 * - executions, draws, leases, sessions, providers and balances are rows in a fixed column order;
 *   lease and session times are ms after the epoch's start; a ledger account naming an address
 *   (`provider:0x…:earnings`) names its party (`provider:#2:earnings`);
 * - a draw's economics (reward, honest cost, slashable) are an index into a table of the distinct
 *   triples; a revealed draw that this bundle also publishes (`draws`) is the index of that row;
 * - the strings of a job's signed spec are packed like every other string (content ids as base64url),
 *   so the spec, and the hash its client signed, are restored exactly;
 * - empty lists are left out.
 *
 * Version 5 (docs/validators.md, "Evidence size") writes the same facts shorter again: an
 * execution's output cid is a party (agreeing executions share one); unit prices and unit rewards
 * point into a table of the distinct `amounts`; the times of journal entries and draw bases are ms
 * after the epoch's start and a result's `issuedAt` seconds after it; providers' hardware claims
 * point into a table of the distinct claims (`inputs.hardware`); the seed commitment and revealed
 * seeds are tagged base64url. Version 4 is still written on request (the benchmark's baseline) and read.
 * Version 6 adds the task leases ended since the previous bundle (`ended`, compactLeases.ts).
 *
 * `unpackBundle(packBundle(inputs, facts))` gives back the same inputs and facts (as JSON: bigints
 * as decimal strings, which evidence.ts restores). Pure, like evidence.ts: no store, no Node APIs.
 */
import type { Hex } from 'viem';
import { taskIdOf } from '../../protocol/ids.ts';
import { packCapabilityProofs, unpackCapabilityProofs } from './capabilityEvidence.ts';
import { executionAmounts, packString, unpackString } from './compactFacts.ts';
import {
  packEndedLeases,
  packUnpaidResults,
  unpackEndedLeases,
  unpackUnpaidResults,
} from './compactLeases.ts';
import type {
  AuditDraw,
  CanaryFact,
  ChargeFact,
  EpochFacts,
  JobFact,
  ReputationEntry,
  SensorBatchFact,
} from './epochFacts.ts';
import { packLeaseSalts, unpackLeaseSalts } from './leaseSalts.ts';

/** A job spec with more inputs than this gets no derived task ids (their keccaks cost the closing). */
const MAX_DERIVED_TASKS_PER_JOB = 65_536;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

/** `packString` for any JSON value: every string inside, keys kept. */
function packDeep(v: unknown): Json {
  if (typeof v === 'string') return packString(v);
  if (Array.isArray(v)) return v.map(packDeep);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, packDeep(x)])) as Json;
  return v as Json;
}
function unpackDeep(v: unknown): unknown {
  if (typeof v === 'string') return unpackString(v);
  if (Array.isArray(v)) return v.map(unpackDeep);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unpackDeep(x)]));
  return v;
}

/** Packs and unpacks ledger account names that embed an address. */
const ACCOUNT = /^([a-z]+):(0x[0-9a-f]{40}):([a-z-]+)$/;
const PACKED_ACCOUNT = /^([a-z]+):#(\d+):([a-z-]+)$/;

/** The bundle's parties: each string once, by index. */
function interner() {
  const list: string[] = [];
  const index = new Map<string, number>();
  const party = (v: string): number => {
    let i = index.get(v);
    if (i === undefined) {
      i = list.length;
      list.push(v);
      index.set(v, i);
    }
    return i;
  };
  return { list, party };
}

/**
 * A version-4 bundle's `facts` (its `inputs` sit beside them, packed over the same parties).
 *
 * @example
 * const { inputs, facts } = packBundle(bundle.inputs, bundle.facts);
 */
export function packBundle(inputs: unknown, f: EpochFacts, version = 5): { inputs: Json; facts: Json } {
  const { list, party } = interner();
  const v5 = version >= 5;
  // Version 5: distinct amounts (unit prices, unit rewards) by index; times after the epoch's start.
  const amounts = interner();
  const amount = (a: string): Json => (v5 ? amounts.party(a) : a);
  const t0 = (inputs as Obj).startsAt as number;
  const rel = (t: number): number => (v5 ? t - t0 : t);
  const relSec = (t: number): number => (v5 ? t - Math.floor(t0 / 1000) : t);
  // Task ids derivable from their job: `taskIdOf(jobId, i)` for the spec's inputs.
  const derived = new Map<string, { job: string; i: number }>();
  for (const j of f.jobs) {
    const n = (j.spec as { inputs?: unknown } | null)?.inputs;
    if (!Array.isArray(n) || n.length > MAX_DERIVED_TASKS_PER_JOB) continue;
    for (let i = 0; i < n.length; i++) derived.set(taskIdOf(j.jobId, i), { job: j.jobId, i });
  }
  const shown: string[] = [];
  const task = (id: string): number => {
    const d = derived.get(id);
    if (d) {
      const at = party(d.job);
      const before = list.length;
      const t = party(id);
      if (list.length > before) shown[t] = `@${at}.${d.i}`;
      return t;
    }
    return party(id);
  };
  const economics: [string, string, string][] = [];
  const econIndex = new Map<string, number>();
  const drawRow = (d: AuditDraw): Json[] => {
    let e: number | null = null;
    if (d.economics) {
      const key = `${d.economics.reward}/${d.economics.honestCost}/${d.economics.slashable}`;
      e = econIndex.get(key) ?? null;
      if (e === null) {
        e = economics.length;
        economics.push([d.economics.reward, d.economics.honestCost, d.economics.slashable]);
        econIndex.set(key, e);
      }
    }
    return [
      task(d.taskId),
      party(d.provider),
      d.epoch,
      d.rate,
      d.draw,
      d.audited ? 1 : 0,
      d.otherOnline ? 1 : 0,
      e,
      // What else the rate was computed with (0026): [at, unitReward, valueReward?]; absent before.
      // Version 5 adds a render value reward's size and frame: [..., valueUnits?, valueFrom task?].
      ...(d.basis
        ? [
            [
              rel(d.basis.at),
              amount(d.basis.unitReward),
              ...(d.basis.valueReward !== undefined ? [d.basis.valueReward] : []),
              ...(v5 && d.basis.valueReward !== undefined && d.basis.valueUnits !== undefined
                ? [d.basis.valueUnits, ...(d.basis.valueFrom !== undefined ? [task(d.basis.valueFrom)] : [])]
                : []),
            ],
          ]
        : []),
    ];
  };
  const jobs = f.jobs.map((j: JobFact) => ({
    ...j,
    jobId: party(j.jobId),
    client: party(j.client),
    signature: packString(j.signature),
    spec: packDeep(j.spec),
  }));
  const charges = f.charges.map((c: ChargeFact): Json[] => [
    packString(c.assignmentId),
    task(c.taskId),
    party(c.jobId),
    party(c.provider),
    c.class,
    c.unitsMilli,
    amount(c.unitPrice),
    v5 ? party(c.result.outputCid) : packString(c.result.outputCid),
    c.result.usage.wallMs,
    c.result.usage.cpuMs,
    c.result.usage.peakRssBytes,
    relSec(c.result.issuedAt),
    packString(c.result.signature),
    // The lease time billing was capped at, then a region (rows of 13, 14, 15 or 16 columns), then
    // the size cap fixed at lease time: the only string after column 13.
    ...(c.leaseMs !== undefined ? [c.leaseMs] : []),
    ...(c.region ? [c.region.pixels, c.region.taskPixels] : []),
    ...(c.sizeCapMilli !== undefined ? [c.sizeCapMilli] : []),
  ]);
  const draws = (f.draws ?? []).map(drawRow);
  const drawKeys = new Map(draws.map((r, i) => [JSON.stringify(r), i]));
  const reveals = f.audits.reveals.map((r) => ({
    epoch: r.epoch,
    seed: v5 ? packString(r.seed) : r.seed,
    draws: r.draws.map((d) => {
      const row = drawRow(d);
      return drawKeys.get(JSON.stringify(row)) ?? row;
    }),
  }));
  const facts: Obj = {
    jobDomain: f.jobDomain,
    audits: {
      commitment: v5
        ? { ...f.audits.commitment, commitment: packString(f.audits.commitment.commitment) }
        : f.audits.commitment,
      ...(reveals.length ? { reveals } : {}),
    },
    jobs,
    charges,
    draws,
    economics,
    // Slashes, entries, canaries, sensor batches (rare): as they are, their strings packed.
    entries: packDeep(f.entries),
    slashes: packDeep(f.slashes),
    canaries: packDeep(f.canaries ?? []),
    sensorBatches: packDeep(f.sensorBatches ?? []),
    // Reputation journal (0026): rows [provider, kind, at, detail?]; the detail (a reinstatement's
    // state before the fault and fault time, a starting state) as it is.
    // Version 9: the entry's task as a party, a fifth column (the detail 0 when there is none).
    reputation: (f.reputation ?? []).map((e: ReputationEntry): Json[] => {
      const { provider, kind, at, ...rest } = e;
      const { taskId, ...own } = rest;
      const detail = version >= 9 ? own : rest;
      const packed = Object.keys(detail).length ? [packDeep(detail as Json)] : [];
      const head = [party(provider), kind, rel(at)];
      if (version >= 9 && taskId !== undefined) return [...head, packed[0] ?? 0, task(taskId)];
      return [...head, ...packed];
    }),
  };
  if (v5) facts.amounts = amounts.list;
  // Version 6: every task lease ended since the previous bundle (compactLeases.ts).
  if (version >= 6) facts.ended = packEndedLeases(f.endedLeases ?? [], f.charges, { party, task, rel });
  // Version 7: results on paid tasks neither paid nor slashed, signed (compactLeases.ts).
  if (version >= 7) facts.unpaid = packUnpaidResults(f.unpaidResults ?? [], { party, task });
  // Version 9: the charges priced at an earlier epoch's price, [row, epoch − price epoch] (rare).
  if (version >= 9)
    facts.priceLags = f.charges.flatMap((c, i): Json[] =>
      c.priceEpoch !== undefined ? [[i, ((inputs as Obj).epoch as number) - c.priceEpoch]] : [],
    );
  // Version 11: the salts of the leases cited (leaseSalts.ts), charges' by their row.
  if (version >= 11) facts.salts = packLeaseSalts(f.leaseSalts ?? {}, f.charges);
  // Version 12: the capability proofs emission is split by (capabilityEvidence.ts).
  if (version >= 12) facts.capProofs = packCapabilityProofs(f.capabilityProofs ?? [], { party, rel });
  const packedInputs = packInputs(inputs as Obj, party, v5);
  facts.parties = list.map((v, i) => shown[i] ?? (v.startsWith('@') ? `\\${v}` : packString(v)));
  return { inputs: packedInputs, facts: dropEmpty(facts) };
}

/** Leaves out the members that are empty lists. */
function dropEmpty(o: Obj): Json {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => !(Array.isArray(v) && v.length === 0)),
  ) as Json;
}

const INPUT_LISTS = [
  'unsettled',
  'slashRequests',
  'stakeHeld',
  'sessions',
  'activeOnChain',
  'faulted',
  'providers',
  'sensorScores',
  'providerBalances',
  'epochBalances',
  'leases',
  'prices',
] as const;

function packInputs(i: Obj, party: (v: string) => number, v5: boolean): Json {
  const t0 = i.startsAt as number;
  const rel = (t: number | null) => (t === null ? null : t - t0);
  const account = (a: string) => {
    const m = ACCOUNT.exec(a);
    if (m) return `${m[1]}:#${party(m[2]!)}:${m[3]}`;
    return PACKED_ACCOUNT.test(a) || a.startsWith('\\') ? `\\${a}` : a;
  };
  const balances = (xs: { account: string; balance: unknown }[]) =>
    xs.map((b) => [account(b.account), b.balance]);
  type Session = {
    provider: string;
    slots: number;
    connectedAt: number;
    disconnectedAt: number | null;
    drainingAt?: number;
  };
  type Lease = { provider: string; createdAt: number; finishedAt: number | null; gpu: boolean };
  type Provider = { address: string; region: string; hardware: unknown; capability: string | null };
  // Version 5: the distinct hardware claims, once each (providers of one build often share one).
  const hardware = interner();
  const out: Obj = {
    ...i,
    unsettled: (i.unsettled as { client: string; amount: unknown; escrow: unknown }[]).map((u) => [
      party(u.client),
      u.amount,
      u.escrow,
    ]),
    sessions: (i.sessions as Session[]).map((s) => [
      party(s.provider),
      s.slots,
      rel(s.connectedAt),
      rel(s.disconnectedAt),
      // When it started draining (review p9), only if it did.
      ...(s.drainingAt !== undefined ? [rel(s.drainingAt)] : []),
    ]),
    activeOnChain: (i.activeOnChain as string[]).map(party),
    faulted: (i.faulted as string[]).map(party),
    providers: (i.providers as Provider[]).map((p) => [
      party(p.address),
      p.region,
      v5 ? hardware.party(canonicalJsonOf(p.hardware)) : p.hardware,
      p.capability,
    ]),
    providerBalances: balances(i.providerBalances as { account: string; balance: unknown }[]),
    epochBalances: balances(i.epochBalances as { account: string; balance: unknown }[]),
    leases: (i.leases as Lease[]).map((l) => [
      party(l.provider),
      rel(l.createdAt),
      rel(l.finishedAt),
      l.gpu ? 1 : 0,
    ]),
  };
  if (v5) out.hardware = hardware.list.map((h) => JSON.parse(h) as Json);
  return dropEmpty(JSON.parse(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))));
}

/** A key for a JSON value that does not depend on its members' order. */
function canonicalJsonOf(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJsonOf).join(',')}]`;
  const o = v as Obj;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJsonOf(o[k])}`)
    .join(',')}}`;
}

function unpackInputs(p: Obj, party: (v: unknown) => string, v5: boolean): Obj {
  const t0 = p.startsAt as number;
  const abs = (t: unknown) => (t === null ? null : (t as number) + t0);
  const list = (k: string) => {
    const v = p[k] ?? [];
    if (!Array.isArray(v)) throw new Error(`evidence: inputs.${k} is not a list`);
    return v as unknown[][];
  };
  const account = (a: string) => {
    if (a.startsWith('\\')) return a.slice(1);
    const m = PACKED_ACCOUNT.exec(a);
    return m ? `${m[1]}:${party(Number(m[2]))}:${m[3]}` : a;
  };
  const balances = (k: string) => list(k).map(([a, balance]) => ({ account: account(a as string), balance }));
  const { hardware: rawTable, ...rest } = p;
  const table = (v5 ? (rawTable ?? []) : []) as unknown[];
  if (!Array.isArray(table)) throw new Error('evidence: inputs.hardware is not a list');
  const hardwareOf = (h: unknown): unknown => {
    if (!v5) return h;
    if (typeof h !== 'number' || table[h] === undefined)
      throw new Error(`evidence: no hardware ${String(h)}`);
    return table[h];
  };
  const out: Obj = v5 ? { ...rest } : { ...p };
  for (const k of INPUT_LISTS) out[k] = p[k] ?? [];
  return {
    ...out,
    unsettled: list('unsettled').map(([c, amount, escrow]) => ({ client: party(c), amount, escrow })),
    sessions: list('sessions').map(([s, slots, c, d, dr]) => ({
      provider: party(s),
      slots,
      connectedAt: abs(c),
      disconnectedAt: abs(d),
      ...(typeof dr === 'number' ? { drainingAt: abs(dr) } : {}),
    })),
    activeOnChain: (list('activeOnChain') as unknown[]).map(party),
    faulted: (list('faulted') as unknown[]).map(party),
    providers: list('providers').map(([a, region, hardware, capability]) => ({
      address: party(a),
      region,
      hardware: hardwareOf(hardware),
      capability,
    })),
    providerBalances: balances('providerBalances'),
    epochBalances: balances('epochBalances'),
    leases: list('leases').map(([l, c, f, gpu]) => ({
      provider: party(l),
      createdAt: abs(c),
      finishedAt: abs(f),
      gpu: gpu === 1,
    })),
  };
}

/**
 * The inverse of {@link packBundle}: the inputs (bigints still decimal strings) and the facts.
 * Throws on a malformed bundle (a party index out of range, a row of the wrong shape).
 *
 * @example
 * const { inputs, facts } = unpackBundle(raw.inputs, raw.facts);
 */
export function unpackBundle(
  rawInputs: unknown,
  rawFacts: unknown,
  version = 5,
): { inputs: Obj; facts: EpochFacts } {
  if (!rawFacts || typeof rawFacts !== 'object') throw new Error('evidence has no facts');
  if (!rawInputs || typeof rawInputs !== 'object') throw new Error('evidence has no inputs');
  const f = rawFacts as Obj;
  const v5 = version >= 5;
  const t0 = (rawInputs as Obj).startsAt;
  if (v5 && typeof t0 !== 'number') throw new Error('evidence: inputs.startsAt is not a number');
  const num = (t: unknown, what: string): number => {
    if (typeof t !== 'number') throw new Error(`evidence: ${what} is not a number`);
    return t;
  };
  const abs = (t: unknown): number => (v5 ? num(t, 'a time') + (t0 as number) : (t as number));
  const absSec = (t: unknown): number =>
    v5 ? num(t, 'a time') + Math.floor((t0 as number) / 1000) : (t as number);
  const amountList = (f.amounts ?? []) as unknown[];
  if (!Array.isArray(amountList) || !amountList.every((a) => typeof a === 'string'))
    throw new Error('evidence: amounts are not a list of strings');
  const amount = (a: unknown): string => {
    if (!v5) return a as string;
    const s = typeof a === 'number' ? (amountList[a] as string | undefined) : undefined;
    if (s === undefined) throw new Error(`evidence: no amount ${String(a)}`);
    return s;
  };
  const packed = (f.parties ?? []) as unknown[];
  if (!Array.isArray(packed)) throw new Error('evidence: parties is not a list');
  const parties: string[] = [];
  for (const v of packed) {
    if (typeof v !== 'string') throw new Error('evidence: a party is not a string');
    const m = /^@(\d+)\.(\d+)$/.exec(v);
    if (m) {
      const job = parties[Number(m[1])];
      if (job === undefined) throw new Error(`evidence: party ${v} names no earlier job`);
      parties.push(taskIdOf(job as Hex, Number(m[2])));
    } else parties.push(v.startsWith('\\') ? v.slice(1) : unpackString(v));
  }
  const party = (v: unknown): string => {
    const s = typeof v === 'number' ? parties[v] : undefined;
    if (s === undefined) throw new Error(`evidence: no party ${String(v)}`);
    return s;
  };
  const rows = (v: unknown, what: string): unknown[][] => {
    const r = v ?? [];
    if (!Array.isArray(r) || !r.every(Array.isArray)) throw new Error(`evidence: ${what} are not rows`);
    return r as unknown[][];
  };
  const economics = rows(f.economics, 'economics') as [string, string, string][];
  const draw = (r: unknown[]): AuditDraw => {
    const [t, p, epoch, rate, value, audited, otherOnline, e, b] = r;
    const econ = e === null ? undefined : economics[e as number];
    if (e !== null && !econ) throw new Error(`evidence: no economics ${String(e)}`);
    if (b !== undefined && !Array.isArray(b)) throw new Error('evidence: a draw basis is not a row');
    const [relAt, rawReward, valueReward, valueUnits, rawFrom] = (b ?? []) as [
      number,
      unknown,
      string | undefined,
      string | undefined,
      unknown,
    ];
    const at = b === undefined ? 0 : abs(relAt);
    const unitReward = b === undefined ? '' : amount(rawReward);
    const priced = {
      ...(valueReward !== undefined ? { valueReward } : {}),
      ...(v5 && valueUnits !== undefined ? { valueUnits } : {}),
      ...(v5 && rawFrom !== undefined ? { valueFrom: party(rawFrom) as Hex } : {}),
    };
    return {
      taskId: party(t),
      provider: party(p),
      epoch: epoch as number,
      rate: rate as number,
      draw: value as number,
      audited: audited === 1,
      otherOnline: otherOnline === 1,
      ...(econ ? { economics: { reward: econ[0], honestCost: econ[1], slashable: econ[2] } } : {}),
      ...(b !== undefined ? { basis: { at, unitReward, ...priced } } : {}),
    };
  };
  const draws = rows(f.draws, 'draws').map(draw);
  const audits = (f.audits ?? {}) as { commitment: EpochFacts['audits']['commitment']; reveals?: unknown[] };
  if (v5 && audits.commitment && typeof audits.commitment.commitment === 'string')
    audits.commitment = {
      ...audits.commitment,
      commitment: unpackString(audits.commitment.commitment) as Hex,
    };
  const reveals = ((audits.reveals ?? []) as { epoch: number; seed: string; draws: unknown[] }[]).map(
    (r) => ({
      epoch: r.epoch,
      seed: v5 && typeof r.seed === 'string' ? unpackString(r.seed) : r.seed,
      draws: r.draws.map((d) => {
        if (typeof d !== 'number') return draw(d as unknown[]);
        const mine = draws[d];
        if (!mine) throw new Error(`evidence: no draw ${d}`);
        return mine;
      }),
    }),
  );
  const jobs = ((f.jobs ?? []) as Obj[]).map(
    (j): JobFact => ({
      ...(j as unknown as JobFact),
      jobId: party(j.jobId) as Hex,
      client: party(j.client) as JobFact['client'],
      signature: unpackString(j.signature as string) as Hex,
      spec: unpackDeep(j.spec),
    }),
  );
  const charges = rows(f.charges, 'charges').map((row): ChargeFact => {
    // A string last after column 13 is the size cap; what is left reads as before it.
    const cap = row.length > 13 && typeof row[row.length - 1] === 'string' ? row[row.length - 1] : undefined;
    const r = cap === undefined ? row : row.slice(0, -1);
    const [aid, t, job, p, cls, unitsMilli, unitPrice, cid, wallMs, cpuMs, peakRssBytes, issuedAt, sig] = r;
    // Column 13 is the lease time when the row has 14 or 16 columns; the region follows it.
    const leaseMs = r.length % 2 === 0 ? r[13] : undefined;
    const [rp, tp] = r.slice(leaseMs === undefined ? 13 : 14);
    if (leaseMs !== undefined && typeof leaseMs !== 'number')
      throw new Error('evidence: a lease time is not a number');
    const assignmentId = unpackString(aid as string) as Hex;
    return {
      ref: `exec:${assignmentId}`,
      jobId: party(job) as Hex,
      taskId: party(t) as Hex,
      assignmentId,
      provider: party(p) as ChargeFact['provider'],
      class: cls as string,
      unitsMilli: unitsMilli as string,
      unitPrice: amount(unitPrice),
      ...executionAmounts(unitsMilli as string, amount(unitPrice)),
      result: {
        outputCid: v5 ? party(cid) : unpackString(cid as string),
        usage: { wallMs, cpuMs, peakRssBytes } as ChargeFact['result']['usage'],
        issuedAt: absSec(issuedAt),
        signature: unpackString(sig as string) as Hex,
      },
      ...(typeof rp === 'number' && typeof tp === 'number' ? { region: { pixels: rp, taskPixels: tp } } : {}),
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(cap !== undefined ? { sizeCapMilli: cap as string } : {}),
    };
  });
  // Slashes, entries, canaries, sensor batches (rare): as they are, their strings packed.
  const list = (k: string): unknown => {
    const v = f[k] ?? [];
    if (!Array.isArray(v)) throw new Error(`evidence: ${k} is not a list`);
    return unpackDeep(v);
  };
  // Version 9: charges priced at an earlier epoch's price.
  if (version >= 9)
    for (const [i, lag] of rows(f.priceLags, 'price lags')) {
      const c = charges[num(i, 'a charge row')];
      if (!c || !Number.isSafeInteger(lag) || (lag as number) <= 0)
        throw new Error('evidence: a price lag names no charge or is not a positive integer');
      c.priceEpoch = num((rawInputs as Obj).epoch, 'the epoch') - (lag as number);
    }
  const facts: EpochFacts = {
    jobDomain: f.jobDomain as EpochFacts['jobDomain'],
    jobs,
    charges,
    entries: list('entries') as EpochFacts['entries'],
    slashes: list('slashes') as EpochFacts['slashes'],
    audits: { commitment: audits.commitment, reveals },
    draws,
    canaries: list('canaries') as CanaryFact[],
    sensorBatches: list('sensorBatches') as SensorBatchFact[],
    ...(version >= 6 && f.ended !== undefined
      ? { endedLeases: unpackEndedLeases(f.ended, charges, { party, abs }) }
      : {}),
    ...(version >= 11 ? { leaseSalts: unpackLeaseSalts(f.salts, charges) } : {}),
    ...(version >= 12 ? { capabilityProofs: unpackCapabilityProofs(f.capProofs, { party, abs }) } : {}),
    ...(version >= 7 && f.unpaid !== undefined
      ? { unpaidResults: unpackUnpaidResults(f.unpaid, { party }) }
      : {}),
    ...(f.reputation !== undefined
      ? {
          reputation: rows(f.reputation, 'reputation').map(
            ([p, kind, at, detail, t]): ReputationEntry => ({
              provider: party(p),
              kind: kind as ReputationEntry['kind'],
              at: abs(at),
              ...(detail === undefined || detail === 0
                ? {}
                : (unpackDeep(detail) as Partial<ReputationEntry>)),
              ...(version >= 9 && t !== undefined ? { taskId: party(t) as Hex } : {}),
            }),
          ),
        }
      : {}),
  };
  return { inputs: unpackInputs(rawInputs as Obj, party, v5), facts };
}
