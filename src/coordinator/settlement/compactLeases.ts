/**
 * How a version-6 bundle writes its ended leases (epochFacts.ts `EndedLease`, docs/validators.md
 * "Ended leases"): a lease that ended with a result this same bundle pays is `[charge index,
 * leasedAt, endedAt]` (its id, provider, task and job are the charge's); any other is `[lease id,
 * provider, task, job, code, leasedAt, endedAt]`, parties by index and times ms after the epoch's
 * start. Pure.
 */
import type { Hex } from 'viem';
import { packString, unpackString } from './compactFacts.ts';
import type { ChargeFact, EndedLease, UnpaidResult } from './epochFacts.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * The rows of `leases` over the bundle's parties.
 *
 * @example
 * facts.ended = packEndedLeases(f.endedLeases ?? [], f.charges, { party, task, rel });
 */
export function packEndedLeases(
  leases: readonly EndedLease[],
  charges: readonly ChargeFact[],
  at: { party: (v: string) => number; task: (id: string) => number; rel: (t: number) => number },
): Json[][] {
  const paid = new Map(charges.map((c, i) => [c.assignmentId.toLowerCase(), i]));
  return leases.map((l): Json[] => {
    const i = l.code === null ? paid.get(l.lease.toLowerCase()) : undefined;
    const c = i === undefined ? undefined : charges[i];
    if (
      i !== undefined &&
      c &&
      c.provider.toLowerCase() === l.provider.toLowerCase() &&
      c.taskId === l.task &&
      c.jobId === l.job
    )
      return [i, at.rel(l.leasedAt), at.rel(l.endedAt)];
    return [
      packString(l.lease),
      at.party(l.provider),
      at.task(l.task),
      at.party(l.job),
      l.code,
      at.rel(l.leasedAt),
      at.rel(l.endedAt),
    ];
  });
}

/**
 * The inverse of {@link packEndedLeases}; throws on a malformed row.
 *
 * @example
 * const endedLeases = unpackEndedLeases(f.ended, charges, { party, abs });
 */
export function unpackEndedLeases(
  raw: unknown,
  charges: readonly ChargeFact[],
  at: { party: (v: unknown) => string; abs: (t: unknown) => number },
): EndedLease[] {
  const rows = raw ?? [];
  if (!Array.isArray(rows) || !rows.every(Array.isArray)) throw new Error('evidence: ended are not rows');
  return (rows as unknown[][]).map((r): EndedLease => {
    if (r.length === 3) {
      const c = typeof r[0] === 'number' ? charges[r[0]] : undefined;
      if (!c) throw new Error(`evidence: an ended lease names no charge ${String(r[0])}`);
      return {
        lease: c.assignmentId,
        provider: c.provider.toLowerCase(),
        task: c.taskId,
        job: c.jobId,
        leasedAt: at.abs(r[1]),
        endedAt: at.abs(r[2]),
        code: null,
      };
    }
    const [lease, provider, task, job, code, leasedAt, endedAt] = r;
    if (r.length !== 7 || typeof lease !== 'string' || !(code === null || typeof code === 'string'))
      throw new Error('evidence: an ended lease is not a row of 7');
    return {
      lease: unpackString(lease) as Hex,
      provider: at.party(provider),
      task: at.party(task) as Hex,
      job: at.party(job) as Hex,
      leasedAt: at.abs(leasedAt),
      endedAt: at.abs(endedAt),
      code,
    };
  });
}

/**
 * Version 7's unpaid results (epochFacts.ts `UnpaidResult`): rows `[lease id, provider, task,
 * output id, wallMs, cpuMs, peakRssBytes, issuedAt, signature]`, parties by index.
 *
 * @example
 * facts.unpaid = packUnpaidResults(f.unpaidResults ?? [], { party, task });
 */
export function packUnpaidResults(
  results: readonly UnpaidResult[],
  at: { party: (v: string) => number; task: (id: string) => number },
): Json[][] {
  return results.map((u): Json[] => [
    packString(u.lease),
    at.party(u.provider),
    at.task(u.task),
    at.party(u.result.outputCid),
    u.result.usage.wallMs,
    u.result.usage.cpuMs,
    u.result.usage.peakRssBytes,
    u.result.issuedAt,
    packString(u.result.signature),
  ]);
}

/**
 * The inverse of {@link packUnpaidResults}; throws on a malformed row.
 *
 * @example
 * const unpaidResults = unpackUnpaidResults(f.unpaid, { party });
 */
export function unpackUnpaidResults(raw: unknown, at: { party: (v: unknown) => string }): UnpaidResult[] {
  if (!Array.isArray(raw) || !raw.every(Array.isArray)) throw new Error('evidence: unpaid are not rows');
  return (raw as unknown[][]).map((r): UnpaidResult => {
    const [lease, provider, task, cid, wallMs, cpuMs, rss, issuedAt, sig] = r;
    if (
      r.length !== 9 ||
      typeof lease !== 'string' ||
      typeof sig !== 'string' ||
      ![wallMs, cpuMs, rss, issuedAt].every((n) => Number.isSafeInteger(n))
    )
      throw new Error('evidence: an unpaid result is not a row of 9');
    return {
      lease: unpackString(lease) as Hex,
      provider: at.party(provider),
      task: at.party(task) as Hex,
      result: {
        outputCid: at.party(cid),
        usage: { wallMs: wallMs as number, cpuMs: cpuMs as number, peakRssBytes: rss as number },
        issuedAt: issuedAt as number,
        signature: unpackString(sig) as Hex,
      },
    };
  });
}
