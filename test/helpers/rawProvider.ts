/**
 * A scripted provider on a raw WebSocket: it authenticates like the agent and then does exactly
 * what a test tells it (send a chosen output, fail, stay silent). Used by the verification tests
 * to play honest and dishonest providers without running inference.
 */

import { randomBytes } from 'node:crypto';
import { type Hex, keccak256, type LocalAccount, toBytes } from 'viem';
import { WebSocket } from 'ws';
import { createClient } from '../../src/client/createClient.ts';
import { capabilitiesHash } from '../../src/protocol/capabilities.ts';
import {
  answerDigest,
  type CapabilityChallenge,
  solveCapabilityChallenge,
} from '../../src/protocol/capabilityChallenge.ts';
import { computeCommitment } from '../../src/protocol/commitment.ts';
import { signPlexusMessage } from '../../src/protocol/eip712.ts';
import { cidOf, cidToBytes32 } from '../../src/protocol/ids.ts';
import { encodeSafetensors, type Tensor } from '../../src/protocol/safetensors.ts';
import { signedAnswer } from '../../src/protocol/signedCapabilityAnswer.ts';
import { tensorSetDigest } from '../../src/protocol/tensorSet.ts';

export type Msg = Record<string, unknown> & { type: string };

const claim = {
  hardware: {
    cpuModel: 'test cpu',
    cpuCores: 2,
    memoryBytes: 8 * 1024 ** 3,
    gpus: [] as { name: string; memoryMiB: number }[],
    executionProviders: ['cpu'],
  },
  slots: 1,
  region: 'eu-west',
  agentVersion: 'test',
};

/** A connected, authenticated scripted provider. */
export type RawProvider = {
  account: LocalAccount;
  ws: WebSocket;
  /** Every message the coordinator sent this session, in order (taken or not). */
  received: Msg[];
  next(type?: string, timeoutMs?: number): Promise<Msg>;
  /** Takes a message of `type` that already arrived, without waiting. */
  take(type: string): Msg | undefined;
  /** Uploads `tensors` as the output of `assign` and sends the signed result; resolves with the ack. */
  deliver(
    assign: Msg,
    tensors: Record<string, Tensor>,
    reveal?: { outputDigest: Hex; salt: Hex },
  ): Promise<Msg>;
  /** Protocol v2: signs and sends a commitment to `tensors` (nothing uploaded); returns the opening. */
  commit(assign: Msg, tensors: Record<string, Tensor>): Promise<{ outputDigest: Hex; salt: Hex }>;
  /** Sends a signed `failure` for `assign` (no ack: the coordinator answers failures with nothing). */
  fail(assign: Msg, code: string, message: string): Promise<void>;
  /**
   * Answers a capability challenge (digest, upload, answer); `corrupt` flips one answer byte,
   * `product` answers with those bytes instead of solving.
   */
  answerCapability(challenge: Msg, opts?: { corrupt?: boolean; product?: Uint8Array }): Promise<void>;
  close(): Promise<void>;
};

/** Connects `account` to the coordinator at `url` (optionally naming leases it still holds). */
export async function connectRawProvider(
  url: string,
  account: LocalAccount,
  opts: {
    inFlight?: string[];
    chainId?: number;
    floorPrices?: Record<string, string>;
    hardware?: Partial<(typeof claim)['hardware']>;
    /** A storage offer in the auth (docs/storage.md): the session is then a storage holder too. */
    storage?: { offeredBytes: number; freeBytes: number; pieces?: string[]; serveUrl?: string };
  } = {},
): Promise<RawProvider> {
  const chainId = opts.chainId ?? 31337;
  const claimed = {
    ...claim,
    hardware: { ...claim.hardware, ...opts.hardware },
    ...(opts.floorPrices ? { floorPrices: opts.floorPrices } : {}),
    ...(opts.storage ? { storage: { pieces: [], ...opts.storage } } : {}),
  };
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/providers/ws`);
  const inbox: Msg[] = [];
  const waiters: { type: string | undefined; resolve: (m: Msg) => void }[] = [];
  const received: Msg[] = [];
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as Msg;
    received.push(m);
    const w = waiters.find((x) => x.type === undefined || x.type === m.type);
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    } else inbox.push(m);
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  function next(type?: string, timeoutMs = 10_000): Promise<Msg> {
    const i = inbox.findIndex((m) => type === undefined || m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter: (typeof waiters)[number] = {
        type,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      // A waiter that timed out is removed: left registered it would swallow the next message of
      // its type, which a later next() call (or the inbox) was meant to get.
      const t = setTimeout(() => {
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        reject(new Error(`no ${type ?? 'message'} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }
  const hello = await next('hello');
  const issuedAt = Math.floor(Date.now() / 1000);
  const signature = await signPlexusMessage(account, chainId, 'SessionAuth', {
    provider: account.address,
    challenge: hello.challenge as `0x${string}`,
    capabilitiesHash: capabilitiesHash(claimed),
    issuedAt: BigInt(issuedAt),
  });
  ws.send(
    JSON.stringify({
      type: 'auth',
      provider: account.address,
      issuedAt,
      signature,
      ...claimed,
      ...(opts.inFlight ? { inFlight: opts.inFlight } : {}),
    }),
  );
  // A refused auth answers `error` (and closes): thrown with its code rather than waited out.
  for (const held: Msg[] = []; ; ) {
    const m = await next();
    if (m.type === 'error')
      throw Object.assign(new Error(`${String(m.code)}: ${String(m.message)}`), { code: m.code });
    if (m.type === 'welcome') {
      inbox.unshift(...held);
      break;
    }
    held.push(m);
  }
  return {
    account,
    ws,
    received,
    next,
    take(type) {
      const i = inbox.findIndex((m) => m.type === type);
      return i >= 0 ? inbox.splice(i, 1)[0] : undefined;
    },
    async commit(assign, tensors) {
      const outputDigest = tensorSetDigest(tensors) as Hex;
      const salt = `0x${randomBytes(32).toString('hex')}` as Hex;
      const commitment = computeCommitment({
        taskId: assign.taskId as string,
        provider: account.address,
        outputDigest,
        salt,
      });
      const at = Math.floor(Date.now() / 1000);
      const signature = await signPlexusMessage(account, chainId, 'TaskCommitment', {
        provider: account.address,
        assignmentId: assign.assignmentId as Hex,
        taskId: assign.taskId as Hex,
        commitment,
        issuedAt: BigInt(at),
      });
      ws.send(
        JSON.stringify({
          type: 'commit',
          assignmentId: assign.assignmentId,
          taskId: assign.taskId,
          commitment,
          issuedAt: at,
          signature,
        }),
      );
      return { outputDigest, salt };
    },
    async fail(assign, code, message) {
      const at = Math.floor(Date.now() / 1000);
      const signature = await signPlexusMessage(account, chainId, 'TaskFailure', {
        provider: account.address,
        assignmentId: assign.assignmentId as Hex,
        taskId: assign.taskId as Hex,
        reasonHash: keccak256(toBytes(`${code}:${message}`)),
        issuedAt: BigInt(at),
      });
      ws.send(
        JSON.stringify({
          type: 'failure',
          assignmentId: assign.assignmentId,
          taskId: assign.taskId,
          code,
          message,
          issuedAt: at,
          signature,
        }),
      );
    },
    async answerCapability(challenge, o = {}) {
      const answer = o.product
        ? { challengeId: challenge.challengeId as string, product: o.product }
        : solveCapabilityChallenge(challenge as unknown as CapabilityChallenge);
      if (o.corrupt) answer.product[0] = (answer.product[0]! + 1) % 251;
      const digest = answerDigest(answer.challengeId, answer.product);
      ws.send(JSON.stringify({ type: 'capability-digest', challengeId: answer.challengeId, digest }));
      const { cid } = await createClient({ url, account, chainId }).uploadBlob(answer.product);
      if (cid !== cidOf(answer.product)) throw new Error('blob cid mismatch');
      // Signed when the challenge asks (protocol/signedCapabilityAnswer.ts), as the agent does.
      const ch = challenge as unknown as CapabilityChallenge;
      const signed = ch.signed ? await signedAnswer(account, chainId, { ...ch, k: ch.k ?? 1 }, digest) : {};
      ws.send(
        JSON.stringify({
          type: 'capability-answer',
          challengeId: answer.challengeId,
          productCid: cid,
          ...signed,
        }),
      );
    },
    async deliver(assign, tensors, reveal) {
      const bytes = encodeSafetensors(tensors);
      const { cid } = await createClient({ url, account, chainId }).uploadBlob(bytes);
      ws.send(
        JSON.stringify({
          ...(await signedResult(account, account.address, assign, cid, chainId)),
          ...(reveal ?? {}),
        }),
      );
      return next('ack');
    },
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((r) => ws.once('close', r));
      ws.close();
      await closed;
    },
  };
}

/** Waits until one of `providers` has received a message of `type`; returns it and who got it. */
export async function firstOf(
  providers: RawProvider[],
  type: string,
  timeoutMs = 10_000,
): Promise<{ provider: RawProvider; msg: Msg }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const provider of providers) {
      const msg = provider.take(type);
      if (msg) return { provider, msg };
    }
    if (Date.now() > until) throw new Error(`no ${type} for any of ${providers.length} providers`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A `result` message for `assign` naming `outputCid`, signed (EIP-712 TaskResult, chain 31337 unless
 * given) by `signer` on behalf of `provider`: the honest message when they are the same key, a forged
 * one otherwise.
 */
export async function signedResult(
  signer: LocalAccount,
  provider: string,
  assign: Record<string, unknown>,
  outputCid: string,
  chainId = 31337,
): Promise<Msg> {
  const issuedAt = Math.floor(Date.now() / 1000);
  const signature = await signPlexusMessage(signer, chainId, 'TaskResult', {
    provider: provider as `0x${string}`,
    assignmentId: assign.assignmentId as `0x${string}`,
    taskId: assign.taskId as `0x${string}`,
    outputCid: cidToBytes32(outputCid),
    wallMs: 5n,
    cpuMs: 5n,
    peakRssBytes: 1000n,
    issuedAt: BigInt(issuedAt),
  });
  return {
    type: 'result',
    assignmentId: assign.assignmentId,
    taskId: assign.taskId,
    outputCid,
    usage: { wallMs: 5, cpuMs: 5, peakRssBytes: 1000 },
    issuedAt,
    signature,
  };
}
