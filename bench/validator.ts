/**
 * Independent validators on the devnet (`npm run bench -- validator [--json]`, docs/validators.md):
 * a devnet with three validator processes runs the demo job; then, for every settled epoch, the
 * seconds from its end to its finalization on chain; the evidence bytes per settled task, over a
 * fixed set of epochs: those that settle at least one task (the demo's), bytes and tasks both
 * summed over exactly these epochs, so the figure does not depend on how many idle epochs settled
 * before the bench looked (those are reported apart, per idle epoch); the same bundles written as
 * version 4, 3 and the unpacked version 2 (the baselines, same facts, same run) and where the
 * bytes go (each member of the inputs and facts, each column of a charge row); the CPU a
 * validator spends replaying every epoch (download, decode, `computeEpoch`, compare: this process,
 * `process.cpuUsage`) against the coordinator's own CPU over the same run (its /proc stat), and the
 * disputes the three validators recorded (0 in an honest run).
 *
 * Options: `--images N` (demo images, default 6), `--epochs N` (settled epochs to wait for, default 4),
 * `--dump DIR` (write each settled epoch's bundle there, to look at).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Address } from 'viem';
import {
  canonicalJson,
  decodeEvidence,
  type EvidenceBundle,
  encodeEvidence,
} from '../src/coordinator/settlement/evidence.ts';
import { startDevnet } from '../src/devnet/startDevnet.ts';
import { downloadEvidence } from '../src/validator/createValidator.ts';
import { ReputationReplay } from '../src/validator/reputationReplay.ts';
import { type EpochClaim, verifyEpoch } from '../src/validator/verifyEpoch.ts';

const option = (args: string[], name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

/** CPU seconds (user + system) of a Linux process so far, from /proc (clock ticks of 1/100 s). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The columns of a packed charge row (compactBundle.ts), for the byte breakdown. */
const CHARGE_COLUMNS = [
  'assignmentId',
  'task',
  'job',
  'provider',
  'class',
  'unitsMilli',
  'unitPrice',
  'outputCid',
  'wallMs',
  'cpuMs',
  'peakRssBytes',
  'issuedAt',
  'signature',
  'regionPixels',
  'regionTaskPixels',
];

type EpochRow = {
  epoch: number;
  status: string;
  endsAt: number;
  settledAt: number | null;
  tasksSettled: number;
};

/**
 * Runs the benchmark and returns its figures.
 *
 * @example
 * const { evidenceBytesPerTask, replayCpuShare, secondsToFinalize, disputesInHonestRun } = await run([]);
 */
export async function run(args: string[]): Promise<Record<string, unknown>> {
  const images = option(args, '--images', 6);
  const wantEpochs = option(args, '--epochs', 4);
  const dumpAt = args.indexOf('--dump');
  const dump = dumpAt >= 0 ? args[dumpAt + 1] : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'plexus-bench-validator-'));
  const net = await startDevnet({ dataDir: dir, providers: 3, port: 0, print: () => {}, logLevel: 'warn' });
  try {
    const url = net.coordinatorUrl;
    const demo = await net.runDemo(images);
    await net.checkSettlement();
    const epochs = async () =>
      ((await (await fetch(`${url}/v1/epochs`)).json()) as { epochs: EpochRow[] }).epochs;
    const deadline = Date.now() + 300_000;
    while ((await epochs()).filter((e) => e.status === 'settled').length < wantEpochs) {
      if (Date.now() > deadline) throw new Error(`fewer than ${wantEpochs} epochs settled in 300 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const coordinatorCpu = processCpuSeconds(net.children[0]!.proc.pid!);
    const settled = (await epochs()).filter((e) => e.status === 'settled').sort((a, b) => a.epoch - b.epoch);
    const target = {
      chainId: Number(net.chain.deployment.chainId),
      settlement: net.chain.deployment.settlement as Address,
    };
    // The fixed set the bytes per task are measured over: the epochs that settle tasks.
    const measured = new Set(settled.filter((e) => e.tasksSettled > 0).map((e) => e.epoch));
    let bytes = 0;
    let tasks = 0;
    let bytesAll = 0;
    let bytesV4 = 0;
    // Version 5 (before the ended-lease list of version 6), same bundles.
    let bytesV5 = 0;
    let bytesAllV5 = 0;
    // Version 6 (before the reviews and unpaid results of version 7), same bundles.
    let bytesV6 = 0;
    // Version 8 (before the price epochs and journal task ids of version 9), same bundles.
    let bytesV8 = 0;
    // Version 11 (before the capability proofs of version 12), same bundles.
    let bytesV11 = 0;
    // Capability proofs the bundles carry (version 12) and their bytes.
    let capabilityProofs = 0;
    let capabilityProofBytes = 0;
    let endedLeases = 0;
    let endedBytes = 0;
    // The same bundles in the unpacked version-2 form (the baseline, measured on the same facts),
    // and the charged executions and distinct tasks their facts carry.
    let bytesV2 = 0;
    // And packed as version 3 (facts only), the format before version 4.
    let bytesV3 = 0;
    let executions = 0;
    const chargedTasks = new Set<string>();
    const texts: string[] = [];
    let prevHash = null;
    // Reputations replayed from the journal, every draw's rate recomputed (checkAuditRates.ts).
    let reputation = new ReputationReplay({ complete: false });
    let ratesRecomputed = 0;
    const cpu0 = process.cpuUsage();
    for (const e of settled) {
      const text = await downloadEvidence(url, e.epoch);
      const claim = (await (await fetch(`${url}/v1/epochs/${e.epoch}/claim`)).json()) as EpochClaim;
      const v = await verifyEpoch({ evidence: text, claim, target, prevHash, reputation });
      if (!v.ok) throw new Error(`epoch ${e.epoch}: ${v.fact} differs in an honest run`);
      prevHash = v.evidenceHash;
      if (v.reputation) reputation = v.reputation;
      if (reputation.complete) ratesRecomputed += (v.facts.draws ?? []).filter((d) => d.basis).length;
      bytesAll += Buffer.byteLength(text);
      // Version 6's ended-lease list over every settled epoch (a lease is listed by the bundle
      // closed after it ended, often not the one that charges its task): its cost, and version 5's.
      bytesAllV5 += Buffer.byteLength(
        encodeEvidence({ ...beforeV9(decodeEvidence(text).bundle), version: 5 }).text,
      );
      const ended = (JSON.parse(text) as { facts: { ended?: unknown[] } }).facts.ended ?? [];
      endedLeases += ended.length;
      endedBytes += ended.length ? canonicalJson(ended).length : 0;
      const capProofs = (JSON.parse(text) as { facts: { capProofs?: unknown[] } }).facts.capProofs ?? [];
      capabilityProofs += capProofs.length;
      capabilityProofBytes += capProofs.length ? canonicalJson(capProofs).length : 0;
      if (dump) await writeFile(join(dump, `evidence-${e.epoch}.json`), text);
      if (!measured.has(e.epoch)) continue;
      bytes += Buffer.byteLength(text);
      tasks += e.tasksSettled;
      texts.push(text);
    }
    const cpu = process.cpuUsage(cpu0);
    // Where the bytes go (measured epochs): each member of the inputs and facts, each column of a
    // charge row, in the current version and in version 4 (the baseline).
    const bySection: Record<string, number> = {};
    const bySectionV4: Record<string, number> = {};
    const sections = (text: string, into: Record<string, number>) => {
      const raw = JSON.parse(text) as { inputs: Record<string, unknown>; facts: Record<string, unknown> };
      const add = (k: string, v: unknown) => {
        into[k] = (into[k] ?? 0) + canonicalJson(v).length;
      };
      add('envelope', { ...raw, inputs: {}, facts: {} });
      for (const [k, v] of Object.entries(raw.inputs)) add(`inputs.${k}`, v);
      for (const [k, v] of Object.entries(raw.facts)) add(`facts.${k}`, v);
      for (const row of (raw.facts.charges ?? []) as unknown[][])
        for (const [i, v] of row.entries()) add(`facts.charges[${CHARGE_COLUMNS[i] ?? i}]`, v);
    };
    for (const text of texts) {
      sections(text, bySection);
      const bundle = beforeV9(decodeEvidence(text).bundle);
      const v4 = encodeEvidence({ ...bundle, version: 4 }).text;
      bytesV4 += Buffer.byteLength(v4);
      bytesV5 += Buffer.byteLength(encodeEvidence({ ...bundle, version: 5 }).text);
      bytesV6 += Buffer.byteLength(encodeEvidence({ ...bundle, version: 6 }).text);
      bytesV8 += Buffer.byteLength(encodeEvidence({ ...bundle, version: 8 }).text);
      bytesV11 += Buffer.byteLength(encodeEvidence({ ...decodeEvidence(text).bundle, version: 11 }).text);
      sections(v4, bySectionV4);
      bytesV2 += Buffer.byteLength(encodeEvidence({ ...bundle, version: 2 }).text);
      bytesV3 += Buffer.byteLength(encodeEvidence({ ...bundle, version: 3 }).text);
      executions += bundle.facts.charges.length;
      for (const c of bundle.facts.charges) chargedTasks.add(c.taskId);
    }
    const replayCpu = (cpu.user + cpu.system) / 1e6;
    const waits = settled.filter((e) => e.settledAt !== null).map((e) => (e.settledAt! - e.endsAt) / 1000);
    waits.sort((a, b) => a - b);
    let disputes = 0;
    for (const v of net.validatorUrls)
      disputes += ((await (await fetch(`${v}/v1/disputes`)).json()) as { disputes: unknown[] }).disputes
        .length;
    const out = {
      epochs: settled.length,
      tasksSettled: tasks,
      demoTasksMatched: demo.matched,
      measuredEpochs: [...measured],
      evidenceBytes: bytes,
      evidenceBytesPerTask: tasks > 0 ? Math.round(bytes / tasks) : null,
      evidenceBytesV4: bytesV4,
      evidenceBytesPerTaskV11: tasks > 0 ? Math.round(bytesV11 / tasks) : null,
      capabilityProofs,
      capabilityProofBytes,
      evidenceBytesPerTaskV8: tasks > 0 ? Math.round(bytesV8 / tasks) : null,
      evidenceBytesPerTaskV6: tasks > 0 ? Math.round(bytesV6 / tasks) : null,
      evidenceBytesPerTaskV5: tasks > 0 ? Math.round(bytesV5 / tasks) : null,
      evidenceBytesPerTaskV4: tasks > 0 ? Math.round(bytesV4 / tasks) : null,
      evidenceBytesAllSettled: bytesAll,
      evidenceBytesAllSettledV5: bytesAllV5,
      endedLeasesListed: endedLeases,
      endedLeaseBytes: endedBytes,
      endedLeaseBytesPerTask: tasks > 0 ? Math.round(endedBytes / tasks) : null,
      evidenceBytesPerIdleEpoch:
        settled.length > measured.size
          ? Math.round((bytesAll - bytes) / (settled.length - measured.size))
          : null,
      evidenceBytesUnpacked: bytesV2,
      evidenceBytesV3: bytesV3,
      evidenceBytesPerTaskV3: tasks > 0 ? Math.round(bytesV3 / tasks) : null,
      executionsCharged: executions,
      tasksCharged: chargedTasks.size,
      evidenceBytesPerExecution: executions > 0 ? Math.round(bytes / executions) : null,
      evidenceBytesPerExecutionUnpacked: executions > 0 ? Math.round(bytesV2 / executions) : null,
      evidenceBytesPerChargedTask: chargedTasks.size > 0 ? Math.round(bytes / chargedTasks.size) : null,
      evidenceBytesPerChargedTaskUnpacked:
        chargedTasks.size > 0 ? Math.round(bytesV2 / chargedTasks.size) : null,
      replayCpuSeconds: Number(replayCpu.toFixed(3)),
      ratesRecomputed,
      reputationEntries: texts.reduce(
        (n, t) => n + (decodeEvidence(t).bundle.facts.reputation?.length ?? 0),
        0,
      ),
      coordinatorCpuSeconds: Number(coordinatorCpu.toFixed(2)),
      replayCpuShare: Number((replayCpu / coordinatorCpu).toFixed(4)),
      secondsToFinalize: waits[Math.floor(waits.length / 2)] ?? null,
      secondsToFinalizeMax: waits.at(-1) ?? null,
      disputesInHonestRun: disputes,
      evidenceBytesBySection: bySection,
      evidenceBytesBySectionV4: bySectionV4,
    };
    console.error(
      `${out.epochs} epochs (${measured.size} settling tasks), ${tasks} tasks: evidence ${bytes} B (${out.evidenceBytesPerTask} B/task, v4 ${out.evidenceBytesPerTaskV4} B/task; idle epoch ${out.evidenceBytesPerIdleEpoch} B; ${out.evidenceBytesPerExecution} B per charged execution, ${out.evidenceBytesPerChargedTask} B per charged task; unpacked v2 ${bytesV2} B, ${out.evidenceBytesPerExecutionUnpacked} B/execution; v3 ${bytesV3} B, ${out.evidenceBytesPerTaskV3} B/task); replay ${out.replayCpuSeconds} s CPU vs coordinator ${out.coordinatorCpuSeconds} s (${(out.replayCpuShare * 100).toFixed(2)} %); end → finalized median ${out.secondsToFinalize} s (max ${out.secondsToFinalizeMax} s); disputes ${disputes}`,
    );
    return out;
  } finally {
    await net.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A bundle as a coordinator before version 9 would have written it: no journal task ids and no
 * price epochs (an older version would otherwise carry a task id inside the entry's detail).
 */
function beforeV9(b: EvidenceBundle): EvidenceBundle {
  const facts = {
    ...b.facts,
    charges: b.facts.charges.map(({ priceEpoch: _p, ...c }) => c),
    ...(b.facts.reputation ? { reputation: b.facts.reputation.map(({ taskId: _t, ...e }) => e) } : {}),
  };
  return { ...b, facts };
}
