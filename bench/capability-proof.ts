/**
 * Capability proof timing (docs/verification.md, "Capability proof"): for each hardware class, the
 * agent's onnxruntime chain solver on this machine's CPU running the whole chain (what a CPU-only
 * provider claiming the class can do; the budget hint is withheld so it does not stop early), the
 * pure-JS reference solver as the baseline (small challenges only), the O(n²) share of the timed
 * window (matrix derivation, reading C_k back, sha256), the coordinator's chained Freivalds check
 * (what its worker thread spends per proof) and the class budget the solver has to meet.
 * Medians of `--reps` runs (default 3) for the cpu class, `--gpu-reps` (default 1) for the GPU
 * classes, whose full chains take tens of seconds on a CPU.
 *
 * npm run bench -- capability-proof [--json] [--reps N] [--gpu-reps N] [--js-max-flops F]
 */
import { cpus } from 'node:os';
import {
  assessCapability,
  FREIVALDS_ROUNDS,
  HARDWARE_CLASSES,
  makeCapabilityChallenge,
} from '../src/coordinator/verification/capabilityProof.ts';
import { createLogger } from '../src/logger.ts';
import {
  answerDigest,
  challengeMatrices,
  solveCapabilityChallenge,
} from '../src/protocol/capabilityChallenge.ts';
import { createCapabilitySolver } from '../src/provider/agent/solveCapability.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(reps: number, f: () => unknown | Promise<unknown>): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
  }
  return median(out);
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const opt = (name: string, d: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : d;
  };
  const reps = opt('--reps', 3);
  const gpuReps = opt('--gpu-reps', 1);
  // The JS solver runs ~1 GFLOP/s: only challenges up to this many flops (default 2·256³).
  const jsMaxFlops = opt('--js-max-flops', 2 * 256 ** 3);
  const solver = createCapabilitySolver({ gpu: false, log: createLogger('bench', { level: 'silent' }) });
  await solver.warm();
  const rows: Record<string, unknown>[] = [];
  console.log(
    'class            n    k  ortCpuMs  perProductMs   jsMs  overheadMs  freivaldsMs  budgetMs  cpuPasses',
  );
  for (const hw of Object.values(HARDWARE_CLASSES)) {
    const r = hw.gpu ? gpuReps : reps;
    let i = 0;
    const next = () => {
      // Without the budget hint: the agent would otherwise stop once past the budget.
      const { budgetMs: _b, ...ch } = makeCapabilityChallenge({
        challengeId: `c${i}`,
        seed: `bench-${hw.id}-${i++}`,
        hardwareClass: hw,
      });
      return ch;
    };
    const flops = 2 * hw.n ** 3 * hw.k;
    const ortMs = await time(r, () => solver(next()));
    const jsMs = flops <= jsMaxFlops ? await time(r, () => solveCapabilityChallenge(next())) : null;
    const overheadMs = await time(reps, () => {
      const ch = next();
      const { a, b } = challengeMatrices(ch);
      const product = new Uint8Array(hw.n * hw.n);
      for (let j = 0; j < product.length; j++) product[j] = (a[j]! + b[j]! + 251) % 251;
      return answerDigest(ch.challengeId, Uint8Array.from(product));
    });
    const ch = next();
    const answer = await solver(ch);
    const assess = () =>
      assessCapability({
        challenge: ch,
        hardwareClass: hw,
        committedDigest: answer.digest,
        product: answer.product,
        elapsedMs: ortMs,
        rttMs: 0,
        verifierSeed: 'bench',
      });
    let verdict = assess();
    const freivaldsMs = await time(reps, () => {
      verdict = assess();
    });
    const row = {
      class: hw.id,
      n: hw.n,
      k: hw.k,
      minGflops: hw.minGflops,
      ortCpuMs: Math.round(ortMs),
      perProductMs: Math.round((ortMs - overheadMs) / hw.k),
      cpuGflops: Math.round(flops / ((ortMs - overheadMs) * 1e6)),
      jsMs: jsMs === null ? null : Math.round(jsMs),
      overheadMs: Math.round(overheadMs),
      freivaldsMs: Math.round(freivaldsMs),
      freivaldsRounds: FREIVALDS_ROUNDS,
      budgetMs: Math.round(verdict.budgetMs),
      cpuPasses: verdict.passed,
      correct: verdict.correct,
    };
    rows.push(row);
    console.log(
      `${hw.id.padEnd(15)} ${String(hw.n).padStart(4)} ${String(hw.k).padStart(4)} ${String(row.ortCpuMs).padStart(9)} ${String(row.perProductMs).padStart(13)} ${String(row.jsMs ?? '—').padStart(6)} ${String(row.overheadMs).padStart(11)} ${String(row.freivaldsMs).padStart(12)} ${String(row.budgetMs).padStart(9)}  ${row.cpuPasses}`,
    );
  }
  return { machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`, reps, gpuReps, classes: rows };
}
