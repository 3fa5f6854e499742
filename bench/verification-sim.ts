/**
 * verification-sim: thousands of simulated providers, a configurable share of them cheating in
 * mixed ways, driving the real verification code (src/coordinator/verification: commit–reveal,
 * tolerance-aware comparison, TaskVerification, AdaptiveAuditPolicy, Beta reputation, CanaryPool,
 * capability proofs). Reports the verification overhead at steady state next to full replication,
 * tasks until each kind of cheater is caught, and honest providers marked faulty.
 *
 * Options: --providers N (1000) --ticks T (500) --cheaters F (0.2) --seed S --noise X (1e-3)
 *          --redundant-share F (0.05) --canary-rate F (0.02) --probation-canary-rate F (1) --no-whitewash
 * A tick gives every active provider one task as primary. Caught cheaters are banned and, unless
 * --no-whitewash, rejoin under a fresh identity (so the cheater share stays constant).
 */
import { type Hex, keccak256, toHex } from 'viem';
import { AdaptiveAuditPolicy } from '../src/coordinator/verification/auditPolicy.ts';
import { CanaryPool } from '../src/coordinator/verification/canaryPool.ts';
import {
  assessCapability,
  HARDWARE_CLASSES,
  type HardwareClass,
  makeCapabilityChallenge,
  solveCapabilityChallenge,
} from '../src/coordinator/verification/capabilityProof.ts';
import { computeCommitment } from '../src/coordinator/verification/commitReveal.ts';
import { compareTensorSets } from '../src/coordinator/verification/compareTensors.ts';
import {
  isTrusted,
  newReputation,
  type ReputationState,
  reputationScore,
  updateReputation,
} from '../src/coordinator/verification/reputation.ts';
import { Rng } from '../src/coordinator/verification/rng.ts';
import {
  type Behaviour,
  type BehaviourKind,
  executeAs,
} from '../src/coordinator/verification/sim/adversary.ts';
import { slashAmount } from '../src/coordinator/verification/slashing.ts';
import { TaskVerification } from '../src/coordinator/verification/taskVerification.ts';
import { type TensorSet, tensorSetDigest } from '../src/coordinator/verification/tensors.ts';

type Label =
  | 'honest'
  | 'always-wrong'
  | 'wrong-10%'
  | 'lazy-zeros'
  | 'lazy-random'
  | 'copycat'
  | 'fake-hardware'
  | 'slow'
  | 'disconnect';

/** Share of each cheater kind among cheaters (sums to 1). */
const CHEATER_MIX: Array<[Label, number]> = [
  ['always-wrong', 0.15],
  ['wrong-10%', 0.3],
  ['lazy-zeros', 0.1],
  ['lazy-random', 0.1],
  ['copycat', 0.1],
  ['fake-hardware', 0.1],
  ['slow', 0.075],
  ['disconnect', 0.075],
];

function behaviourFor(label: Label, noise: number, rng: Rng): Behaviour {
  switch (label) {
    case 'honest':
      // Half the honest fleet differs from the truth like a TF32 GPU, half like another CPU.
      return { kind: 'honest', noise: rng.next() < 0.5 ? noise : 1e-6 };
    case 'always-wrong':
      return { kind: 'always-wrong' };
    case 'wrong-10%':
      return { kind: 'wrong-sometimes', p: 0.1 };
    case 'lazy-zeros':
      return { kind: 'lazy', mode: 'zeros' };
    case 'lazy-random':
      return { kind: 'lazy', mode: 'random' };
    case 'copycat':
      return { kind: 'copycat' };
    case 'fake-hardware':
      return { kind: 'fake-hardware', actualGflops: 50 }; // a fast multi-core CPU
    case 'slow':
      return { kind: 'slow', p: 0.6 };
    case 'disconnect':
      return { kind: 'disconnect', p: 0.3 };
  }
}

type Provider = {
  id: Hex;
  label: Label;
  behaviour: Behaviour;
  rep: ReputationState;
  stake: bigint;
  active: boolean;
  claimsGpu: boolean;
  gpuTrusted: boolean;
  tasks: number; // tasks received as primary (canaries included)
  caughtAfter: number | undefined;
  timeouts: number;
};

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`--${name} needs a number`);
  return v;
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const started = performance.now();
  const nProviders = arg(args, 'providers', 1000);
  const ticks = arg(args, 'ticks', 500);
  const cheaterShare = arg(args, 'cheaters', 0.2);
  const noise = arg(args, 'noise', 1e-3);
  const redundantShare = arg(args, 'redundant-share', 0.05);
  const canaryRate = arg(args, 'canary-rate', 0.02);
  const probationCanaryRate = arg(args, 'probation-canary-rate', 1);
  const whitewash = !args.includes('--no-whitewash');
  const seedIdx = args.indexOf('--seed');
  const seed = seedIdx >= 0 ? String(args[seedIdx + 1]) : 'verification-sim-1';
  const rng = new Rng(seed);

  // Economics per task, in base units: reward R, honest cost C, stake; F = slashAmount(R, stake).
  const reward = 100n;
  const honestCost = 70n;
  const stakePerProvider = 5_000n;
  const slashable = slashAmount({ reward, stake: stakePerProvider });
  const TICK_MS = 60_000;

  // Capability proofs at a reduced size (n = 48, answer really computed and checked with
  // Freivalds) in a scaled timing world: the gpu-consumer throughput bar, with slack and round
  // trip scaled by (48/2048)³ so compute, slack and network keep the ratios of the full-size
  // challenge. A provider's elapsed time is simulated from its real throughput.
  const scale = (48 / HARDWARE_CLASSES['gpu-consumer']!.n) ** 3;
  const gpuClass: HardwareClass = {
    ...HARDWARE_CLASSES['gpu-consumer']!,
    n: 48,
    slackMs: HARDWARE_CLASSES['gpu-consumer']!.slackMs * scale,
  };
  let capabilityChecks = 0;
  const proveCapability = (p: Provider, nonce: string): void => {
    if (!p.claimsGpu) return;
    capabilityChecks++;
    const ch = makeCapabilityChallenge({
      challengeId: `${p.id}:${nonce}`,
      seed: `${seed}:${p.id}:${nonce}`,
      hardwareClass: gpuClass,
    });
    const ans = solveCapabilityChallenge(ch);
    // Genuine GPUs sustain 2–10× the class bar; the fake one computes at its CPU speed.
    const gflops =
      p.behaviour.kind === 'fake-hardware'
        ? p.behaviour.actualGflops
        : gpuClass.minGflops * (2 + 8 * rng.next());
    const rttMs = (20 + rng.next() * 100) * scale;
    const elapsedMs =
      ((2 * gpuClass.n ** 3) / (gflops * 1e9)) * 1000 + rttMs + rng.next() * gpuClass.slackMs * 0.5;
    const v = assessCapability({
      challenge: ch,
      hardwareClass: gpuClass,
      committedDigest: ans.digest,
      product: ans.product,
      elapsedMs,
      rttMs,
      verifierSeed: `${seed}:verifier`,
    });
    p.gpuTrusted = v.gpuTrusted;
  };

  let nextProvider = 0;
  const makeProvider = (label: Label, now: number): Provider => {
    const id = `0x${(++nextProvider).toString(16).padStart(40, '0')}` as Hex;
    const p: Provider = {
      id,
      label,
      behaviour: behaviourFor(label, noise, rng),
      rep: newReputation(now),
      stake: stakePerProvider,
      active: true,
      claimsGpu: label === 'fake-hardware' || rng.next() < 0.5,
      gpuTrusted: false,
      tasks: 0,
      caughtAfter: undefined,
      timeouts: 0,
    };
    proveCapability(p, 'registration');
    return p;
  };

  const all: Provider[] = [];
  const byId = new Map<string, Provider>();
  const add = (p: Provider) => {
    all.push(p);
    byId.set(p.id.toLowerCase(), p);
  };
  const nCheaters = Math.round(nProviders * cheaterShare);
  let assigned = 0;
  for (const [label, share] of CHEATER_MIX) {
    const count = label === CHEATER_MIX.at(-1)![0] ? nCheaters - assigned : Math.round(nCheaters * share);
    for (let i = 0; i < count; i++) add(makeProvider(label, 0));
    assigned += count;
  }
  while (all.length < nProviders) add(makeProvider('honest', 0));

  const get = (id: Hex): Provider => byId.get(id.toLowerCase())!;
  const audits = new AdaptiveAuditPolicy({ seed: `${seed}:audit`, reputationOf: (id) => get(id).rep });
  let taskCounter = 0;
  const newTaskId = () => `task-${(++taskCounter).toString(36)}-${rng.nextUint32().toString(36)}`;
  const canaries = new CanaryPool<{ input: string }>({ seed: `${seed}:canary`, rate: canaryRate, newTaskId });
  const truths = new Map<string, TensorSet>();

  const truthOf = (input: string): TensorSet => {
    let t = truths.get(input);
    if (!t) {
      const r = new Rng(input);
      t = {
        y: { dtype: 'float32', shape: [64], data: Float32Array.from({ length: 64 }, () => r.normal() * 3) },
      };
      if (truths.size < 5000) truths.set(input, t); // only canary inputs need to stay
    }
    return t;
  };

  // Counters. "Window" = the second half of the run (steady state).
  const windowStart = Math.floor(ticks / 2);
  const cnt = {
    useful: 0,
    extra: 0,
    canaryExec: 0,
    abandonedExec: 0,
    redundantTasks: 0,
    redundantExec: 0,
    wUseful: 0,
    wExtra: 0,
    wCanaryExec: 0,
    audited: 0,
    disputed: 0,
    acceptedWrong: 0,
    rejected: 0,
    wrongUnaudited: 0,
    gpuDenied: 0,
  };
  const honestFaulted = new Set<string>();
  const slashedTotal = { amount: 0n };

  const pickHelper = (exclude: Hex[], trustedOnly: boolean, active: Provider[]): Provider => {
    const ex = new Set(exclude.map((x) => x.toLowerCase()));
    // Trusted providers audit and break ties; before anyone is trusted (network start), the best of
    // a few random providers is used.
    for (let tries = 0; tries < 64; tries++) {
      const c = rng.pick(active);
      if (!ex.has(c.id.toLowerCase()) && (!trustedOnly || isTrusted(c.rep))) return c;
    }
    let best: Provider | undefined;
    for (let i = 0; i < 8; i++) {
      const c = rng.pick(active);
      if (!ex.has(c.id.toLowerCase()) && (!best || reputationScore(c.rep) > reputationScore(best.rep)))
        best = c;
    }
    return best ?? active.find((c) => !ex.has(c.id.toLowerCase()))!;
  };

  console.log(
    `verification-sim: ${nProviders} providers, ${(cheaterShare * 100).toFixed(0)}% cheaters, ${ticks} ticks, noise ${noise}, whitewash ${whitewash}`,
  );
  for (let tick = 0; tick < ticks; tick++) {
    const now = tick * TICK_MS;
    const inWindow = tick >= windowStart;
    const active = all.filter((p) => p.active);
    // Random re-challenges of GPU claims (about one per provider per 100 ticks).
    for (const p of active) if (p.claimsGpu && rng.next() < 0.01) proveCapability(p, `t${tick}`);
    for (const primary of active) {
      if (!primary.active) continue; // banned earlier this tick
      primary.tasks++;
      let taskId: string;
      let input: string;
      // Probation: a provider with no verified record gets known-answer tasks first.
      const probation = primary.rep.verifiedValid === 0 && primary.rep.faults === 0;
      const canary = canaries.shouldInject(
        primary.id,
        `${tick}`,
        probation ? probationCanaryRate : canaryRate,
      )
        ? canaries.issue(primary.id)
        : undefined;
      if (canary) {
        taskId = canary.taskId;
        input = canary.descriptor.input;
      } else {
        taskId = newTaskId();
        input = `${seed}:input:${taskId}`;
      }
      const answer = canaries.answerFor(taskId);
      const redundant = !answer && rng.next() < redundantShare;
      const decision = audits.shouldAudit(primary.id, { taskId, reward, honestCost, slashable });
      const tv = new TaskVerification({
        taskId,
        policy: redundant ? { kind: 'redundant', k: 2 } : { kind: 'audit' },
        audit: decision.audit,
        ...(answer ? { canary: answer } : {}),
        reward,
        stakeOf: (id) => get(id).stake,
      });
      const truth = truthOf(input);
      let first = true;
      const outputs = new Map<Hex, TensorSet>();
      for (let guard = 0; guard < 12 && !tv.verdict(); guard++) {
        const batch: Array<{ p: Provider; act: ReturnType<typeof executeAs> }> = [];
        for (const req of tv.pending()) {
          for (let i = 0; i < req.count; i++) {
            const p = first
              ? primary
              : pickHelper([...req.exclude, ...batch.map((b) => b.p.id)], req.trustedOnly, active);
            first = false;
            tv.assign(p.id, req.role);
            batch.push({ p, act: executeAs(p.behaviour, truth, rng) });
          }
        }
        if (batch.length === 0) break;
        const revealed: Array<{ p: Provider; tensors: TensorSet; salt: Hex }> = [];
        const copycats: Array<{ p: Provider; salt: Hex; guess: TensorSet }> = [];
        for (const { p, act } of batch) {
          if (act.action === 'abandon') {
            tv.abandon(p.id);
            p.timeouts++;
            cnt.abandonedExec++;
            continue;
          }
          const salt = keccak256(toHex(`${taskId}:${p.id}:${guard}`));
          const tensors = act.action === 'output' ? act.tensors : act.guess;
          tv.commit(
            p.id,
            computeCommitment({ taskId, provider: p.id, outputDigest: tensorSetDigest(tensors), salt }),
          );
          if (act.action === 'copy') copycats.push({ p, salt, guess: act.guess });
          else {
            revealed.push({ p, tensors, salt });
            outputs.set(p.id.toLowerCase() as Hex, tensors);
          }
        }
        for (const r of revealed) {
          tv.reveal(r.p.id, { outputDigest: tensorSetDigest(r.tensors), salt: r.salt, tensors: r.tensors });
        }
        // Copycats reveal last, with what a peer revealed (their own guess when alone).
        for (const c of copycats) {
          const t = revealed[0]?.tensors ?? c.guess;
          outputs.set(c.p.id.toLowerCase() as Hex, t);
          tv.reveal(c.p.id, { outputDigest: tensorSetDigest(t), salt: c.salt, tensors: t });
        }
      }
      const v = tv.verdict();
      if (!v) throw new Error(`task ${taskId} reached no verdict`);
      // Accounting.
      const abandonedHere = v.outcomes.filter((o) => o.outcome === 'timeout').length;
      const work = v.executions - abandonedHere;
      if (answer) {
        cnt.canaryExec += work;
        if (inWindow) cnt.wCanaryExec += work;
        canaries.settle(taskId);
      } else if (redundant) {
        cnt.redundantTasks++;
        cnt.redundantExec += work;
      } else if (v.status === 'accepted') {
        cnt.useful++;
        cnt.extra += work - 1;
        if (inWindow) {
          cnt.wUseful++;
          cnt.wExtra += work - 1;
        }
        if (decision.audit) cnt.audited++;
        const accepted = outputs.get(v.acceptedFrom!.toLowerCase() as Hex);
        if (!accepted || !compareTensorSets(accepted, truth).ok) {
          if (v.verified) cnt.acceptedWrong++;
          else cnt.wrongUnaudited++;
        }
      } else if (v.status === 'disputed') cnt.disputed++;
      else cnt.rejected++;
      // An accepted verified answer of a normal task can become a canary later.
      if (!answer && !redundant && v.verified && canaries.size < 200 && rng.next() < 0.05) {
        canaries.addFromVerdict({ input }, v, truth);
        truths.set(input, truth);
      }
      for (const o of v.outcomes) {
        const p = get(o.provider);
        if (o.outcome === 'valid' || o.outcome === 'fault' || o.outcome === 'timeout') {
          p.rep = updateReputation(p.rep, o.outcome, now);
        }
      }
      for (const s of v.slashes) {
        const p = get(s.provider);
        slashedTotal.amount += s.amount;
        p.stake -= s.amount;
        if (p.label === 'honest') honestFaulted.add(p.id);
        if (p.caughtAfter === undefined) p.caughtAfter = p.tasks;
        if (p.active) {
          p.active = false; // a proven fault bans the identity
          if (whitewash) add(makeProvider(p.label, now));
        }
      }
    }
    if ((tick + 1) % Math.max(1, Math.floor(ticks / 6)) === 0) {
      const ov =
        cnt.wUseful > 0
          ? (cnt.wExtra + cnt.wCanaryExec) / cnt.wUseful
          : (cnt.extra + cnt.canaryExec) / cnt.useful;
      console.log(
        `  tick ${tick + 1}/${ticks}: ${all.filter((p) => p.active).length} active, overhead ${(ov * 100).toFixed(2)}%, caught ${all.filter((p) => p.caughtAfter !== undefined).length}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  }

  // Figures.
  const steadyOverhead = (cnt.wExtra + cnt.wCanaryExec) / cnt.wUseful;
  const wholeOverhead = (cnt.extra + cnt.canaryExec) / cnt.useful;
  const redundantOverhead = cnt.redundantTasks > 0 ? cnt.redundantExec / cnt.redundantTasks - 1 : Number.NaN;
  const kinds: Label[] = CHEATER_MIX.map(([l]) => l);
  const caught: Record<string, unknown> = {};
  console.log(
    '\n  kind            providers  caught  tasks-to-catch p50 / p99 / max   still active uncaught (tasks seen)',
  );
  for (const kind of kinds) {
    const ps = all.filter((p) => p.label === kind);
    const c = ps.filter((p) => p.caughtAfter !== undefined).map((p) => p.caughtAfter!);
    // A provider that joined late may not have had the chance: count those with ≥ 500 tasks.
    const matured = ps.filter((p) => p.caughtAfter !== undefined || p.tasks >= 500);
    const within50 = matured.filter((p) => p.caughtAfter !== undefined && p.caughtAfter <= 50).length;
    const within500 = matured.filter((p) => p.caughtAfter !== undefined && p.caughtAfter <= 500).length;
    const uncaught = ps.filter((p) => p.caughtAfter === undefined);
    caught[kind] = {
      providers: ps.length,
      caught: c.length,
      p50: quantile(c, 0.5),
      p99: quantile(c, 0.99),
      max: c.length ? Math.max(...c) : null,
      shareCaughtWithin50: matured.length ? within50 / matured.length : null,
      shareCaughtWithin500: matured.length ? within500 / matured.length : null,
      uncaughtMaxTasks: uncaught.length ? Math.max(...uncaught.map((p) => p.tasks)) : 0,
      gpuTrusted: ps.filter((p) => p.gpuTrusted).length,
      timeouts: ps.reduce((a, p) => a + p.timeouts, 0),
      meanScore: ps.reduce((a, p) => a + reputationScore(p.rep), 0) / ps.length,
    };
    console.log(
      `  ${kind.padEnd(15)} ${String(ps.length).padStart(9)} ${String(c.length).padStart(7)}  ${String(quantile(c, 0.5)).padStart(6)} / ${String(quantile(c, 0.99)).padStart(4)} / ${String(c.length ? Math.max(...c) : '-').padStart(4)}   ${String(uncaught.length).padStart(6)} (max ${uncaught.length ? Math.max(...uncaught.map((p) => p.tasks)) : 0})`,
    );
  }
  const honest = all.filter((p) => p.label === 'honest');
  const fake = all.filter((p) => p.label === 'fake-hardware');
  const slowish = all.filter((p) => p.label === 'slow' || p.label === 'disconnect');
  const honestScore = honest.reduce((a, p) => a + reputationScore(p.rep), 0) / honest.length;
  const slowScore = slowish.reduce((a, p) => a + reputationScore(p.rep), 0) / Math.max(1, slowish.length);
  const honestGpu = honest.filter((p) => p.claimsGpu);
  console.log(`\n  verification overhead (extra ÷ useful executions), audit policy + canaries:`);
  console.log(
    `    steady state (ticks ${windowStart}–${ticks}): ${(steadyOverhead * 100).toFixed(2)}%   whole run: ${(wholeOverhead * 100).toFixed(2)}%`,
  );
  console.log(
    `    baseline full replication (redundant k=2, measured here): ${(redundantOverhead * 100).toFixed(1)}%`,
  );
  console.log(
    `  honest providers marked faulty: ${honestFaulted.size} of ${honest.length} (noise up to ${noise} relative)`,
  );
  console.log(
    `  fake-hardware flagged (gpuTrusted=false): ${fake.filter((p) => !p.gpuTrusted).length} of ${fake.length}; honest GPU claims trusted: ${honestGpu.filter((p) => p.gpuTrusted).length} of ${honestGpu.length}`,
  );
  console.log(
    `  slow/disconnect: ${slowish.reduce((a, p) => a + p.timeouts, 0)} executions abandoned and re-run elsewhere, mean score ${slowScore.toFixed(3)} vs honest ${honestScore.toFixed(3)}, ${slowish.filter((p) => p.caughtAfter !== undefined).length} marked faulty`,
  );
  console.log(
    `  wrong results accepted without audit (the residual the economic bound prices in): ${cnt.wrongUnaudited} of ${cnt.useful}; wrong results accepted after verification: ${cnt.acceptedWrong}; disputed ${cnt.disputed}, rejected ${cnt.rejected}; capability checks ${capabilityChecks}`,
  );
  const elapsed = (performance.now() - started) / 1000;
  console.log(`  ${taskCounter} tasks simulated in ${elapsed.toFixed(1)} s`);
  return {
    providers: nProviders,
    ticks,
    cheaterShare,
    noise,
    whitewash,
    tasks: taskCounter,
    steadyStateOverhead: steadyOverhead,
    wholeRunOverhead: wholeOverhead,
    fullReplicationOverhead: redundantOverhead,
    honestMarkedFaulty: honestFaulted.size,
    honestProviders: honest.length,
    caught,
    fakeHardwareFlagged: fake.filter((p) => !p.gpuTrusted).length,
    fakeHardware: fake.length,
    honestGpuTrusted: honestGpu.filter((p) => p.gpuTrusted).length,
    honestGpuClaims: honestGpu.length,
    wrongAcceptedUnaudited: cnt.wrongUnaudited,
    wrongAcceptedVerified: cnt.acceptedWrong,
    usefulTasks: cnt.useful,
    disputed: cnt.disputed,
    slashedBaseUnits: slashedTotal.amount.toString(),
    seconds: elapsed,
  };
}
