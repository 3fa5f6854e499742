/**
 * verification-sim: a population of simulated providers with a configurable share of cheaters of
 * mixed kinds, verified by the real code in src/coordinator/verification (see
 * lab/verification-sim/simulate.ts). Two scenarios run in the same process:
 *
 * - `steady`: 20% cheaters at the start; a proven fault bans the identity. Steady state is the
 *   second half of the run, once records have built up.
 * - `whitewash` (stress): every banned cheater rejoins at once under a fresh identity with fresh
 *   stake, so 20% of the active fleet are cheaters at every tick.
 *
 * Each reports verification overhead (extra ÷ useful executions) next to full replication
 * (redundant(2) jobs in the same run), tasks until each kind of cheater is caught, and honest
 * providers marked faulty.
 *
 * Options: --providers N (1000) --ticks T (500) --cheaters F (0.2) --noise X (1e-3) --seed S
 *          --redundant-share F (0.05) --canary-rate F (0.02) --probation-canary-rate F (1) --genesis F (0.02)
 *          --scenario steady|whitewash|both (both) --no-capability
 *
 * It also times the capability proof for real on this machine: the provider's pure-JS solver and
 * the coordinator's Freivalds check, against the naive check (recomputing A·B) as the baseline.
 */

import {
  DEFAULT_SIM_OPTIONS,
  type SimOptions,
  type SimResult,
  simulate,
} from '../lab/verification-sim/simulate.ts';
import {
  ADVERSARIES,
  type Adversary,
  DEFAULT_STRATEGIC,
  runStrategic,
  type StrategicResult,
} from '../lab/verification-sim/strategic.ts';
import {
  FREIVALDS_ROUNDS,
  freivaldsCheck,
  HARDWARE_CLASSES,
  makeCapabilityChallenge,
} from '../src/coordinator/verification/capabilityProof.ts';
import {
  challengeMatrices,
  multiplyInt8,
  solveCapabilityChallenge,
} from '../src/protocol/capabilityChallenge.ts';

function num(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}

function str(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? String(args[i + 1]) : dflt;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const fmt = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : String(x));

function report(name: string, r: SimResult, seconds: number): Record<string, unknown> {
  console.log(`\n  [${name}] ${r.tasks} tasks in ${seconds.toFixed(1)} s`);
  console.log(
    '  kind            providers  caught  tasks-to-catch p50 / p99 / max  ≤50     ≤500    uncaught (most tasks seen)',
  );
  for (const [kind, k] of Object.entries(r.byKind)) {
    console.log(
      `  ${kind.padEnd(15)} ${String(k.providers).padStart(9)} ${String(k.caught).padStart(7)}  ${fmt(k.p50).padStart(6)} / ${fmt(k.p99).padStart(4)} / ${fmt(k.max).padStart(4)}      ${k.shareCaughtWithin50 === null ? '   -  ' : pct(k.shareCaughtWithin50).padStart(7)} ${k.shareCaughtWithin500 === null ? '   -  ' : pct(k.shareCaughtWithin500).padStart(7)}  ${k.uncaught} (${k.uncaughtMaxTasks})  ${Object.entries(
        k.caughtBy,
      )
        .map(([w, c]) => `${w} ${c}`)
        .join(', ')}`,
    );
  }
  console.log(
    `  verification overhead (extra ÷ useful executions): steady state ${pct(r.steadyStateOverhead)}, whole run ${pct(r.wholeRunOverhead)}  |  baseline full replication (redundant k=2, same run): ${pct(r.fullReplicationOverhead)}`,
  );
  console.log(
    `  honest providers marked faulty: ${r.honestMarkedFaulty} of ${r.honestProviders} (half with ${r.options.noise} relative float noise)`,
  );
  console.log(
    `  fake hardware flagged gpuTrusted=false: ${r.fakeHardwareFlagged} of ${r.fakeHardware}; honest GPU claims trusted: ${r.honestGpuTrusted} of ${r.honestGpuClaims} (${r.capabilityChecks} capability proofs)`,
  );
  console.log(
    `  slow/disconnect: ${r.slowDisconnectAbandoned} executions abandoned and re-run elsewhere, none paid; mean score ${r.slowDisconnectMeanScore.toFixed(3)} vs honest ${r.honestMeanScore.toFixed(3)}; marked faulty ${(r.byKind.slow?.caught ?? 0) + (r.byKind.disconnect?.caught ?? 0)}`,
  );
  console.log(
    `  wrong results accepted: ${r.wrongAcceptedUnaudited} unaudited (of ${r.usefulTasks}), ${r.wrongAcceptedVerified} after verification; disputed ${r.disputed}, rejected ${r.rejected}; slashed ${r.slashedBaseUnits} base units; auditor/tie-breaker picks without a trusted provider: ${r.untrustedHelperPicks}`,
  );
  const { slashedBaseUnits, options, ...rest } = r;
  return { ...rest, options, slashedBaseUnits: slashedBaseUnits.toString(), seconds };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, reps: number): number {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

/** Real timings of the capability proof on this machine (median of a few runs). */
function capabilityTimings(): Record<string, unknown> {
  console.log('\n  capability proof, measured here (n=256: median of 3 runs; n=1024: one run):');
  const out: Record<string, unknown> = {};
  for (const [n, reps] of [
    [256, 3],
    [1024, 1],
  ] as const) {
    const hw = { ...HARDWARE_CLASSES.cpu!, n };
    const ch = makeCapabilityChallenge({ challengeId: `bench-${n}`, seed: 'bench', hardwareClass: hw });
    let product: Uint8Array = new Uint8Array(0);
    const solveMs = time(() => {
      product = solveCapabilityChallenge(ch).product;
    }, reps);
    const freivaldsMs = time(() => {
      if (!freivaldsCheck({ challenge: ch, product, verifierSeed: 'v' }))
        throw new Error('Freivalds rejected');
    }, reps);
    const { a, b } = challengeMatrices(ch);
    const naiveMs = time(() => multiplyInt8(a, b, n), reps);
    const gflops = (2 * n ** 3) / (solveMs * 1e6);
    const gpu = HARDWARE_CLASSES['gpu-consumer']!;
    const gpuFlops = 2 * gpu.n ** 3 * gpu.k;
    const gpuBudgetMs = gpuFlops / (gpu.minGflops * 1e6) + gpu.slackMs;
    console.log(
      `    n=${n}: JS solver ${solveMs.toFixed(1)} ms (${gflops.toFixed(2)} GFLOP/s → the n=${gpu.n}, k=${gpu.k} gpu-consumer chain would take ~${(gpuFlops / (gflops * 1e6) / 1000).toFixed(1)} s vs a ${gpuBudgetMs.toFixed(0)} ms budget); coordinator check: Freivalds ${FREIVALDS_ROUNDS} rounds ${freivaldsMs.toFixed(2)} ms vs naive recompute ${naiveMs.toFixed(1)} ms (${(naiveMs / freivaldsMs).toFixed(0)}× faster)`,
    );
    out[`n${n}`] = {
      solveMs,
      gflops,
      freivaldsMs,
      naiveRecomputeMs: naiveMs,
      speedup: naiveMs / freivaldsMs,
    };
  }
  return out;
}

/**
 * Benchmark entry point (see bench/run.ts): runs the scenarios and the capability timings, prints
 * the comparison and returns the figures.
 *
 * @example
 * // npm run bench -- verification-sim --providers 2000 --scenario steady --json
 * const figures = await run(['--providers', '2000', '--scenario', 'steady']);
 */
/**
 * The strategic harness (lab/verification-sim/strategic.ts): the live work loop in process with
 * scripted strategic adversaries and measured honest noise.
 *
 * @example
 * const figures = await strategic(['--tasks', '300']);
 */
async function strategic(args: string[]): Promise<StrategicResult> {
  const tasks = num(args, 'tasks', DEFAULT_STRATEGIC.tasks);
  const providers = num(args, 'providers', DEFAULT_STRATEGIC.providers);
  console.log(
    `strategic: ${tasks} tasks, ${providers} providers, ${DEFAULT_STRATEGIC.adversaryShare * 100}% adversaries (+ a Sybil burst)`,
  );
  // `--adversaries largeTasks,ring`: only these kinds (the fleet's adversary share split over them).
  const only = str(args, 'adversaries', '');
  const kinds = only ? (only.split(',') as Adversary[]) : undefined;
  for (const k of kinds ?? []) if (!ADVERSARIES.includes(k)) throw new Error(`unknown adversary ${k}`);
  const t0 = performance.now();
  let printed = 0;
  const r = await runStrategic({
    tasks,
    providers,
    seed: str(args, 'seed', DEFAULT_STRATEGIC.seed),
    models: num(args, 'models', DEFAULT_STRATEGIC.models),
    // `--concurrent N`: jobs run at once (default 0: enough to fill every slot; 1: one at a time,
    // the earlier harness, where adversaries got little work).
    concurrentJobs: num(args, 'concurrent', DEFAULT_STRATEGIC.concurrentJobs),
    ...(kinds ? { kinds } : {}),
    onProgress: (done, total) => {
      if (Math.floor(done / 1000) > printed || done === total) {
        printed = Math.floor(done / 1000);
        console.log(
          `  [strategic] ${done}/${total} tasks, ${((performance.now() - t0) / 1000).toFixed(0)} s`,
        );
      }
    },
    // `--checkpoint N`: every N tasks, the overhead so far and over the last N (a long run's trend).
    checkpoint: num(args, 'checkpoint', 0),
    onCheckpoint: (done, sofar, last, so) =>
      console.log(
        `  [checkpoint ${done}] wrong delivered so far ${so.wrongAccepted} (revoked since ${so.revoked}), honest providers faulted so far ${so.honestFaulted} (before reversals), overhead so far ${pct(sofar.overhead)}, last stretch ${pct(last.overhead)} (${Object.entries(
          last.overheadBy,
        )
          .map(([k, v]) => `${k} ${pct(v)}`)
          .join(', ')})`,
      ),
  });
  console.log(
    `  wrong accepted ${r.wrongAccepted} (${r.wrongAcceptedPer10k.toFixed(1)} per 10k; delivered wrong ${r.wrongDelivered}, revoked since ${r.revoked}, output reviews still open ${r.openReviews}), reopened after a fault ${r.reopened}, honest faulted ${r.honestFaulted}, overhead ${pct(r.overhead)}, honest profit/task ${r.honestProfitPerTask}, max adversary gain over honest/task ${r.maxExpectedProfitPerTask}, ${r.seconds.toFixed(0)} s`,
  );
  const by = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ');
  console.log(
    `  overhead (verification compute ÷ useful compute, client-requested replicas apart): ${pct(r.overhead)}; by cause: ${by(r.overheadBy)}`,
  );
  console.log(
    `  client-requested replicas (redundant(k), k − 1 per task) ${pct(r.requestedReplicas)}; with them ${pct(r.overheadWithRequested)}; counted in executions instead of compute ${pct(r.overheadExecutions)}`,
  );
  console.log(
    `  steady state (second half of the run): overhead ${pct(r.steadyState.overhead)}; by cause: ${by(r.steadyState.overheadBy)}; in executions ${pct(r.steadyState.overheadExecutions)}`,
  );
  for (const [k, v] of Object.entries(r.byAdversary)) {
    console.log(
      `  ${k.padEnd(12)} providers ${v.providers} executions ${v.executions} cheats ${v.cheats} caught ${v.caught} detectionP50 ${v.detectionP50 ?? '-'} wrongAccepted ${v.wrongAccepted} profit/task ${v.expectedProfitPerTask} gain over honest/task ${v.gainOverHonestPerTask}`,
    );
  }
  return r;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const base: Partial<SimOptions> = {
    providers: num(args, 'providers', DEFAULT_SIM_OPTIONS.providers),
    ticks: num(args, 'ticks', DEFAULT_SIM_OPTIONS.ticks),
    cheaterShare: num(args, 'cheaters', DEFAULT_SIM_OPTIONS.cheaterShare),
    noise: num(args, 'noise', DEFAULT_SIM_OPTIONS.noise),
    redundantShare: num(args, 'redundant-share', DEFAULT_SIM_OPTIONS.redundantShare),
    canaryRate: num(args, 'canary-rate', DEFAULT_SIM_OPTIONS.canaryRate),
    probationCanaryRate: num(args, 'probation-canary-rate', DEFAULT_SIM_OPTIONS.probationCanaryRate),
    genesisShare: num(args, 'genesis', DEFAULT_SIM_OPTIONS.genesisShare),
    seed: str(args, 'seed', DEFAULT_SIM_OPTIONS.seed),
  };
  const which = str(args, 'scenario', 'strategic');
  const out: Record<string, unknown> = {};
  if (which === 'strategic' || which === 'all') {
    out.strategic = await strategic(args);
    if (which === 'strategic') return out;
  }
  const scenarios = (
    [
      ['steady', false],
      ['whitewash', true],
    ] as const
  ).filter(([name]) => which === 'both' || which === 'all' || which === name);
  if (scenarios.length === 0) throw new Error('--scenario must be strategic, steady, whitewash, both or all');
  console.log(
    `verification-sim: ${base.providers} providers, ${(base.cheaterShare! * 100).toFixed(0)}% cheaters, ${base.ticks} ticks, noise ${base.noise}`,
  );
  for (const [name, whitewash] of scenarios) {
    const started = performance.now();
    const r = simulate({
      ...base,
      whitewash,
      onProgress: (p) =>
        console.log(
          `  [${name}] tick ${p.tick}/${p.ticks}: ${p.active} active, overhead so far ${pct(p.overhead)}, caught ${p.caught}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
        ),
    });
    out[name] = report(name, r, (performance.now() - started) / 1000);
  }
  if (!args.includes('--no-capability')) out.capability = capabilityTimings();
  return out;
}
