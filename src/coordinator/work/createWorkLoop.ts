import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { type Address, type Hex, keccak256, toBytes } from 'viem';
import type { ErrorCode } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import type { Logger } from '../../logger.ts';
import { DISCONNECT_GRACE_SEC } from '../../protocol/constants.ts';
import { verifyPlexusMessage } from '../../protocol/eip712.ts';
import { cidToBytes32 } from '../../protocol/ids.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import type {
  CoordinatorMessage,
  HardwareClaim,
  OnnxInferSpec,
  ProviderFailure,
  ProviderResult,
} from '../../protocol/schemas.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Metrics } from '../metrics.ts';
import type { Scheduler, TaskRequirements } from '../scheduler/types.ts';
import type { Database } from '../store/schema.ts';

/** What the work loop needs to reach one connected provider. */
export type ProviderLink = {
  address: Address;
  send(msg: CoordinatorMessage): boolean;
};

export type ProviderHello = {
  address: Address;
  hardware: HardwareClaim;
  slots: number;
  region: string;
  agentVersion: string;
  cached: string[];
  inFlight: string[];
};

export type WorkLoop = {
  providerConnected(link: ProviderLink, hello: ProviderHello): Promise<void>;
  providerDisconnected(link: ProviderLink): Promise<void>;
  /** The provider will take no new work (it is draining before shutdown). */
  providerDraining(address: Address): void;
  providerCacheChanged(address: Address, added: string[], removed: string[]): void;
  handleResult(address: Address, msg: ProviderResult): Promise<void>;
  handleFailure(address: Address, msg: ProviderFailure): Promise<void>;
  /** Assigns queued tasks to free providers. Safe to call often: runs are coalesced. */
  dispatch(): Promise<void>;
  /** Expires leases and fails jobs past their deadline. */
  sweep(): Promise<void>;
  connectedProviders(): number;
  activeOf(address: string): number;
};

type JobInfo = { spec: OnnxInferSpec; status: string };

/** Largest output file a provider may return for one task. */
const MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
/** Queued tasks read per page while dispatching. */
const DISPATCH_PAGE = 256;

/**
 * The coordinator's work loop: it turns queued tasks into leased assignments on connected
 * providers, takes signed results and failures back, retries failed or expired work elsewhere,
 * and fails jobs that run out of attempts or time. Every state change is one transaction, and
 * state lives in the store, so a restarted coordinator resumes exactly where it was.
 *
 * @example
 * const loop = createWorkLoop({ db, blobs, events, scheduler, chainId: 31337, log, metrics });
 * await loop.dispatch();
 */
export function createWorkLoop(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  scheduler: Scheduler;
  chainId: number;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
}): WorkLoop {
  const { db, events, scheduler, log, metrics } = deps;
  const now = deps.now ?? Date.now;
  const links = new Map<string, ProviderLink>();
  const draining = new Set<string>();
  const jobCache = new Map<string, JobInfo>();
  let dispatching: Promise<void> | undefined;
  let again = false;

  /**
   * A job's spec and status, cached. Inside a transaction pass `trx`: SQLite has one connection,
   * and a query on `db` would wait forever for the transaction that is waiting for it.
   */
  async function jobInfo(
    jobId: string,
    executor: Kysely<Database> | Transaction<Database> = db,
  ): Promise<JobInfo | undefined> {
    const cached = jobCache.get(jobId);
    if (cached) return cached;
    const row = await executor
      .selectFrom('jobs')
      .select(['spec', 'status'])
      .where('id', '=', jobId)
      .executeTakeFirst();
    if (!row) return undefined;
    const info = { spec: JSON.parse(row.spec) as OnnxInferSpec, status: row.status };
    jobCache.set(jobId, info);
    return info;
  }

  function send(address: string, msg: CoordinatorMessage): boolean {
    return links.get(address)?.send(msg) ?? false;
  }

  async function runDispatch(): Promise<void> {
    let afterQueuedAt = -1;
    let afterId = '';
    for (let page = 0; page < 40 && scheduler.freeSlots() > 0; page++) {
      const tasks = await db
        .selectFrom('tasks')
        .select(['id', 'job_id', 'input_cid', 'attempts', 'queued_at'])
        .where('status', '=', 'queued')
        .where((eb) =>
          eb.or([
            eb('queued_at', '>', afterQueuedAt),
            eb.and([eb('queued_at', '=', afterQueuedAt), eb('id', '>', afterId)]),
          ]),
        )
        .orderBy('queued_at')
        .orderBy('id')
        .limit(DISPATCH_PAGE)
        .execute();
      if (tasks.length === 0) return;
      for (const task of tasks) {
        afterQueuedAt = task.queued_at;
        afterId = task.id;
        if (scheduler.freeSlots() === 0) return;
        const job = await jobInfo(task.job_id);
        if (!job) continue;
        const exclude =
          task.attempts > 0
            ? new Set(
                (
                  await db
                    .selectFrom('assignments')
                    .select('provider')
                    .where('task_id', '=', task.id)
                    .execute()
                ).map((a) => a.provider),
              )
            : undefined;
        const req: TaskRequirements = {
          model: job.spec.model,
          minMemoryMiB: job.spec.resources.minMemoryMiB,
          gpu: job.spec.resources.gpu,
        };
        // Prefer a provider that has not failed this task; if there is none, any provider will do.
        const provider =
          scheduler.pick(
            exclude ? { ...req, exclude: new Set([...exclude, ...draining]) } : withDraining(req),
          ) ?? (exclude ? scheduler.pick(withDraining(req)) : undefined);
        if (!provider) continue;
        const started = performance.now();
        const assignmentId = `0x${randomBytes(32).toString('hex')}` as Hex;
        const t = now();
        const leased = await db.transaction().execute(async (trx) => {
          const updated = await trx
            .updateTable('tasks')
            .set({ status: 'assigned', attempts: task.attempts + 1, updated_at: t })
            .where('id', '=', task.id)
            .where('status', '=', 'queued')
            .executeTakeFirst();
          if (updated.numUpdatedRows === 0n) return false;
          await trx
            .insertInto('assignments')
            .values({
              id: assignmentId,
              task_id: task.id,
              job_id: task.job_id,
              provider,
              status: 'leased',
              lease_expires_at: t + job.spec.taskTimeoutSec * 1000,
              created_at: t,
              finished_at: null,
              error_code: null,
              error_message: null,
            })
            .execute();
          const jobUpdated = await trx
            .updateTable('jobs')
            .set({ status: 'running', updated_at: t })
            .where('id', '=', task.job_id)
            .where('status', '=', 'queued')
            .executeTakeFirst();
          if (jobUpdated.numUpdatedRows > 0n) {
            job.status = 'running';
            await events.append(trx, task.job_id, 'job.running', {});
          }
          await events.append(trx, task.job_id, 'task.assigned', {
            taskId: task.id,
            provider,
            attempt: task.attempts + 1,
          });
          return true;
        });
        if (!leased) {
          scheduler.release(provider);
          continue;
        }
        events.notify(task.job_id);
        send(provider, {
          type: 'assign',
          assignmentId,
          taskId: task.id as Hex,
          jobId: task.job_id as Hex,
          kind: 'onnx.infer',
          model: job.spec.model,
          input: task.input_cid,
          gpu: job.spec.resources.gpu,
          timeoutMs: job.spec.taskTimeoutSec * 1000,
        });
        metrics.dispatchSeconds.observe((performance.now() - started) / 1000);
        metrics.assignments.inc();
      }
    }
  }

  function withDraining(req: TaskRequirements): TaskRequirements {
    return draining.size === 0 ? req : { ...req, exclude: new Set([...(req.exclude ?? []), ...draining]) };
  }

  async function dispatch(): Promise<void> {
    if (dispatching) {
      again = true;
      return dispatching;
    }
    dispatching = (async () => {
      try {
        do {
          again = false;
          await runDispatch();
        } while (again);
      } catch (err) {
        log.error({ err }, 'dispatch failed');
      } finally {
        dispatching = undefined;
      }
    })();
    return dispatching;
  }

  /** Loads a leased assignment for `address` or throws PLX_STALE_ASSIGNMENT. */
  async function leasedAssignment(
    trx: Transaction<Database>,
    address: string,
    assignmentId: string,
    taskId: string,
  ) {
    const a = await trx
      .selectFrom('assignments')
      .selectAll()
      .where('id', '=', assignmentId)
      .executeTakeFirst();
    if (
      !a ||
      a.provider.toLowerCase() !== address.toLowerCase() ||
      a.task_id !== taskId ||
      a.status !== 'leased'
    ) {
      throw new PlexusError('PLX_STALE_ASSIGNMENT', `assignment ${assignmentId} is not leased to ${address}`);
    }
    return a;
  }

  /**
   * Ends one attempt that did not produce a result: the task goes back to the queue (keeping its
   * place) or, with no attempts left, the job fails and its other tasks are cancelled.
   */
  async function failAttempt(
    trx: Transaction<Database>,
    a: { id: string; task_id: string; job_id: string; provider: string },
    status: 'failed' | 'expired',
    code: string,
    message: string,
  ): Promise<{ jobFailed: boolean; cancelled: { id: string; provider: string }[] }> {
    const t = now();
    await trx
      .updateTable('assignments')
      .set({ status, finished_at: t, error_code: code, error_message: message.slice(0, 2000) })
      .where('id', '=', a.id)
      .execute();
    await trx
      .updateTable('providers')
      .set((eb) => ({ tasks_failed: eb('tasks_failed', '+', 1) }))
      .where('address', '=', a.provider)
      .execute();
    const task = await trx
      .selectFrom('tasks')
      .select(['attempts', 'idx'])
      .where('id', '=', a.task_id)
      .executeTakeFirstOrThrow();
    const job = await jobInfo(a.job_id, trx);
    const maxAttempts = job?.spec.maxAttempts ?? 1;
    const lastError = `${code}: ${message}`.slice(0, 2000);
    if (task.attempts < maxAttempts && job?.status === 'running') {
      await trx
        .updateTable('tasks')
        .set({ status: 'queued', last_error: lastError, updated_at: t })
        .where('id', '=', a.task_id)
        .execute();
      await events.append(trx, a.job_id, 'task.retry', {
        taskId: a.task_id,
        provider: a.provider,
        code,
        message,
      });
      return { jobFailed: false, cancelled: [] };
    }
    await trx
      .updateTable('tasks')
      .set({ status: 'failed', last_error: lastError, updated_at: t })
      .where('id', '=', a.task_id)
      .execute();
    const cancelled = await failJob(
      trx,
      a.job_id,
      'PLX_TASK_FAILED',
      `task ${task.idx} failed ${task.attempts} time(s); last error ${lastError}`,
      {
        taskIndex: task.idx,
        lastError,
      },
    );
    return { jobFailed: true, cancelled };
  }

  /** Marks a job failed, cancels its unfinished tasks, and returns leases to revoke. */
  async function failJob(
    trx: Transaction<Database>,
    jobId: string,
    code: ErrorCode,
    message: string,
    details: Record<string, unknown>,
  ): Promise<{ id: string; provider: string }[]> {
    const t = now();
    const updated = await trx
      .updateTable('jobs')
      .set({ status: 'failed', error_code: code, error_message: message.slice(0, 2000), updated_at: t })
      .where('id', '=', jobId)
      .where('status', 'in', ['queued', 'running'])
      .executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return [];
    const info = jobCache.get(jobId);
    if (info) info.status = 'failed';
    await trx
      .updateTable('tasks')
      .set({ status: 'cancelled', updated_at: t })
      .where('job_id', '=', jobId)
      .where('status', 'in', ['queued', 'assigned'])
      .execute();
    const leases = await trx
      .selectFrom('assignments')
      .select(['id', 'provider'])
      .where('job_id', '=', jobId)
      .where('status', '=', 'leased')
      .execute();
    await trx
      .updateTable('assignments')
      .set({ status: 'failed', finished_at: t, error_code: 'PLX_JOB_CANCELLED', error_message: 'job failed' })
      .where('job_id', '=', jobId)
      .where('status', '=', 'leased')
      .execute();
    await events.append(trx, jobId, 'job.failed', { code, message, ...details });
    metrics.jobsFinished.inc({ status: 'failed' });
    return leases;
  }

  function revoke(leases: { id: string; provider: string }[], reason: string): void {
    for (const l of leases) {
      scheduler.release(l.provider);
      send(l.provider, { type: 'cancel', assignmentId: l.id as Hex, reason });
    }
  }

  return {
    async providerConnected(link, hello) {
      const address = link.address;
      const old = links.get(address);
      links.set(address, link);
      draining.delete(address);
      const t = now();
      // Leases this provider still holds in the store: those it no longer knows about were lost
      // (for example the assign message died with a coordinator restart) and go back to the queue.
      const leased = await db
        .selectFrom('assignments')
        .select(['id', 'task_id', 'job_id', 'provider'])
        .where('provider', '=', address)
        .where('status', '=', 'leased')
        .execute();
      const known = new Set(hello.inFlight);
      const lost = leased.filter((a) => !known.has(a.id));
      const kept = leased.length - lost.length;
      const revoked: { id: string; provider: string }[] = [];
      await db.transaction().execute(async (trx) => {
        await trx
          .insertInto('providers')
          .values({
            address,
            hardware: JSON.stringify(hello.hardware),
            slots: hello.slots,
            region: hello.region,
            agent_version: hello.agentVersion,
            connected: 1,
            first_seen: t,
            last_seen: t,
            tasks_completed: 0,
            tasks_failed: 0,
          })
          .onConflict((oc) =>
            oc.column('address').doUpdateSet({
              hardware: JSON.stringify(hello.hardware),
              slots: hello.slots,
              region: hello.region,
              agent_version: hello.agentVersion,
              connected: 1,
              last_seen: t,
            }),
          )
          .execute();
        for (const a of lost) {
          const r = await failAttempt(
            trx,
            a,
            'expired',
            'PLX_LEASE_LOST',
            'the provider reconnected without this task',
          );
          revoked.push(...r.cancelled);
        }
        await events.append(trx, null, 'provider.connected', {
          address,
          slots: hello.slots,
          region: hello.region,
        });
      });
      const memoryMiB = Math.floor(hello.hardware.memoryBytes / 1024 / 1024);
      scheduler.upsertProvider({
        address,
        slots: hello.slots,
        memoryMiB,
        gpu: hello.hardware.executionProviders.includes('cuda') && hello.hardware.gpus.length > 0,
        cached: hello.cached,
        active: kept,
      });
      revoke(revoked, 'job failed');
      events.notify(null);
      metrics.providersConnected.set(links.size);
      if (old && old !== link) log.info({ address }, 'provider replaced an older session');
      log.info({ address, slots: hello.slots, kept, lost: lost.length }, 'provider connected');
      void dispatch();
    },

    async providerDisconnected(link) {
      const address = link.address;
      if (links.get(address) !== link) return; // an older session of a provider that reconnected
      links.delete(address);
      draining.delete(address);
      scheduler.removeProvider(address);
      const t = now();
      await db.transaction().execute(async (trx) => {
        await trx
          .updateTable('providers')
          .set({ connected: 0, last_seen: t })
          .where('address', '=', address)
          .execute();
        // Give it a short grace to come back with its results before the work moves elsewhere.
        await trx
          .updateTable('assignments')
          .set({ lease_expires_at: t + DISCONNECT_GRACE_SEC * 1000 })
          .where('provider', '=', address)
          .where('status', '=', 'leased')
          .where('lease_expires_at', '>', t + DISCONNECT_GRACE_SEC * 1000)
          .execute();
        await events.append(trx, null, 'provider.disconnected', { address });
      });
      events.notify(null);
      metrics.providersConnected.set(links.size);
      log.info({ address }, 'provider disconnected');
    },

    providerDraining(address) {
      draining.add(address);
      log.info({ address }, 'provider draining');
    },

    providerCacheChanged(address, added, removed) {
      for (const cid of added) scheduler.setCached(address, cid, true);
      for (const cid of removed) scheduler.setCached(address, cid, false);
    },

    async handleResult(address, msg) {
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType: 'TaskResult',
        message: {
          provider: address,
          assignmentId: msg.assignmentId as Hex,
          taskId: msg.taskId as Hex,
          outputCid: cidToBytes32(msg.outputCid),
          wallMs: BigInt(msg.usage.wallMs),
          cpuMs: BigInt(msg.usage.cpuMs),
          peakRssBytes: BigInt(msg.usage.peakRssBytes),
          issuedAt: BigInt(msg.issuedAt),
        },
        signature: msg.signature,
        expectedSigner: address,
      });
      const size = await deps.blobs.size(msg.outputCid);
      if (size === undefined) {
        throw new PlexusError('PLX_UNKNOWN_BLOB', `output ${msg.outputCid} was not uploaded`, {
          details: { cid: msg.outputCid },
        });
      }
      if (size > MAX_OUTPUT_BYTES) throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', 'output is too large');
      // The output must be a well-formed tensor file; garbage never reaches the client.
      decodeSafetensors(await deps.blobs.read(msg.outputCid));
      const t = now();
      let jobDone = false;
      let jobId = '';
      await db.transaction().execute(async (trx) => {
        const a = await leasedAssignment(trx, address, msg.assignmentId, msg.taskId);
        jobId = a.job_id;
        await trx
          .updateTable('assignments')
          .set({ status: 'completed', finished_at: t })
          .where('id', '=', a.id)
          .execute();
        await trx
          .updateTable('tasks')
          .set({
            status: 'completed',
            output_cid: msg.outputCid,
            provider: address,
            result: JSON.stringify({
              assignmentId: msg.assignmentId,
              usage: msg.usage,
              issuedAt: msg.issuedAt,
              signature: msg.signature,
            }),
            updated_at: t,
          })
          .where('id', '=', a.task_id)
          .execute();
        await trx
          .updateTable('providers')
          .set((eb) => ({ tasks_completed: eb('tasks_completed', '+', 1) }))
          .where('address', '=', address)
          .execute();
        const job = await trx
          .updateTable('jobs')
          .set((eb) => ({ tasks_done: eb('tasks_done', '+', 1), updated_at: t }))
          .where('id', '=', a.job_id)
          .returning(['tasks_done', 'tasks_total'])
          .executeTakeFirstOrThrow();
        await events.append(trx, a.job_id, 'task.completed', {
          taskId: a.task_id,
          provider: address,
          output: msg.outputCid,
          usage: msg.usage,
          done: job.tasks_done,
          total: job.tasks_total,
        });
        if (job.tasks_done === job.tasks_total) {
          await trx
            .updateTable('jobs')
            .set({ status: 'completed', updated_at: t })
            .where('id', '=', a.job_id)
            .execute();
          await events.append(trx, a.job_id, 'job.completed', { tasks: job.tasks_total });
          jobDone = true;
        }
      });
      scheduler.release(address);
      // Learned schedulers learn each provider's speed per model from what it measured.
      const info = jobCache.get(jobId);
      if (info) scheduler.observe?.(address, info.spec.model, msg.usage.wallMs / 1000);
      if (jobDone) {
        const info = jobCache.get(jobId);
        if (info) info.status = 'completed';
        jobCache.delete(jobId);
        metrics.jobsFinished.inc({ status: 'completed' });
      }
      metrics.tasksFinished.inc({ status: 'completed' });
      events.notify(jobId);
      void dispatch();
    },

    async handleFailure(address, msg) {
      await verifyPlexusMessage({
        chainId: deps.chainId,
        primaryType: 'TaskFailure',
        message: {
          provider: address,
          assignmentId: msg.assignmentId as Hex,
          taskId: msg.taskId as Hex,
          reasonHash: keccak256(toBytes(`${msg.code}:${msg.message}`)),
          issuedAt: BigInt(msg.issuedAt),
        },
        signature: msg.signature,
        expectedSigner: address,
      });
      let jobId = '';
      let cancelled: { id: string; provider: string }[] = [];
      await db.transaction().execute(async (trx) => {
        const a = await leasedAssignment(trx, address, msg.assignmentId, msg.taskId);
        jobId = a.job_id;
        cancelled = (await failAttempt(trx, a, 'failed', msg.code, msg.message)).cancelled;
      });
      scheduler.release(address);
      revoke(cancelled, 'job failed');
      metrics.tasksFinished.inc({ status: 'failed' });
      events.notify(jobId);
      void dispatch();
    },

    dispatch,

    async sweep() {
      const t = now();
      const expired = await db
        .selectFrom('assignments')
        .select(['id', 'task_id', 'job_id', 'provider'])
        .where('status', '=', 'leased')
        .where('lease_expires_at', '<', t)
        .limit(1000)
        .execute();
      for (const a of expired) {
        let cancelled: { id: string; provider: string }[] = [];
        const still = await db.transaction().execute(async (trx) => {
          const cur = await trx
            .selectFrom('assignments')
            .select('status')
            .where('id', '=', a.id)
            .executeTakeFirst();
          if (cur?.status !== 'leased') return false;
          cancelled = (
            await failAttempt(trx, a, 'expired', 'PLX_LEASE_EXPIRED', 'no result before the lease expired')
          ).cancelled;
          return true;
        });
        if (!still) continue;
        // The provider may still be connected and busy with it: tell it to stop.
        if (links.has(a.provider)) {
          scheduler.release(a.provider);
          send(a.provider, { type: 'cancel', assignmentId: a.id as Hex, reason: 'lease expired' });
        }
        revoke(cancelled, 'job failed');
        metrics.tasksFinished.inc({ status: 'expired' });
        events.notify(a.job_id);
      }
      const late = await db
        .selectFrom('jobs')
        .select('id')
        .where('status', 'in', ['queued', 'running'])
        .where('deadline_ms', '<', t)
        .limit(100)
        .execute();
      for (const j of late) {
        const leases = await db
          .transaction()
          .execute((trx) =>
            failJob(trx, j.id, 'PLX_DEADLINE_EXCEEDED', 'the job did not finish before its deadline', {}),
          );
        revoke(leases, 'deadline exceeded');
        events.notify(j.id);
      }
      if (expired.length > 0 || late.length > 0) void dispatch();
    },

    connectedProviders() {
      return links.size;
    },
    activeOf(address) {
      return scheduler.active(address);
    },
  };
}
