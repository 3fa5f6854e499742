/**
 * The provider agent: proves who it is to a coordinator, advertises what its machine can do,
 * runs the tasks it is leased and returns signed results, surviving dropped links and restarts.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hex } from 'viem';
import { keccak256, toBytes } from 'viem';
import { WebSocket } from 'ws';
import { type ErrorCode, errorCodes } from '../../errors/codes.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { createLogger } from '../../logger.ts';
import { capabilitiesHash } from '../../protocol/capabilities.ts';
import { computeCommitment } from '../../protocol/commitment.ts';
import { DEFAULT_MAX_BLOB_BYTES, MAX_WS_MESSAGE_BYTES } from '../../protocol/constants.ts';
import { coordinatorUrls } from '../../protocol/coordinatorUrls.ts';
import { signBlobAuth, signPlexusMessage } from '../../protocol/eip712.ts';
import type { EligibilityView } from '../../protocol/http/providers.ts';
import { cidOf, cidToBytes32 } from '../../protocol/ids.ts';
import { decodeSafetensors } from '../../protocol/safetensors.ts';
import { type CoordinatorMessage, capabilityChallengeSchema } from '../../protocol/schemas.ts';
import { signedAnswer } from '../../protocol/signedCapabilityAnswer.ts';
import { tensorSetDigest } from '../../protocol/tensorSet.ts';
import { probeBlender } from '../../runtimes/blender/probeBlender.ts';
import { BlenderPool } from '../../runtimes/blender/warmBlender.ts';
import { createOnnxRuntime } from '../../runtimes/onnx/createOnnxRuntime.ts';
import { trainClaim } from '../../runtimes/tfjs/backendClaim.ts';
import { createTrainProcess } from '../../runtimes/tfjs/trainProcess.ts';
import { createBlobCache } from '../cache/createBlobCache.ts';
import { hardwareClaim } from '../hardware/hardwareClaim.ts';
import { probeHardware } from '../hardware/probeHardware.ts';
import { createNetworkModels } from '../storage/networkModels.ts';
import { startStorage } from '../storage/startStorage.ts';
import { backoffDelay } from './backoff.ts';
import { misbehave } from './behaviour.ts';
import { createBlobHttp } from './blobHttp.ts';
import { advertisedAtAuth, cacheAdvert } from './cacheAdvert.ts';
import { watchEligibility } from './eligibilityWatch.ts';
import { floorPriceClaim, type ProviderOptions } from './providerOptions.ts';
import { putWithRetry } from './putWithRetry.ts';
import { blenderClaim, renderThreads } from './renderClaim.ts';
import { runOnnxTask, type TaskOutput } from './runOnnxTask.ts';
import { runRenderTask } from './runRenderTask.ts';
import { runTrainAssignment } from './runTrainAssignment.ts';
import { createScratchFiles } from './scratchFiles.ts';
import { createCapabilitySolver } from './solveCapability.ts';
import { createTrainCheater } from './trainCheats.ts';
import { waitDrained } from './waitDrained.ts';

export const AGENT_VERSION = 'plexus-agent/0.1.0';

export type { ProviderOptions };

export type Provider = {
  address: string;
  /** Resolves once the first session is authenticated. */
  ready: Promise<void>;
  /** Stops taking work, finishes what runs (up to the drain timeout), then disconnects. */
  drain(): Promise<void>;
  /** Disconnects at once (what a crash looks like to the coordinator). */
  close(): Promise<void>;
  stats(): { running: number; completed: number; failed: number; connected: boolean };
  /** What the coordinator last said about this provider's eligibility for work. */
  eligibility(): EligibilityView | undefined;
};

type Assign = Extract<CoordinatorMessage, { type: 'assign' }>;
type Capability = Extract<CoordinatorMessage, { type: 'capability' }>;
/** The agent's own commitment to an output (protocol v2): revealed once the coordinator says so. */
type Reveal = { outputDigest: Hex; salt: Hex; commitment: Hex; released: boolean; uploaded?: boolean };
type Outcome =
  | { kind: 'result'; assign: Assign; output: TaskOutput; reveal: Reveal }
  | { kind: 'failure'; assign: Assign; code: ErrorCode; message: string };

/**
 * Starts a provider agent against a coordinator.
 *
 * @example
 * const p = await startProvider({ coordinatorUrl: 'http://127.0.0.1:8080', account, dataDir: '.plexus/provider' });
 * await p.ready;
 * process.on('SIGTERM', () => p.drain().then(() => process.exit(0)));
 */
export async function startProvider(opts: ProviderOptions): Promise<Provider> {
  const log = opts.log ?? createLogger('provider');
  // Replicas (`URL1,URL2`): the session moves to the next when the one in use stops answering.
  const bases = coordinatorUrls(opts.coordinatorUrl);
  let current = 0;
  const baseNow = () => bases[current]!;
  const wsUrlOf = (b: string) => `${b.replace(/^http/, 'ws')}/v1/providers/ws`;
  const account = opts.account;
  const eligibility = watchEligibility({
    base: baseNow,
    address: account.address,
    log,
    ...opts.eligibilityCheck,
  });
  const slots = opts.slots ?? 1;
  const prefetch = opts.prefetch ?? slots * 3;
  // Blender's probe (seconds: a start's longest step) runs while the rest of the agent starts.
  const blenderProbe = opts.blenderPath === 'none' ? undefined : probeBlender(opts.blenderPath);
  const hardware = opts.hardware ?? (await probeHardware());
  const gpu = (opts.useGpu ?? true) && hardware.executionProviders.includes('cuda');
  const runtime = createOnnxRuntime({
    executionProviders: gpu ? ['cuda', 'cpu'] : ['cpu'],
    concurrency: slots,
    ...(opts.cores === undefined ? {} : { cores: opts.cores }),
    // Workers start now, so the first task does not pay for a process start.
    prestart: true,
    logger: log,
  });
  // Training tasks run in their own process, started at the first one (trainProcess.ts).
  const trainer = createTrainProcess();
  const scratchDir = join(opts.dataDir, 'scratch');
  await rm(scratchDir, { recursive: true, force: true });
  await mkdir(scratchDir, { recursive: true });
  const scratch = createScratchFiles(scratchDir, slots + prefetch);
  // Every blob request is signed with the session key: the coordinator lets a provider read a
  // task's blobs only while it holds the lease, and records its uploads (docs/security.md).
  const blobs = createBlobHttp(baseNow, {
    auth: (cid, size) => signBlobAuth(account, chainId, size === undefined ? { cid } : { cid, size }),
  });
  /** Blobs that entered or left the cache since the last advertisement (see createBlobCache's onChange). */
  const cacheChanged = new Set<string>();
  // Models stored on the storage network are read from its holders (networkModels.ts).
  const models = createNetworkModels({ base: baseNow, account, chainId: () => chainId, log });
  let maxBlobBytes = DEFAULT_MAX_BLOB_BYTES; // one blob's bound in the cache: the welcome's (models from holders too)
  const cache = createBlobCache({
    maxBlobBytes: () => maxBlobBytes,
    dir: join(opts.dataDir, 'cache'),
    budgetBytes: opts.cacheBudgetBytes ?? 10 * 1024 ** 3,
    fetchBlob: (cid: string, signal?: AbortSignal) =>
      models.fetch(cid, signal, () => blobs.source(cid, signal)),
    onChange: (cid) => cacheChanged.add(cid),
  });
  const solveCapability = createCapabilitySolver({ gpu, log });
  const blender = await blenderProbe;
  const cheat = opts.behaviour?.kind === 'render-cheat' ? opts.behaviour.cheat : undefined;
  // One warm Blender per scene and slot: a frame or audit pays Blender's start once per job.
  const blenderPool =
    blender && opts.warmBlender !== false
      ? new BlenderPool({ scratchDir: join(scratchDir, 'blender'), maxProcesses: slots })
      : undefined;
  const trainCheater =
    opts.behaviour?.kind === 'train-cheat' ? createTrainCheater(opts.behaviour.cheat) : undefined;
  const claimed = { ...hardwareClaim(hardware, { useGpu: gpu }), ...blenderClaim(blender), ...trainClaim() };
  const claim = {
    // `fake-gpu` (adversary harness only): claim a GPU this machine does not have.
    hardware:
      opts.behaviour?.kind === 'fake-gpu'
        ? {
            ...claimed,
            gpus: [{ name: 'NVIDIA GeForce RTX 4090', memoryMiB: 24_564 }],
            executionProviders: ['cuda', ...claimed.executionProviders.filter((e) => e !== 'cuda')],
          }
        : claimed,
    slots: slots + prefetch,
    region: opts.region ?? 'unknown',
    agentVersion: AGENT_VERSION,
    ...floorPriceClaim(opts.floorPrices),
  };

  // Storage (issue 19): checks free disk space before offering any; messages `store.*` go to it.
  const storage = opts.storage
    ? await startStorage({
        ...opts.storage,
        dataDir: opts.dataDir,
        // The replica the session is on: storage orders arrive there, and so do their bytes.
        base: baseNow,
        log,
        send: sendJson,
        ...{ address: account.address, account, receipts: models.signer, chainId: async () => chainId },
      })
    : undefined;

  const running = new Map<string, AbortController>();
  /** Finished work whose result the coordinator has not acknowledged yet: resent after a reconnect. */
  const unacked = new Map<string, Outcome>();
  let socket: WebSocket | undefined;
  let authed = false;
  let stopping = false;
  let draining = false;
  let attempt = 0;
  /** Chain id of the coordinator's EIP-712 domain, learned from its hello. */
  let chainId = 0;
  /** Outputs up to this size go inside the result, as the coordinator's welcome offers (-1: none). */
  let inlineOutputBytes = -1;
  /** Blobs the coordinator knows we cache (it prefers us for tasks that use them). */
  let advertised = new Set<string>();

  /** Tells the coordinator what entered and left the cache since it last heard (cacheAdvert.ts). */
  function advertiseCache(): void {
    const { added, removed, handled } = cacheAdvert(cacheChanged, (cid) => cache.has(cid), advertised);
    if (added.length > 0 || removed.length > 0) {
      if (!sendJson({ type: 'cache', added, removed })) return;
      for (const cid of added) advertised.add(cid);
      for (const cid of removed) advertised.delete(cid);
    }
    for (const cid of handled) cacheChanged.delete(cid);
  }
  let completed = 0;
  let failed = 0;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => {
    resolveReady = r;
  });

  function sendJson(msg: unknown): boolean {
    if (!socket || socket.readyState !== WebSocket.OPEN || !authed) return false;
    socket.send(JSON.stringify(msg));
    return true;
  }

  /** Signs at send time, so a result resent after a long outage is still fresh. */
  async function deliver(o: Outcome): Promise<void> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const a = o.assign;
    if (o.kind === 'result' && !o.reveal.released) {
      // Commit first: the output is uploaded and revealed only when the coordinator says so.
      const signature = await signPlexusMessage(account, chainId, 'TaskCommitment', {
        provider: account.address,
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        commitment: o.reveal.commitment,
        issuedAt: BigInt(issuedAt),
      });
      sendJson({
        type: 'commit',
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        commitment: o.reveal.commitment,
        issuedAt,
        signature,
      });
    } else if (o.kind === 'result') {
      const inline = o.output.bytes.byteLength <= inlineOutputBytes;
      if (!inline && !o.reveal.uploaded) {
        await uploadOutput(o.output);
        o.reveal.uploaded = true;
      }
      const signature = await signPlexusMessage(account, chainId, 'TaskResult', {
        provider: account.address,
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        outputCid: cidToBytes32(o.output.cid),
        wallMs: BigInt(o.output.usage.wallMs),
        cpuMs: BigInt(o.output.usage.cpuMs),
        peakRssBytes: BigInt(o.output.usage.peakRssBytes),
        issuedAt: BigInt(issuedAt),
      });
      sendJson({
        type: 'result',
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        outputCid: o.output.cid,
        usage: o.output.usage,
        issuedAt,
        signature,
        outputDigest: o.reveal.outputDigest,
        salt: o.reveal.salt,
        ...(inline ? { output: Buffer.from(o.output.bytes).toString('base64') } : {}),
      });
    } else {
      const message = o.message.slice(0, 2000);
      const signature = await signPlexusMessage(account, chainId, 'TaskFailure', {
        provider: account.address,
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        reasonHash: keccak256(toBytes(`${o.code}:${message}`)),
        issuedAt: BigInt(issuedAt),
      });
      sendJson({
        type: 'failure',
        assignmentId: a.assignmentId,
        taskId: a.taskId,
        code: o.code,
        message,
        issuedAt,
        signature,
      });
    }
  }

  const uploadOutput = (out: TaskOutput) => putWithRetry(blobs, out, () => stopping);

  async function execute(a: Assign): Promise<void> {
    const ac = new AbortController();
    running.set(a.assignmentId, ac);
    let outcome: Outcome;
    const t0 = performance.now();
    try {
      const computed =
        a.kind === 'train.diloco'
          ? await runTrainAssignment({ cache, trainer }, { input: a.input }, ac.signal)
          : a.kind === 'blender.render'
            ? await runRenderTask(
                {
                  cache,
                  blender,
                  scratchDir,
                  threads: renderThreads(opts.cores ?? hardware.cpuCores, slots),
                  cheat,
                  pool: blenderPool,
                },
                a,
                ac.signal,
              )
            : await runOnnxTask(
                { runtime, cache, scratch },
                { model: a.model, input: a.input, timeoutMs: a.timeoutMs },
                ac.signal,
              );
      const act = misbehave(
        opts.behaviour ?? { kind: 'honest' },
        trainCheater && computed.train ? trainCheater(computed.train, computed) : computed,
      );
      if (act.action === 'withhold') {
        // `slow`: sit on the lease until the coordinator gives up on it and cancels.
        await new Promise<void>((r) => ac.signal.addEventListener('abort', () => r(), { once: true }));
        running.delete(a.assignmentId);
        return;
      }
      if (act.action === 'drop') {
        // `disconnect`: forget the task and drop the session; the agent reconnects without it.
        running.delete(a.assignmentId);
        socket?.terminate();
        return;
      }
      const output = act.output;
      const outputDigest = tensorSetDigest(decodeSafetensors(output.bytes));
      const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
      const commitment = computeCommitment({
        taskId: a.taskId,
        provider: account.address,
        outputDigest,
        salt,
      });
      log.debug(
        { assignmentId: a.assignmentId, runMs: output.usage.wallMs, taskMs: performance.now() - t0 },
        'task timings',
      );
      outcome = {
        kind: 'result',
        assign: a,
        output,
        reveal: { outputDigest, salt, commitment, released: false },
      };
      completed++;
    } catch (err) {
      if (ac.signal.aborted) {
        log.info({ assignmentId: a.assignmentId }, 'task cancelled');
        running.delete(a.assignmentId);
        return;
      }
      const code: ErrorCode =
        err instanceof PlexusError
          ? err.code
          : err instanceof DOMException && err.name === 'TimeoutError'
            ? 'PLX_LEASE_EXPIRED'
            : 'PLX_TASK_RUNTIME_ERROR';
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ assignmentId: a.assignmentId, code, message }, 'task failed');
      outcome = {
        kind: 'failure',
        assign: a,
        code: code in errorCodes ? code : 'PLX_TASK_RUNTIME_ERROR',
        message,
      };
      failed++;
    }
    running.delete(a.assignmentId);
    advertiseCache();
    unacked.set(a.assignmentId, outcome);
    await deliver(outcome).catch((err) =>
      log.warn({ err: String(err) }, 'could not send result; will resend'),
    );
  }

  function onMessage(raw: WebSocket.RawData): void {
    let msg: CoordinatorMessage;
    try {
      msg = JSON.parse(raw.toString()) as CoordinatorMessage;
    } catch {
      log.warn('coordinator sent invalid JSON');
      return;
    }
    switch (msg.type) {
      case 'hello':
        void authenticate(msg.challenge, msg.chainId);
        break;
      case 'welcome':
        authed = true;
        attempt = 0;
        inlineOutputBytes = msg.inlineOutputBytes ?? -1;
        maxBlobBytes = msg.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
        log.info({ address: account.address, coordinator: baseNow() }, 'session authenticated');
        resolveReady();
        eligibility.sessionStarted();
        for (const o of unacked.values()) void deliver(o);
        if (draining) sendJson({ type: 'drain' });
        break;
      case 'assign':
        // Leased before the coordinator read our drain: it is ours to finish (drain() waits for it).
        if (running.has(msg.assignmentId) || unacked.has(msg.assignmentId)) break;
        // The lease token reads this task's blobs without a signature per read.
        if (msg.readToken) blobs.grant([msg.model, msg.input], msg.readToken, msg.timeoutMs);
        if (msg.inputBytes) blobs.preload(msg.input, Buffer.from(msg.inputBytes, 'base64'), msg.timeoutMs);
        models.note(msg.model);
        void execute(msg);
        break;
      case 'reveal': {
        const o = unacked.get(msg.assignmentId);
        if (o?.kind !== 'result' || o.reveal.released) break;
        // Uploaded first unless it rides inside the result (deliver).
        o.reveal.released = true;
        deliver(o).catch((err) =>
          log.warn({ err: String(err) }, 'could not reveal; will retry after a reconnect'),
        );
        break;
      }
      case 'capability':
        void answerCapability(msg);
        break;
      case 'cancel':
        running.get(msg.assignmentId)?.abort(new Error(msg.reason));
        unacked.delete(msg.assignmentId);
        break;
      case 'ack':
        unacked.delete(msg.assignmentId);
        if (!msg.accepted)
          log.warn(
            { assignmentId: msg.assignmentId, code: msg.code, message: msg.message },
            'result refused',
          );
        break;
      case 'store.put':
      case 'store.challenge':
      case 'store.serve':
      case 'store.ticket':
      case 'store.repair':
      case 'store.drop':
      case 'store.receipt':
      case 'store.redeemed':
        storage?.handle(msg);
        break;
      case 'error':
        log.warn({ code: msg.code, message: msg.message }, 'coordinator refused a message');
        break;
    }
  }

  /** Capability proof: the answer's digest first (the coordinator's clock stops), then the bytes. */
  async function answerCapability(msg: Capability): Promise<void> {
    try {
      const t0 = performance.now();
      // Validates the sizes; a challenge without a chain length is the single-product proof (k = 1).
      const ch = capabilityChallengeSchema.parse(msg);
      const answer = await solveCapability(ch);
      sendJson({ type: 'capability-digest', challengeId: ch.challengeId, digest: answer.digest });
      const cid = cidOf(answer.product);
      await uploadOutput({ bytes: answer.product, cid, usage: { wallMs: 0, cpuMs: 0, peakRssBytes: 0 } });
      // Signed after the digest stopped the clock: the signature costs the timing nothing.
      const signed = ch.signed ? await signedAnswer(account, chainId, ch, answer.digest) : {};
      sendJson({ type: 'capability-answer', challengeId: ch.challengeId, productCid: cid, ...signed });
      log.info(
        {
          class: ch.hardwareClass,
          n: ch.n,
          k: ch.k,
          ms: Math.round(performance.now() - t0),
          ...(answer.stoppedAfter === undefined ? {} : { stoppedAfter: answer.stoppedAfter }),
        },
        answer.stoppedAfter === undefined
          ? 'capability proof answered'
          : 'capability proof: past the class budget, stopped the chain and answered with what it had',
      );
    } catch (err) {
      log.warn({ err: String(err) }, 'capability proof failed');
    }
  }

  async function authenticate(challenge: Hex, cid: number): Promise<void> {
    chainId = cid;
    const issuedAt = Math.floor(Date.now() / 1000);
    advertised = new Set(advertisedAtAuth(cache.list()));
    cacheChanged.clear();
    const offered = storage ? { ...claim, storage: storage.offer() } : claim;
    const signature = await signPlexusMessage(account, chainId, 'SessionAuth', {
      provider: account.address,
      challenge,
      capabilitiesHash: capabilitiesHash(offered),
      issuedAt: BigInt(issuedAt),
    });
    socket?.send(
      JSON.stringify({
        type: 'auth',
        provider: account.address,
        issuedAt,
        signature,
        ...offered,
        cached: [...advertised],
        inFlight: [...running.keys(), ...unacked.keys()],
      }),
    );
  }

  let everConnected = false;
  function connect(): void {
    if (stopping) return;
    const wsUrl = wsUrlOf(baseNow());
    const ws = new WebSocket(wsUrl, { maxPayload: MAX_WS_MESSAGE_BYTES, handshakeTimeout: 10_000 });
    socket = ws;
    authed = false;
    // Whether this socket ever opened, and the OS error if it failed: a provider pointed at a
    // dead or wrong URL must say so (URL and cause), not only "disconnected" forever.
    let opened = false;
    let failure: string | undefined;
    ws.on('open', () => {
      opened = true;
      everConnected = true;
    });
    ws.on('message', onMessage);
    ws.on('error', (err) => {
      failure = [(err as NodeJS.ErrnoException).code, err.message].filter(Boolean).join(' ');
      log.debug({ err: err.message }, 'socket error');
    });
    ws.on('close', (code, reason) => {
      if (socket === ws) {
        socket = undefined;
        authed = false;
      }
      if (stopping) return;
      // With replicas, the next one at once (its in-flight work is announced there); a whole
      // round of them failing backs off as one coordinator does.
      const rotating = bases.length > 1 && attempt < bases.length;
      if (bases.length > 1) current = (current + 1) % bases.length;
      const delay = rotating ? 100 : backoffDelay(attempt);
      attempt++;
      if (opened)
        log.warn(
          { url: wsUrl, code, reason: reason.toString(), retryInMs: delay },
          'disconnected from coordinator',
        );
      else
        log.warn(
          { url: wsUrl, error: failure ?? `closed with code ${code}`, retryInMs: delay },
          everConnected
            ? `cannot reconnect to the coordinator at ${wsUrl}: ${failure ?? code}`
            : `never connected to the coordinator at ${wsUrl}: ${failure ?? code}; check --coordinator and that the coordinator is running`,
        );
      reconnectTimer = setTimeout(connect, delay);
    });
  }

  await solveCapability
    .warm()
    .catch((err) => log.warn({ err: String(err) }, 'capability solver warm-up failed'));
  connect();

  async function shutdown(): Promise<void> {
    stopping = true;
    eligibility.stop();
    clearTimeout(reconnectTimer);
    socket?.close(1000, 'provider stopping');
    socket = undefined;
    await runtime.close();
    await trainer.close();
    await blenderPool?.close();
    blobs.close();
    cache.close();
    await storage?.close();
  }

  return {
    address: account.address.toLowerCase(),
    ready,
    stats: () => ({ running: running.size, completed, failed, connected: authed }),
    eligibility: () => eligibility.last(),
    async drain() {
      draining = true;
      sendJson({ type: 'drain' });
      await waitDrained(() => running.size > 0 || unacked.size > 0, opts.drainTimeoutMs ?? 60_000);
      log.info({ unfinished: running.size, unacked: unacked.size }, 'drained');
      await shutdown();
    },
    async close() {
      for (const ac of running.values()) ac.abort(new Error('provider closing'));
      await shutdown();
    },
  };
}
