/**
 * The verification simulation engine behind `npm run bench -- verification-sim`: a population of
 * simulated providers (honest with float noise, and a configurable share of cheaters of mixed kinds)
 * receiving tasks tick by tick, verified by the real code of this folder — commit–reveal,
 * tolerance-aware comparison, TaskVerification, AdaptiveAuditPolicy, Beta reputation, CanaryPool and
 * capability proofs. Only the providers are simulated; every verification decision is the real one.
 */
import type { Hex } from 'viem';
import { AdaptiveAuditPolicy } from '../../src/coordinator/verification/auditPolicy.ts';
import { CanaryPool } from '../../src/coordinator/verification/canaryPool.ts';
import {
  assessCapability,
  HARDWARE_CLASSES,
  type HardwareClass,
  makeCapabilityChallenge,
} from '../../src/coordinator/verification/capabilityProof.ts';
import { compareTensorSets } from '../../src/coordinator/verification/compareTensors.ts';
import { DEFAULT_TRUST_PARAMS } from '../../src/coordinator/verification/constants.ts';
import {
  isTrusted,
  newReputation,
  reputationScore,
  updateReputation,
} from '../../src/coordinator/verification/reputation.ts';
import { type FaultKind, slashAmount } from '../../src/coordinator/verification/slashing.ts';
import { TaskVerification } from '../../src/coordinator/verification/taskVerification.ts';
import { solveCapabilityChallenge } from '../../src/protocol/capabilityChallenge.ts';
import { computeCommitment } from '../../src/protocol/commitment.ts';
import { Rng } from '../../src/protocol/rng.ts';
import { type TensorSet, tensorSetDigest } from '../../src/protocol/tensorSet.ts';
import { executeAs } from './adversary.ts';
import { behaviourFor, CHEATER_MIX, type Label, type Provider, quantile } from './population.ts';

/**
 * Options of {@link simulate}; every field has a default.
 *
 * @example
 * simulate({ providers: 2000, ticks: 300, whitewash: true } satisfies Partial<SimOptions>);
 */
export type SimOptions = {
  /** Providers at the start (default 1000). */
  providers: number;
  /** Ticks; each active provider receives one task as primary per tick (default 500). */
  ticks: number;
  /** Share of cheaters of mixed kinds (default 0.2). */
  cheaterShare: number;
  /** Relative float noise of half the honest fleet (TF32-like; the other half 1e-6). Default 1e-3. */
  noise: number;
  /** Share of tasks whose job asks for redundant(2) instead of the default audit (default 0.05). */
  redundantShare: number;
  /** Canary share for providers with a verified record (default 0.02). */
  canaryRate: number;
  /** Canary share for providers with no verified record yet (probation; default 1). */
  probationCanaryRate: number;
  /** Caught cheaters rejoin at once under a fresh identity, keeping the cheater share constant. */
  whitewash: boolean;
  /** Share of the fleet that are trusted honest genesis operators at network start (default 0.02). */
  genesisShare: number;
  seed: string;
  /** Called a few times during the run. */
  onProgress?: (p: { tick: number; ticks: number; active: number; overhead: number; caught: number }) => void;
};

/**
 * Default simulation options.
 *
 * @example
 * simulate({ ...DEFAULT_SIM_OPTIONS, cheaterShare: 0.3 });
 */
export const DEFAULT_SIM_OPTIONS: SimOptions = {
  providers: 1000,
  ticks: 500,
  cheaterShare: 0.2,
  noise: 1e-3,
  redundantShare: 0.05,
  canaryRate: 0.02,
  probationCanaryRate: 1,
  whitewash: false,
  genesisShare: 0.02,
  seed: 'verification-sim-1',
};

/**
 * Detection figures for one kind of provider.
 *
 * @example
 * const k: KindFigures = simulate().byKind['wrong-10%']!; k.shareCaughtWithin500;
 */
export type KindFigures = {
  providers: number;
  caught: number;
  p50: number;
  p99: number;
  max: number | null;
  /** Among providers caught or with ≥ 500 tasks: share caught within 50 / 500 tasks. */
  shareCaughtWithin50: number | null;
  shareCaughtWithin500: number | null;
  uncaught: number;
  uncaughtMaxTasks: number;
  gpuTrusted: number;
  timeouts: number;
  meanScore: number;
  /** How the caught ones were caught: outvoted by an audit, failed canary, or a reveal that did not open. */
  caughtBy: Partial<Record<FaultKind, number>>;
};

/**
 * What {@link simulate} measured.
 *
 * @example
 * const { steadyStateOverhead, honestMarkedFaulty }: SimResult = simulate();
 */
export type SimResult = {
  options: Omit<SimOptions, 'onProgress'>;
  tasks: number;
  /** Extra ÷ useful executions for default-policy tasks + canaries, over the second half of the run. */
  steadyStateOverhead: number;
  wholeRunOverhead: number;
  /** Extra ÷ useful executions of the redundant(2) jobs in the same run (full replication). */
  fullReplicationOverhead: number;
  honestProviders: number;
  honestMarkedFaulty: number;
  byKind: Record<string, KindFigures>;
  fakeHardware: number;
  fakeHardwareFlagged: number;
  honestGpuClaims: number;
  honestGpuTrusted: number;
  slowDisconnectAbandoned: number;
  slowDisconnectMeanScore: number;
  honestMeanScore: number;
  wrongAcceptedUnaudited: number;
  wrongAcceptedVerified: number;
  usefulTasks: number;
  disputed: number;
  rejected: number;
  capabilityChecks: number;
  /** Auditor or tie-breaker picks that found no trusted provider and fell back to the best of a few. */
  untrustedHelperPicks: number;
  slashedBaseUnits: bigint;
};

/**
 * Runs the simulation. Deterministic for a given seed.
 *
 * @example
 * const r = simulate({ providers: 200, ticks: 40 });
 * r.honestMarkedFaulty; // 0
 */
export function simulate(options: Partial<SimOptions> = {}): SimResult {
  const o: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...options };
  const { seed, noise, canaryRate, probationCanaryRate, redundantShare, whitewash, ticks } = o;
  const nProviders = o.providers;
  const cheaterShare = o.cheaterShare;
  const rng = new Rng(seed);

  // Economics per task, in base units: reward R, honest cost C, stake; F = slashAmount(R, stake).
  const reward = 100n;
  const honestCost = 70n;
  const stakePerProvider = 5_000n;
  const slashable = slashAmount({ reward, stake: stakePerProvider });
  const TICK_MS = 60_000;

  // Capability proofs at a reduced size (n = 48, one product, answer really computed and checked
  // with Freivalds) in a scaled timing world: the gpu-consumer throughput bar, with slack and
  // round trip scaled by 48³ / (n³·k) so compute, slack and network keep the ratios of the
  // full-size chained challenge. A provider's elapsed time is simulated from its real throughput.
  const full = HARDWARE_CLASSES['gpu-consumer']!;
  const scale = 48 ** 3 / (full.n ** 3 * full.k);
  const gpuClass: HardwareClass = {
    ...full,
    n: 48,
    k: 1,
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
      caughtBy: undefined,
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
  // Genesis operators: a few honest providers run by the network's founders start trusted, as if
  // they had already passed `minConsecutiveValid` verified tasks (a permissioned bootstrap).
  const nGenesis = Math.round(nProviders * o.genesisShare);
  for (const p of all.filter((x) => x.label === 'honest').slice(0, nGenesis)) {
    for (let i = 0; i < DEFAULT_TRUST_PARAMS.minConsecutiveValid; i++)
      p.rep = updateReputation(p.rep, 'valid', 0);
  }

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

  // Auditors and tie-breakers come from the trusted providers only (drawn at random). Should none be
  // available the best-scored of a few random providers is used; the genesis operators make sure
  // that never happens at network start, where two identical lazy outputs could otherwise agree.
  const pickHelper = (
    exclude: Hex[],
    trustedOnly: boolean,
    active: Provider[],
    trusted: Provider[],
  ): Provider => {
    const ex = new Set(exclude.map((x) => x.toLowerCase()));
    const pool = trustedOnly ? trusted : active;
    for (let tries = 0; tries < 64 && pool.length > 0; tries++) {
      const c = rng.pick(pool);
      if (c.active && !ex.has(c.id.toLowerCase()) && (!trustedOnly || isTrusted(c.rep))) return c;
    }
    fallbackPicks++;
    let best: Provider | undefined;
    for (let i = 0; i < 8; i++) {
      const c = rng.pick(active);
      if (!ex.has(c.id.toLowerCase()) && (!best || reputationScore(c.rep) > reputationScore(best.rep)))
        best = c;
    }
    return best ?? active.find((c) => !ex.has(c.id.toLowerCase()))!;
  };
  let fallbackPicks = 0;

  for (let tick = 0; tick < ticks; tick++) {
    const now = tick * TICK_MS;
    const inWindow = tick >= windowStart;
    const active = all.filter((p) => p.active);
    const trusted = active.filter((p) => isTrusted(p.rep));
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
              : pickHelper([...req.exclude, ...batch.map((b) => b.p.id)], req.trustedOnly, active, trusted);
            first = false;
            // Trusted when assigned, as the coordinator records it: a verdict with no trusted
            // member is accepted unverified.
            tv.assign(p.id, req.role, isTrusted(p.rep));
            batch.push({ p, act: executeAs(p.behaviour, truth, rng) });
          }
        }
        if (batch.length === 0) break;
        const revealed: Array<{ p: Provider; tensors: TensorSet; salt: Hex; digest: Hex }> = [];
        const copycats: Array<{ p: Provider; salt: Hex; guess: TensorSet }> = [];
        for (const { p, act } of batch) {
          if (act.action === 'abandon') {
            tv.abandon(p.id);
            p.timeouts++;
            cnt.abandonedExec++;
            continue;
          }
          // A provider's random 32-byte salt (from the seeded generator, so runs are reproducible).
          let salt = '0x';
          for (let w = 0; w < 8; w++) salt += rng.nextUint32().toString(16).padStart(8, '0');
          const tensors = act.action === 'output' ? act.tensors : act.guess;
          const digest = tensorSetDigest(tensors);
          tv.commit(
            p.id,
            computeCommitment({ taskId, provider: p.id, outputDigest: digest, salt: salt as Hex }),
          );
          if (act.action === 'copy') copycats.push({ p, salt: salt as Hex, guess: act.guess });
          else {
            revealed.push({ p, tensors, salt: salt as Hex, digest });
            outputs.set(p.id.toLowerCase() as Hex, tensors);
          }
        }
        for (const r of revealed) {
          tv.reveal(r.p.id, { outputDigest: r.digest, salt: r.salt, tensors: r.tensors });
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
        if (p.caughtAfter === undefined) {
          p.caughtAfter = p.tasks;
          p.caughtBy = s.evidence.kind;
        }
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
      o.onProgress?.({
        tick: tick + 1,
        ticks,
        active: all.filter((p) => p.active).length,
        overhead: ov,
        caught: all.filter((p) => p.caughtAfter !== undefined).length,
      });
    }
  }

  // Figures.
  const steadyOverhead = (cnt.wExtra + cnt.wCanaryExec) / cnt.wUseful;
  const wholeOverhead = (cnt.extra + cnt.canaryExec) / cnt.useful;
  const redundantOverhead = cnt.redundantTasks > 0 ? cnt.redundantExec / cnt.redundantTasks - 1 : Number.NaN;
  const byKind: Record<string, KindFigures> = {};
  for (const kind of CHEATER_MIX.map(([l]) => l)) {
    const ps = all.filter((p) => p.label === kind);
    const c = ps.filter((p) => p.caughtAfter !== undefined).map((p) => p.caughtAfter!);
    // A provider that joined late may not have had the chance: judge those caught or with ≥ 500 tasks.
    const matured = ps.filter((p) => p.caughtAfter !== undefined || p.tasks >= 500);
    const within = (n: number) =>
      matured.filter((p) => p.caughtAfter !== undefined && p.caughtAfter <= n).length;
    const uncaught = ps.filter((p) => p.caughtAfter === undefined);
    byKind[kind] = {
      providers: ps.length,
      caught: c.length,
      p50: quantile(c, 0.5),
      p99: quantile(c, 0.99),
      max: c.length ? Math.max(...c) : null,
      shareCaughtWithin50: matured.length ? within(50) / matured.length : null,
      shareCaughtWithin500: matured.length ? within(500) / matured.length : null,
      uncaught: uncaught.length,
      uncaughtMaxTasks: uncaught.length ? Math.max(...uncaught.map((p) => p.tasks)) : 0,
      gpuTrusted: ps.filter((p) => p.gpuTrusted).length,
      timeouts: ps.reduce((a, p) => a + p.timeouts, 0),
      meanScore: ps.reduce((a, p) => a + reputationScore(p.rep), 0) / Math.max(1, ps.length),
      caughtBy: ps.reduce<Partial<Record<FaultKind, number>>>((acc, p) => {
        if (p.caughtBy) acc[p.caughtBy] = (acc[p.caughtBy] ?? 0) + 1;
        return acc;
      }, {}),
    };
  }
  const honest = all.filter((p) => p.label === 'honest');
  const fake = all.filter((p) => p.label === 'fake-hardware');
  const slowish = all.filter((p) => p.label === 'slow' || p.label === 'disconnect');
  const honestGpu = honest.filter((p) => p.claimsGpu);
  const { onProgress: _omit, ...plain } = o;
  return {
    options: plain,
    tasks: taskCounter,
    steadyStateOverhead: steadyOverhead,
    wholeRunOverhead: wholeOverhead,
    fullReplicationOverhead: redundantOverhead,
    honestProviders: honest.length,
    honestMarkedFaulty: honestFaulted.size,
    byKind,
    fakeHardware: fake.length,
    fakeHardwareFlagged: fake.filter((p) => !p.gpuTrusted).length,
    honestGpuClaims: honestGpu.length,
    honestGpuTrusted: honestGpu.filter((p) => p.gpuTrusted).length,
    slowDisconnectAbandoned: slowish.reduce((a, p) => a + p.timeouts, 0),
    slowDisconnectMeanScore:
      slowish.reduce((a, p) => a + reputationScore(p.rep), 0) / Math.max(1, slowish.length),
    honestMeanScore: honest.reduce((a, p) => a + reputationScore(p.rep), 0) / Math.max(1, honest.length),
    wrongAcceptedUnaudited: cnt.wrongUnaudited,
    wrongAcceptedVerified: cnt.acceptedWrong,
    usefulTasks: cnt.useful,
    disputed: cnt.disputed,
    rejected: cnt.rejected,
    capabilityChecks,
    untrustedHelperPicks: fallbackPicks,
    slashedBaseUnits: slashedTotal.amount,
  };
}
