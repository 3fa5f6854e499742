/**
 * Render audit regions re-derived (docs/validators.md, "Render audit regions"). An auditor of a
 * `blender.render` task renders only a region of it, placed by the task's audit seed
 * (protocol/renderAuditDraw.ts) — so where the audit looks is a random draw that moves money, like
 * the audit draw itself. A coordinator free to choose the region could point a colluding
 * provider's audit at the pixels it rendered honestly.
 *
 * When a bundle pays an audited render task, the validator reads the task's descriptor (the job's
 * client-signed input) and each paid output, and keeps the region every region output covers (its
 * `region` tensor, in task-image pixels, shifted into frame pixels). When the seed of the audit's
 * epoch is revealed, each kept region must be the region drawn from that seed for the task, grown
 * exactly as the coordinator grows it over the primary's image (while its crop is mostly one flat
 * colour: the same `grownAuditRegion` over the primary's paid output, read again). A region
 * elsewhere is `renderRegion[<task>]`, one on the chain but grown to another step `.growth`.
 * A task drawn more than once (re-run after a rejected verification) takes the seed of its
 * earliest audited draw, as the coordinator does (work/renderAudits.ts); its region must be on that
 * seed's chain (which primary's pixels grew it is not in the facts).
 */
import type { ChargeFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { grownAuditRegion, primaryRenderPixels } from '../coordinator/verification/renderAuditRegion.ts';
import { taskIdOf } from '../protocol/ids.ts';
import { decodeRenderTask, type RenderTask, renderImageParts } from '../protocol/render.ts';
import { auditRegionChain } from '../protocol/renderAuditDraw.ts';
import { decodeSafetensors } from '../protocol/safetensors.ts';
import type { FactDispute } from './checkFacts.ts';
import { BlobRefused } from './recheck.ts';

type Region = RenderTask['region'];

/**
 * A region audit a bundle paid, kept until its seed is revealed: the seed's epoch, the task, its
 * region in the frame, the regions its paid region outputs cover (frame pixels), and the content
 * id of the primary's paid whole output the region grew over (absent for a task drawn more than
 * once, or whose primary was not paid: then only the chain is checked).
 *
 * @example
 * const a: RenderAudit = { epoch: 7, taskId: '0x…', task: [0, 0, 64, 48], regions: [[10, 8, 26, 20]], primaryCid: 'bafy…' };
 */
export type RenderAudit = {
  epoch: number;
  taskId: string;
  task: Region;
  regions: Region[];
  primaryCid?: string;
};

const bad = (fact: string, claimed: unknown, recomputed: unknown): FactDispute => ({
  fact,
  claimed: String(claimed),
  recomputed: String(recomputed),
});

/**
 * The region audits `facts` pay (audited draws of render tasks with a region output among their
 * paid executions), read through `read`; or a dispute when a blob is refused or is not what the
 * facts say. Other read errors are thrown (the epoch is checked again at the next poll).
 *
 * @example
 * const audits = await renderAuditsOf(v.facts, (cid) => readBlobAs(replicas, account, chainId, cid));
 */
export async function renderAuditsOf(
  facts: Pick<EpochFacts, 'jobs' | 'charges' | 'draws'>,
  read: (cid: string) => Promise<Uint8Array>,
): Promise<RenderAudit[] | FactDispute> {
  const renderJobs = new Map<string, readonly string[]>();
  for (const j of facts.jobs) {
    const spec = j.spec as { kind?: unknown; inputs?: unknown } | null;
    if (spec?.kind === 'blender.render' && Array.isArray(spec.inputs))
      renderJobs.set(j.jobId.toLowerCase(), spec.inputs as string[]);
  }
  if (renderJobs.size === 0) return [];
  const chargesOf = new Map<string, ChargeFact[]>();
  for (const c of facts.charges) {
    if (!renderJobs.has(c.jobId.toLowerCase())) continue;
    const k = c.taskId.toLowerCase();
    chargesOf.set(k, [...(chargesOf.get(k) ?? []), c]);
  }
  // Per task, its audited draws: the region's seed is the earliest one's epoch (a re-run has one
  // draw per primary; the coordinator takes the same: work/renderAudits.ts).
  const drawsOf = new Map<string, NonNullable<EpochFacts['draws']>>();
  for (const d of facts.draws ?? []) {
    const k = d.taskId.toLowerCase();
    drawsOf.set(k, [...(drawsOf.get(k) ?? []), d]);
  }
  // Tasks whose outputs are read: every audited one (a region output comes only from an audit)
  // and any whose charges claim a region share (billing sized them by it).
  const out: RenderAudit[] = [];
  for (const [taskId, charges] of chargesOf) {
    const draws = drawsOf.get(taskId) ?? [];
    const audited = draws.filter((x) => x.audited).sort((a, b) => a.epoch - b.epoch);
    const d = audited[0];
    if (!d && !charges.some((c) => c.region)) continue;
    const name = `renderRegion[${taskId}]`;
    const jobId = charges[0]!.jobId;
    const inputs = renderJobs.get(jobId.toLowerCase())!;
    const i = inputs.findIndex((_cid, n) => taskIdOf(jobId, n).toLowerCase() === taskId);
    if (i < 0) return bad(`${name}.task`, taskId, `a task of job ${jobId}`);
    const got = await readOrRefused(read, inputs[i]!, name);
    if (!(got instanceof Uint8Array)) return got;
    let task: RenderTask;
    try {
      task = decodeRenderTask(got);
    } catch (err) {
      return bad(`${name}.task`, err instanceof Error ? err.message : String(err), 'a render task');
    }
    const [tx, ty, tx1, ty1] = task.region;
    const taskPixels = (tx1 - tx) * (ty1 - ty);
    const regions: Region[] = [];
    let primaryCid: string | undefined;
    for (const c of charges) {
      const bytes = await readOrRefused(read, c.result.outputCid, name);
      if (!(bytes instanceof Uint8Array)) return bytes;
      let crop: Region | undefined;
      try {
        crop = renderImageParts(decodeSafetensors(bytes)).crop;
      } catch {
        return bad(`${name}.output`, c.result.outputCid, 'a render output');
      }
      // The share billing sized the charge by is the output's: its crop's pixels and the task's.
      const want = crop ? `${(crop[2] - crop[0]) * (crop[3] - crop[1])}/${taskPixels}` : 'none';
      const share = c.region ? `${c.region.pixels}/${c.region.taskPixels}` : 'none';
      if (share !== want) return bad(`charge[${c.ref}].region`, share, want);
      if (!crop) {
        // The primary's whole output: the pixels its region grew over (a task drawn once).
        if (d && draws.length === 1 && c.provider.toLowerCase() === d.provider.toLowerCase())
          primaryCid = c.result.outputCid;
        continue;
      }
      regions.push([crop[0] + tx, crop[1] + ty, crop[2] + tx, crop[3] + ty]);
    }
    if (d && regions.length > 0)
      out.push({ epoch: d.epoch, taskId, task: task.region, regions, ...(primaryCid ? { primaryCid } : {}) });
  }
  return out;
}

/** A blob's bytes, or a dispute when the coordinator refuses it (other errors are thrown). */
async function readOrRefused(
  read: (cid: string) => Promise<Uint8Array>,
  cid: string,
  name: string,
): Promise<Uint8Array | FactDispute> {
  try {
    return await read(cid);
  } catch (err) {
    if (err instanceof BlobRefused) return bad(`${name}.blob`, err.message, 'served');
    throw err;
  }
}

/**
 * Checks every kept region audit whose seed `facts` reveal (`kept(epoch)`: the audits earlier
 * bundles paid, `mine`: this bundle's): each region is the one drawn from the revealed seed, grown
 * over the primary's output (read through `read`) exactly as the coordinator grows it; without a
 * primary output, on the seed's chain. Null when all hold.
 *
 * @example
 * const dispute = await checkRenderRegions(v.facts, mine, (e) => store.renderAudits(coordinator, e), read);
 */
export async function checkRenderRegions(
  facts: Pick<EpochFacts, 'audits'>,
  mine: readonly RenderAudit[],
  kept: (epoch: number) => readonly RenderAudit[],
  read: (cid: string) => Promise<Uint8Array>,
): Promise<FactDispute | null> {
  for (const r of facts.audits.reveals) {
    for (const a of [...kept(r.epoch), ...mine.filter((m) => m.epoch === r.epoch)]) {
      const name = `renderRegion[${a.taskId}]`;
      const chain = auditRegionChain(r.seed, a.taskId, { region: a.task });
      const same = (x: Region, y: Region) => x.every((v, i) => v === y[i]);
      for (const region of a.regions) {
        if (!chain.some((c) => same(c, region)))
          return bad(
            name,
            region.join(','),
            `${chain[0]!.join(',')} (drawn from seed ${r.epoch}) or one of its growth steps`,
          );
      }
      if (!a.primaryCid) continue;
      const bytes = await readOrRefused(read, a.primaryCid, name);
      if (!(bytes instanceof Uint8Array)) return bytes;
      let pixels: ReturnType<typeof primaryRenderPixels>;
      try {
        pixels = primaryRenderPixels(decodeSafetensors(bytes));
      } catch {
        pixels = undefined; // not tensors: the coordinator grows nothing over it either
      }
      const task = { region: a.task } as RenderTask;
      const expected = pixels ? grownAuditRegion(task, chain[0]!, pixels) : chain[0]!;
      for (const region of a.regions) {
        if (!same(region, expected))
          return bad(
            `${name}.growth`,
            region.join(','),
            `${expected.join(',')} (drawn from seed ${r.epoch}, grown over the primary's output ${a.primaryCid})`,
          );
      }
    }
  }
  return null;
}
