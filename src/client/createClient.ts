import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Address, LocalAccount } from 'viem';
import { errorFromResponse } from '../errors/httpError.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { coordinatorUrls } from '../protocol/coordinatorUrls.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../protocol/eip712.ts';
import type { Health, UploadedBlob } from '../protocol/http/common.ts';
import type {
  JobEvent,
  JobList,
  JobResults,
  JobStatus,
  JobSubmitted,
  JobWithTasks,
} from '../protocol/http/jobs.ts';
import type { ProviderList } from '../protocol/http/providers.ts';
import type { TrainingView } from '../protocol/http/training.ts';
import { JOB_AUTH_HEADER, JOB_LIST_READ, signJobRead } from '../protocol/jobRead.ts';
import type { JobSpecInput } from '../protocol/schemas.ts';
import { createSseParser } from './parseSse.ts';
import { signJobSubmission } from './signJobSubmission.ts';

/**
 * The SDK's view types are the wire contract's (src/protocol/http/), re-exported under the names
 * the SDK has always used.
 *
 * @example const job: JobView = await plexus.getJob(jobId);
 */
export type { JobEvent, JobResults, JobStatus, JobWithTasks as JobView } from '../protocol/http/jobs.ts';
export type { TrainingView, TrainRoundView } from '../protocol/http/training.ts';

/**
 * One closed round of a training job as its `train.round` event carries it: mean training loss,
 * the new global model's loss and accuracy on the client's held-out shard (null without one),
 * and its weights' content id.
 *
 * @example const line = (r: TrainRoundEvent) => `round ${r.round + 1}/${r.rounds}: loss ${r.loss}`;
 */
export type TrainRoundEvent = {
  round: number;
  rounds: number;
  loss: number;
  accuracy: number | null;
  validationLoss: number | null;
  weights: string;
};

export type PlexusClient = ReturnType<typeof createClient>;

/**
 * The Plexus client SDK (`plexus/client`): upload blobs, submit signed jobs, follow their events
 * and fetch their outputs from a coordinator.
 *
 * @example
 * import { createClient } from 'plexus/client';
 * const plexus = createClient({ url: 'http://127.0.0.1:8080', account });
 * const model = await plexus.uploadFile('model.onnx');
 * const { jobId } = await plexus.submitJob({ kind: 'onnx.infer', model: model.cid, inputs, deadline });
 * const final = await plexus.waitForJob(jobId, (e) => console.log(e.type));
 */
export function createClient(opts: {
  /**
   * The coordinator's base URL; with replicas, several separated by commas (or a list): requests
   * go to one, and move to the next when it stops answering (docs/scaling.md, "Failover").
   */
  url: string | readonly string[];
  account?: LocalAccount;
  chainId?: number;
  fetch?: typeof fetch;
}) {
  const bases = coordinatorUrls(opts.url);
  /** The replica in use: the last one that answered. */
  let current = 0;
  const f = opts.fetch ?? fetch;
  let domain: { chainId: number; verifyingContract: Address } | undefined;

  /**
   * `path` on the replica in use; when it cannot be reached (or answers 502/503/504, a balancer
   * with no backend), on the next ones in turn. `init` is called per try (a body is sent once).
   */
  async function call(path: string, init: () => RequestInit = () => ({})): Promise<Response> {
    let failure: unknown;
    for (let i = 0; i < bases.length; i++) {
      const at = (current + i) % bases.length;
      const req = init();
      try {
        const res = await f(`${bases[at]}${path}`, req);
        if (i < bases.length - 1 && (res.status === 502 || res.status === 503 || res.status === 504)) {
          failure = await errorFromResponse(res);
          continue;
        }
        current = at;
        return res;
      } catch (err) {
        if (req.signal?.aborted) throw err;
        failure = err;
      }
    }
    throw failure;
  }

  async function json<T>(path: string, init?: () => RequestInit): Promise<T> {
    const res = await call(path, init);
    if (!res.ok) throw await errorFromResponse(res);
    return (await res.json()) as T;
  }

  /**
   * The job signature's domain, learnt from the coordinator (`chainId` from the options wins, so a
   * client pinned to a chain refuses to sign for a coordinator on another one: its jobs are refused).
   */
  async function getDomain(): Promise<{ chainId: number; verifyingContract: Address }> {
    if (!domain) {
      const h = await json<Health>('/v1/health');
      domain = { chainId: opts.chainId ?? h.chainId, verifyingContract: h.verifyingContract as Address };
    }
    return domain;
  }

  /**
   * The signed `x-plexus-auth` header of a blob request (upload when `size` is given, else read);
   * none without an account (public data only).
   */
  async function blobAuth(cid: string, size?: number): Promise<Record<string, string>> {
    if (!opts.account) return {};
    const { chainId } = await getDomain();
    return {
      [BLOB_AUTH_HEADER]: await signBlobAuth(
        opts.account,
        chainId,
        size === undefined ? { cid } : { cid, size },
      ),
    };
  }

  /**
   * The signed `x-plexus-auth` of a read of job `jobId`'s private views (its tasks, results,
   * events), or of the account's job list with JOB_LIST_READ; none without an account (then the
   * coordinator answers the public part only, or refuses).
   */
  async function jobAuth(jobId: string): Promise<Record<string, string>> {
    if (!opts.account) return {};
    const { chainId } = await getDomain();
    return { [JOB_AUTH_HEADER]: await signJobRead(opts.account, chainId, jobId) };
  }

  /** Uploads under its content id, signed by the client's account (the coordinator's quota). */
  async function upload(body: () => BodyInit, cid: string, size: number): Promise<UploadedBlob> {
    if (!opts.account)
      throw new PlexusError('PLX_AUTH_REQUIRED', 'createClient needs an account to upload blobs');
    const headers: Record<string, string> = {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      ...(await blobAuth(cid, size)),
    };
    return json(
      `/v1/blobs/${cid}`,
      () => ({ method: 'PUT', body: body(), headers, duplex: 'half' }) as RequestInit,
    );
  }

  const client = {
    /** The base URL of the replica in use (the first one until another had to be used). */
    get url(): string {
      return bases[current]!;
    },
    /** Every replica this client may use, in order. */
    urls: bases,
    health: () => json<Health>('/v1/health'),
    /** Uploads bytes (signed by the account); returns their content id. */
    uploadBlob: (bytes: Uint8Array) =>
      upload(
        () => bytes as unknown as BodyInit,
        createHash('sha256').update(bytes).digest('hex'),
        bytes.byteLength,
      ),
    /** Streams a file up without reading it whole (it is read twice: once to hash, once to send). */
    async uploadFile(path: string) {
      const { size } = await stat(path);
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
      return upload(
        () => Readable.toWeb(createReadStream(path)) as unknown as BodyInit,
        hash.digest('hex'),
        size,
      );
    },
    /** Downloads a blob, signing the read with the account (private data) when there is one. */
    async downloadBlob(cid: string): Promise<Uint8Array> {
      const headers = await blobAuth(cid);
      const res = await call(`/v1/blobs/${cid}`, () => ({ headers }));
      if (!res.ok) throw await errorFromResponse(res);
      return new Uint8Array(await res.arrayBuffer());
    },
    /** Signs `spec` with the client's account and submits it. */
    async submitJob(
      spec: JobSpecInput,
      sign: { nonce?: bigint; issuedAt?: number; maxPricePerUnit?: bigint } = {},
    ) {
      if (!opts.account)
        throw new PlexusError('PLX_UNAUTHORIZED', 'createClient needs an account to submit jobs');
      const body = await signJobSubmission(opts.account, await getDomain(), spec, sign);
      // The same signed body on every try: a replica that stored it before failing makes the
      // next one refuse the nonce again rather than run the job twice.
      return json<JobSubmitted>('/v1/jobs', () => ({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }));
    },
    /**
     * The signed read of job `jobId` (the `x-plexus-auth` value; an hour): the explorer's job page
     * shows the tasks with it (`#/jobs/<id>?read=<value>`). Needs the account.
     */
    async jobReadAuth(jobId: string): Promise<string> {
      const auth = (await jobAuth(jobId))[JOB_AUTH_HEADER];
      if (!auth)
        throw new PlexusError('PLX_AUTH_REQUIRED', 'createClient needs an account to sign a job read');
      return auth;
    },
    /** A job; its tasks only when this client's account submitted it (the read is signed). */
    getJob: async (jobId: string) => {
      const headers = await jobAuth(jobId);
      return json<JobWithTasks>(`/v1/jobs/${jobId}`, () => ({ headers }));
    },
    /** Jobs, newest first; `client` (this client's own address) lists its own, signed. */
    listJobs: async (q: { client?: string; status?: JobStatus; limit?: number } = {}) => {
      const headers = q.client ? await jobAuth(JOB_LIST_READ) : {};
      return json<JobList>(
        `/v1/jobs?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`,
        () => ({ headers }),
      );
    },
    /** A job's outputs, for its client (signed read). */
    jobResults: async (jobId: string, partial = false) => {
      const headers = await jobAuth(jobId);
      return json<JobResults>(`/v1/jobs/${jobId}/results?partial=${partial}`, () => ({ headers }));
    },
    listProviders: () => json<ProviderList>('/v1/providers'),
    /** A `train.diloco` job's rounds so far and its final weights' cid (null until done). */
    trainingHistory: (jobId: string) => json<TrainingView>(`/v1/jobs/${jobId}/training`),

    /**
     * Follows a training job to its end, calling `onRound` as each round closes (its loss and
     * held-out accuracy); resolves with the final job and its whole history. Download the final
     * weights with `downloadBlob(history.final)` (safetensors, names `<layer>/<index>`).
     *
     * @example
     * const { job, training } = await plexus.followTraining(jobId, (r) => console.log(r.round, r.loss, r.accuracy));
     */
    async followTraining(
      jobId: string,
      onRound?: (r: TrainRoundEvent) => void,
      signal?: AbortSignal,
    ): Promise<{ job: JobWithTasks; training: TrainingView }> {
      const job = await client.waitForJob(
        jobId,
        (e) => {
          if (e.type === 'train.round') onRound?.(e.data as unknown as TrainRoundEvent);
        },
        signal,
      );
      return { job, training: await client.trainingHistory(jobId) };
    },

    /**
     * Follows a job's event stream until it completes or fails, resuming from the last event
     * after a dropped connection. Resolves with the final job.
     */
    async waitForJob(
      jobId: string,
      onEvent?: (e: JobEvent) => void,
      signal?: AbortSignal,
    ): Promise<JobWithTasks> {
      let lastId = 0;
      // Failed connections in a row: a stream that delivered events since the last failure starts
      // the count over (a long job on a flaky link reconnects many times; a dead coordinator
      // still ends the wait after 21 tries in a row).
      let failures = 0;
      // 429s in a row (too many open event streams): retried with backoff, then thrown.
      let limited = 0;
      for (;;) {
        signal?.throwIfAborted();
        const seen = lastId;
        try {
          // Event ids are the shared store's: any replica resumes the stream from Last-Event-ID.
          // A job's events are its client's: the read is signed afresh on every connection.
          const auth = await jobAuth(jobId);
          const res = await call(`/v1/jobs/${jobId}/events`, () => ({
            headers: { accept: 'text/event-stream', 'last-event-id': String(lastId), ...auth },
            ...(signal ? { signal } : {}),
          }));
          if (res.status === 429 && limited < MAX_RATE_LIMITED_RETRIES) {
            // Too many open streams (per address or in all): wait and try again, bounded (the
            // coordinator's retry-after, at least the backoff, at most 10 s; jittered).
            await res.body?.cancel().catch(() => {});
            const after = Number(res.headers.get('retry-after')) * 1000 || 0;
            const backoff = Math.min(10_000, Math.max(after, 250 * 2 ** limited++));
            await sleep(backoff / 2 + Math.random() * (backoff / 2), signal);
            continue;
          }
          if (!res.ok) throw await errorFromResponse(res);
          limited = 0;
          if (!res.body) throw new Error('event stream has no body');
          const parser = createSseParser();
          const decoder = new TextDecoder();
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            for (const e of parser.push(decoder.decode(chunk, { stream: true }))) {
              lastId = Number(e.id ?? lastId);
              const ev = { id: lastId, type: e.event, data: JSON.parse(e.data) as Record<string, unknown> };
              onEvent?.(ev);
              if (ev.type === 'job.completed' || ev.type === 'job.failed') {
                await res.body.cancel().catch(() => {});
                return client.getJob(jobId);
              }
            }
          }
        } catch (err) {
          if (err instanceof PlexusError || signal?.aborted) throw err;
          failures = lastId > seen ? 0 : failures + 1;
          if (failures > 20) throw err;
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures)));
        }
      }
    },
  };
  return client;
}

/** 429 answers in a row that waitForJob waits out (about a minute in all) before it throws. */
const MAX_RATE_LIMITED_RETRIES = 10;

/** Resolves after `ms`, or rejects when `signal` aborts first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
