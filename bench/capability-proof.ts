/**
 * Capability proof timing (docs/verification.md, "Capability proof"): for each hardware class,
 * the agent's onnxruntime MatMul solver on this machine's CPU (what a CPU-only provider claiming the
 * class can do), the pure-JS reference solver as the baseline, the O(n²) share of the timed window
 * (matrix derivation, float conversion, reduction mod p, sha256), the coordinator's Freivalds check,
 * and the class budget the solver has to meet. Medians of `--reps` runs (default 3).
 *
 * npm run bench -- capability-proof [--json] [--reps N] [--js-max-n N]
 */
import { cpus } from 'node:os';
import {
  answerDigest,
  assessCapability,
  challengeMatrices,
  HARDWARE_CLASSES,
  makeCapabilityChallenge,
  solveCapabilityChallenge,
} from '../src/coordinator/verification/capabilityProof.ts';
import { createLogger } from '../src/logger.ts';
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
  const jsMaxN = opt('--js-max-n', 1024);
  const solver = createCapabilitySolver({ gpu: false, log: createLogger('bench', { level: 'silent' }) });
  await solver.warm();
  const rows: Record<string, unknown>[] = [];
  console.log('class            n   ortCpuMs   jsMs  overheadMs  freivaldsMs  budgetMs  cpuPasses');
  for (const hw of Object.values(HARDWARE_CLASSES)) {
    let k = 0;
    const next = () =>
      makeCapabilityChallenge({ challengeId: `c${k}`, seed: `bench-${hw.id}-${k++}`, hardwareClass: hw });
    const ortMs = await time(reps, () => solver(next()));
    const jsMs = hw.n <= jsMaxN ? await time(reps, () => solveCapabilityChallenge(next())) : null;
    const overheadMs = await time(reps, () => {
      const ch = next();
      const { a, b } = challengeMatrices(ch);
      const fa = Float32Array.from(a);
      const fb = Float32Array.from(b);
      const product = new Uint8Array(hw.n * hw.n);
      for (let i = 0; i < product.length; i++) product[i] = ((fa[i]! | 0) + (fb[i]! | 0) + 251) % 251;
      return answerDigest(ch.challengeId, product);
    });
    const ch = next();
    const answer = await solver(ch);
    let verdict = assessCapability({
      challenge: ch,
      hardwareClass: hw,
      committedDigest: answer.digest,
      product: answer.product,
      elapsedMs: ortMs,
      rttMs: 0,
      verifierSeed: 'bench',
    });
    const freivaldsMs = await time(reps, () => {
      verdict = assessCapability({
        challenge: ch,
        hardwareClass: hw,
        committedDigest: answer.digest,
        product: answer.product,
        elapsedMs: ortMs,
        rttMs: 0,
        verifierSeed: 'bench',
      });
    });
    const row = {
      class: hw.id,
      n: hw.n,
      ortCpuMs: Math.round(ortMs),
      jsMs: jsMs === null ? null : Math.round(jsMs),
      overheadMs: Math.round(overheadMs),
      freivaldsMs: Math.round(freivaldsMs),
      budgetMs: Math.round(verdict.budgetMs),
      cpuPasses: verdict.passed,
      correct: verdict.correct,
    };
    rows.push(row);
    console.log(
      `${hw.id.padEnd(15)} ${String(hw.n).padStart(4)} ${String(row.ortCpuMs).padStart(10)} ${String(row.jsMs ?? '—').padStart(6)} ${String(row.overheadMs).padStart(11)} ${String(row.freivaldsMs).padStart(12)} ${String(row.budgetMs).padStart(9)}  ${row.cpuPasses}`,
    );
  }
  return { machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`, reps, classes: rows };
}
