/**
 * For the work loop's unit tests only: an in-memory SQLite store with the loop's state and
 * services wired as the coordinator wires them (createWorkContext), a controllable clock, an
 * in-memory blob store, jobs inserted straight into the store, and scripted providers: each a
 * `ProviderLink` whose `send` records every message, with helpers that sign results, commitments
 * and failure reports as a real agent does.
 */
import { randomBytes } from 'node:crypto';
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { createLogger } from '../../logger.ts';
import { computeCommitment } from '../../protocol/commitment.ts';
import { privateKeyToNativeAccount, signPlexusMessage } from '../../protocol/eip712.ts';
import { cidOf, cidToBytes32 } from '../../protocol/ids.ts';
import { encodeSafetensors } from '../../protocol/safetensors.ts';
import type {
  CoordinatorMessage,
  JobVerification,
  OnnxInferSpec,
  ProviderCommit,
  ProviderFailure,
  ProviderResult,
} from '../../protocol/schemas.ts';
import { type TensorSet, tensorSetDigest } from '../../protocol/tensorSet.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import { createEventLog } from '../events/createEventLog.ts';
import { findJob } from '../jobs/jobQueries.ts';
import type { Market } from '../market/createMarket.ts';
import { createMetrics } from '../metrics.ts';
import { createLeastLoadedScheduler } from '../scheduler/leastLoadedScheduler.ts';
import { openStore } from '../store/openStore.ts';
import { newReputation } from '../verification/reputation.ts';
import type { CapabilityProofOptions } from './capabilityProofs.ts';
import { createWorkContext } from './createWorkLoop.ts';
import { handleCommit, handleResult } from './results.ts';
import { providerConnected } from './sessions.ts';
import {
  type CanaryOptions,
  defaultVerificationEconomics,
  type ProviderHello,
  type ProviderLink,
  type VerificationEconomics,
  type WorkState,
} from './workState.ts';

const CHAIN_ID = 31337;

type AssignMessage = Extract<CoordinatorMessage, { type: 'assign' }>;

/**
 * A scripted provider: its link records what the loop sends it; its helpers build signed messages.
 *
 * @example
 * const p = await f.provider();
 * await handleResult(f.state, f.work, p.address, await p.result(p.assigned()[0]!, output(1)));
 */
export type ScriptedProvider = {
  address: Address;
  link: ProviderLink;
  /** Every message the loop sent this provider, in order. */
  sent: CoordinatorMessage[];
  /** The `assign` messages received so far. */
  assigned(): AssignMessage[];
  /**
   * The task an assignment is for, as the coordinator maps it (the `assign` names only the
   * assignment: protocol v3), a task or a canary lease; undefined for an unknown id.
   */
  taskOf(a: { assignmentId: string } | undefined): string | undefined;
  /** The `assign` messages received so far for task `taskId` (by the coordinator's mapping). */
  assignedTo(taskId: string): AssignMessage[];
  /** A hello for this provider (CPU only, `slots` slots). */
  hello(slots?: number, inFlight?: string[]): ProviderHello;
  /**
   * Uploads `tensors` and signs a result for `a`; `reveal` adds the v2 digest and salt; `usage`
   * replaces the measured usage reported (10 ms by default).
   */
  result(
    a: { assignmentId: string; taskId: string },
    tensors: TensorSet,
    reveal?: { salt: Hex },
    usage?: { wallMs: number; cpuMs: number; peakRssBytes: number },
  ): Promise<ProviderResult>;
  /** Signs a v2 commitment to `tensors` with `salt`. */
  commit(a: { assignmentId: string; taskId: string }, tensors: TensorSet, salt: Hex): Promise<ProviderCommit>;
  /** Signs a failure report. */
  failure(
    a: { assignmentId: string; taskId: string },
    code?: string,
    message?: string,
  ): Promise<ProviderFailure>;
};

/**
 * A fresh loop on an in-memory store.
 *
 * @example
 * const f = await workFixture();
 * try { ... } finally { await f.close(); }
 */
export async function workFixture(
  opts: {
    canaries?: CanaryOptions;
    market?: Market;
    verification?: Partial<VerificationEconomics>;
    funderOf?: (provider: string) => Promise<string | null>;
    /** Capability-proof hardware classes (tests with GPU providers size them down). */
    capabilityClasses?: CapabilityProofOptions['classes'];
  } = {},
) {
  const store = await openStore({ path: ':memory:' });
  const { db } = store;
  /** The coordinator's own mapping of an assignment id to its task (a task or a canary lease). */
  const taskOfAssignment = (id: string): string | undefined => {
    const row = (store.sqlite?.prepare('SELECT task_id FROM assignments WHERE id = ?').get(id) ??
      store.sqlite?.prepare('SELECT task_id FROM canary_assignments WHERE id = ?').get(id)) as
      | { task_id: string }
      | undefined;
    return row?.task_id;
  };
  const files = new Map<string, Uint8Array>();
  const blobs = {
    async size(cid: string) {
      return files.get(cid)?.byteLength;
    },
    async read(cid: string) {
      const b = files.get(cid);
      if (!b) throw new Error(`no blob ${cid}`);
      return b;
    },
  } as unknown as BlobStore;
  const clock = { t: 1_700_000_000_000 };
  let nonce = 0;
  const { state, work } = createWorkContext({
    db,
    blobs,
    events: createEventLog(db, store.raw),
    scheduler: createLeastLoadedScheduler(),
    chainId: CHAIN_ID,
    log: createLogger('work-test', { level: 'silent' }),
    metrics: createMetrics(),
    now: () => clock.t,
    canaries: opts.canaries ?? { rate: 0 },
    ...(opts.verification
      ? { verification: { ...defaultVerificationEconomics(), ...opts.verification } }
      : {}),
    ...(opts.market ? { market: opts.market } : {}),
    ...(opts.funderOf ? { funderOf: opts.funderOf } : {}),
    capability: {
      intervalMs: 3_600_000,
      ...(opts.capabilityClasses ? { classes: opts.capabilityClasses } : {}),
    },
    raw: store.raw,
  });

  /** Stores bytes as a blob and returns its cid. */
  function put(bytes: Uint8Array): string {
    const cid = cidOf(bytes);
    files.set(cid, bytes);
    return cid;
  }

  /** A scripted provider with a fresh key, or `key`'s account. */
  async function provider(key?: Hex): Promise<ScriptedProvider> {
    // libsecp256k1 where its binding loads: the same signatures as viem's, ~20× faster (the harness signs 2 per execution).
    const account = privateKeyToNativeAccount(key ?? generatePrivateKey());
    const address = account.address.toLowerCase() as Address;
    const taskOf = (a: { assignmentId: string } | undefined) =>
      a ? taskOfAssignment(a.assignmentId) : undefined;
    const sent: CoordinatorMessage[] = [];
    const link: ProviderLink = {
      address,
      send(msg) {
        sent.push(msg);
        return true;
      },
    };
    // Signed messages are checked against the real clock (replay window), not the loop's.
    const issuedAt = () => Math.floor(Date.now() / 1000);
    return {
      address,
      link,
      sent,
      assigned: () => sent.filter((m): m is AssignMessage => m.type === 'assign'),
      taskOf,
      assignedTo: (taskId) =>
        sent.filter((m): m is AssignMessage => m.type === 'assign' && taskOf(m) === taskId),
      hello: (slots = 1, inFlight = []) => ({
        address,
        hardware: {
          cpuModel: 'test',
          cpuCores: 4,
          memoryBytes: 8 * 1024 ** 3,
          gpus: [],
          executionProviders: ['cpu'],
        },
        slots,
        region: 'test',
        agentVersion: '0.0.0',
        cached: [],
        inFlight,
      }),
      async result(a, tensors, reveal, measured) {
        const outputCid = put(encodeSafetensors(tensors));
        // Uploaded under the provider's key, as the upload route records it (blobs/blobAccess.ts);
        // on the raw connection, so a result signed while a transaction is open does not wait on it.
        store.sqlite
          ?.prepare('INSERT OR IGNORE INTO provider_uploads (cid, provider, created_at) VALUES (?, ?, ?)')
          .run(outputCid, address, clock.t);
        const usage = measured ?? { wallMs: 10, cpuMs: 10, peakRssBytes: 1000 };
        const at = issuedAt();
        const signature = await signPlexusMessage(account, CHAIN_ID, 'TaskResult', {
          provider: address,
          assignmentId: a.assignmentId as Hex,
          taskId: a.taskId as Hex,
          outputCid: cidToBytes32(outputCid),
          wallMs: BigInt(usage.wallMs),
          cpuMs: BigInt(usage.cpuMs),
          peakRssBytes: BigInt(usage.peakRssBytes),
          issuedAt: BigInt(at),
        });
        return {
          type: 'result' as const,
          assignmentId: a.assignmentId,
          taskId: a.taskId,
          outputCid,
          usage,
          issuedAt: at,
          signature,
          ...(reveal ? { outputDigest: tensorSetDigest(tensors), salt: reveal.salt } : {}),
        };
      },
      async commit(a, tensors, salt) {
        const commitment = computeCommitment({
          taskId: a.taskId,
          provider: address,
          outputDigest: tensorSetDigest(tensors),
          salt,
        });
        const at = issuedAt();
        const signature = await signPlexusMessage(account, CHAIN_ID, 'TaskCommitment', {
          provider: address,
          assignmentId: a.assignmentId as Hex,
          taskId: a.taskId as Hex,
          commitment,
          issuedAt: BigInt(at),
        });
        return {
          type: 'commit' as const,
          assignmentId: a.assignmentId,
          taskId: a.taskId,
          commitment,
          issuedAt: at,
          signature,
        };
      },
      async failure(a, code = 'PLX_RUNTIME_FAILED', message = 'the model crashed') {
        const at = issuedAt();
        const signature = await signPlexusMessage(account, CHAIN_ID, 'TaskFailure', {
          provider: address,
          assignmentId: a.assignmentId as Hex,
          taskId: a.taskId as Hex,
          reasonHash: keccak256(toBytes(`${code}:${message}`)),
          issuedAt: BigInt(at),
        });
        return {
          type: 'failure' as const,
          assignmentId: a.assignmentId,
          taskId: a.taskId,
          code,
          message,
          issuedAt: at,
          signature,
        };
      },
    } as ScriptedProvider;
  }

  /** Inserts a queued job with `tasks` tasks (as the job submitter would) and returns its ids. */
  async function submitJob(
    o: {
      tasks?: number;
      verification?: JobVerification;
      maxAttempts?: number;
      taskTimeoutSec?: number;
      deadlineSec?: number;
      /** The submitting client (a fixed address by default). */
      client?: string;
      /** The model's cid (a fresh random model by default). */
      model?: string;
    } = {},
  ): Promise<{ jobId: string; taskIds: string[] }> {
    const jobId = `0x${randomBytes(32).toString('hex')}`;
    const inputs = Array.from({ length: o.tasks ?? 1 }, (_, i) => put(encodeSafetensors(output(i))));
    const spec: OnnxInferSpec = {
      kind: 'onnx.infer',
      model: o.model ?? put(randomBytes(16)),
      inputs,
      resources: { minMemoryMiB: 0, gpu: false },
      deadline: Math.floor(clock.t / 1000) + (o.deadlineSec ?? 3600),
      maxAttempts: o.maxAttempts ?? 3,
      taskTimeoutSec: o.taskTimeoutSec ?? 60,
      verification: o.verification ?? { policy: 'none' },
    };
    const t = clock.t;
    await db
      .insertInto('jobs')
      .values({
        id: jobId,
        client: o.client ?? '0x000000000000000000000000000000000000c11e',
        nonce: String(++nonce),
        kind: spec.kind,
        spec: JSON.stringify(spec),
        status: 'queued',
        tasks_total: inputs.length,
        deadline_ms: spec.deadline * 1000,
        issued_at: Math.floor(t / 1000),
        signature: '0x',
        error_code: null,
        error_message: null,
        created_at: t,
        updated_at: t,
      })
      .execute();
    const taskIds = inputs.map(() => `0x${randomBytes(32).toString('hex')}`);
    await db
      .insertInto('tasks')
      .values(
        inputs.map((input, idx) => ({
          id: taskIds[idx]!,
          job_id: jobId,
          idx,
          input_cid: input,
          status: 'queued' as const,
          attempts: 0,
          output_cid: null,
          provider: null,
          result: null,
          last_error: null,
          queued_at: t + idx,
          updated_at: t,
        })),
      )
      .execute();
    return { jobId, taskIds };
  }

  /** Event types appended so far (optionally of one job), oldest first. */
  async function eventTypes(jobId?: string): Promise<string[]> {
    let q = db.selectFrom('events').select(['type', 'job_id']).orderBy('id');
    if (jobId) q = q.where('job_id', '=', jobId);
    return (await q.execute()).map((e) => e.type);
  }

  /** Waits until no dispatch run is in progress (the loop starts them fire-and-forget). */
  async function idle(): Promise<void> {
    await settle();
    while (state.dispatching) {
      await state.dispatching;
      await settle();
    }
  }

  /** A scripted provider, connected with one slot (what most tests start from). */
  async function connected(): Promise<ScriptedProvider> {
    const p = await provider();
    await providerConnected(state, work, p.link, p.hello(1));
    return p;
  }

  return {
    db,
    /** The store's raw connection (to count the statements a step runs). */
    raw: store.raw,
    idle,
    state: state as WorkState,
    work,
    clock,
    put,
    provider,
    connected,
    submitJob,
    eventTypes,
    task: (id: string) => db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    /** Sets a job's done count (its job_progress row, 0059), as that many verdicts would. */
    setTasksDone: (jobId: string, n: number) =>
      db
        .insertInto('job_progress')
        .values({ job_id: jobId, tasks_done: n, updated_at: clock.t })
        .onConflict((oc) => oc.column('job_id').doUpdateSet({ tasks_done: n }))
        .execute(),
    job: async (id: string) => {
      const job = await findJob(db, id);
      if (!job) throw new Error(`no job ${id}`);
      return job;
    },
    /** The task an assignment is for, as the coordinator maps it (an `assign` names no task: protocol v3). */
    taskOf: (a: { assignmentId: string } | undefined) => (a ? taskOfAssignment(a.assignmentId) : undefined),
    assignments: (taskId: string) =>
      db.selectFrom('assignments').selectAll().where('task_id', '=', taskId).orderBy('created_at').execute(),
    async close() {
      work.proofs.close();
      await store.close();
    },
  };
}

/**
 * A small output tensor set; different `seed`s give different digests.
 *
 * @example
 * const out = output(1);
 */
/**
 * Commits and then reveals `t` for assignment `a` as a v2 agent does (a signed commitment with a
 * fresh salt, then the result opening it), and waits for the work loop to settle.
 *
 * @example await commitAndReveal(f, provider, provider.assigned()[0]!, output(1));
 */
export async function commitAndReveal(
  f: Awaited<ReturnType<typeof workFixture>>,
  p: ScriptedProvider,
  a: { assignmentId: string; taskId: string },
  t: TensorSet,
): Promise<void> {
  const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
  await handleCommit(f.state, f.work, p.address, await p.commit(a, t, salt));
  await handleResult(f.state, f.work, p.address, await p.result(a, t, { salt }));
  await f.idle();
}

export function output(seed: number): TensorSet {
  return { y: { dtype: 'float32', shape: [2], data: new Float32Array([seed, seed + 0.5]) } };
}

/**
 * Lets queued microtasks and fire-and-forget dispatches run.
 *
 * @example
 * await settle();
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A review check by a fresh trusted provider (a long record, connected now, so it is the only
 * eligible checker online): its next slot takes the open review's check, answered with `t`.
 * Returns the checker and its lease.
 *
 * @example const { checker } = await checkReview(f, output(3));
 */
export async function checkReview(f: Awaited<ReturnType<typeof workFixture>>, t: TensorSet) {
  const checker = await f.provider();
  f.state.reputations.set(checker.address, {
    ...newReputation(f.clock.t),
    alpha: 40,
    consecutiveValid: 25,
    verifiedValid: 25,
  });
  await providerConnected(f.state, f.work, checker.link, checker.hello(1));
  await f.submitJob({ tasks: 4 });
  await f.work.dispatch();
  await f.idle();
  const lease = checker.assigned()[0];
  if (!lease) throw new Error('the trusted checker got no assignment');
  const row = await f.db
    .selectFrom('canary_reviews')
    .select('id')
    .where('check_lease_id', '=', lease.assignmentId)
    .executeTakeFirst();
  if (!row) throw new Error('the trusted slot did not go to a review check');
  await commitAndReveal(f, checker, lease, t);
  return { checker, lease };
}

/**
 * Makes `addresses` known to the store as providers that connected from an address that tells
 * nothing (a ring member connected to another replica, say): reviews about them can be checked.
 *
 * @example await knownToStore(f, [ring]);
 */
export async function knownToStore(
  f: Awaited<ReturnType<typeof workFixture>>,
  addresses: readonly string[],
  prefix = '',
): Promise<void> {
  for (const address of addresses) {
    await f.db
      .insertInto('providers')
      .values({
        address: address.toLowerCase(),
        hardware: '{}',
        slots: 1,
        region: 'r',
        agent_version: 'test',
        connected: 0,
        first_seen: 0,
        last_seen: 0,
        tasks_completed: 0,
        tasks_failed: 0,
        reputation: null,
        network_prefix: prefix,
      })
      .onConflict((oc) => oc.column('address').doUpdateSet({ network_prefix: prefix }))
      .execute();
  }
}

/**
 * A market that admits everyone and bills nothing (no chain), for tests that need `market` set
 * (deferred billing, holds, compensations); `extra` overrides or adds members.
 *
 * @example const f = await workFixture({ market: idleMarket({ currentEpoch: async () => 7 }) });
 */
export function idleMarket(extra: Record<string, unknown> = {}): Market {
  return {
    ineligible: () => new Set<string>(),
    leaseClass: () => 'cpu',
    clientHeld: () => false,
    stakeOf: () => undefined,
    standingOf: () => undefined,
    async onVerdict() {},
    async onConnected() {},
    async onDisconnected() {},
    ...extra,
  } as unknown as Market;
}
