/**
 * `plexus job quote` (and `job submit --dry-run`): what a job would cost, before anything is
 * uploaded or signed. The worst case is the coordinator's own admission arithmetic (worstCaseCost,
 * imported, not restated); the expected cost prices an assumed per-task usage at the current
 * base price with the same priceExecution the settlement uses. A `--model <cid>` kept on the storage
 * network is read from it (its size and coding, with the owner's signed status request) instead of
 * a local file, and the quote adds what one provider's read of it costs.
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { CPU_CLASS } from '../coordinator/market/constants.ts';
import {
  paidExecutionsPerTask,
  priceExecution,
  worstCaseCost,
} from '../coordinator/market/priceExecution.ts';
import { STORAGE_DEFAULTS } from '../coordinator/storage/constants.ts';
import { policyOfSpec } from '../coordinator/verification/policy.ts';
import { PlexusError } from '../errors/PlexusError.ts';
import { DEFAULT_MAX_PRICE_PER_UNIT } from '../protocol/constants.ts';
import type { JobVerification, OnnxInferSpec } from '../protocol/schemas.ts';
import { fetchCoordinator } from './fetchCoordinator.ts';
import { formatPlx, plural } from './format.ts';
import { DEFAULT_CLIENT_KEYSTORE } from './options.ts';

const pricesSchema = z.looseObject({
  classes: z.array(
    z.looseObject({ class: z.string(), unit: z.string(), basePrice: z.string().regex(/^\d{1,78}$/) }),
  ),
});

/** What quoteJob needs: the parts of `job submit`'s options that change the price. */
export type QuoteInput = {
  coordinator: string;
  model: string;
  input: string[];
  taskTimeoutSec: number;
  gpu: boolean;
  verify?: JobVerification;
  maxPrice?: bigint;
  /** Assumed seconds of one core (or one GPU) per task, for the expected cost. */
  expectSec: number;
  /** The client key (a `--model <cid>` on the storage network is its owner's to read). */
  keystore?: string;
};

/** A model kept on the storage network (`--model <cid>`), as the quote reads it. */
export type StoredModelQuote = {
  cid: string;
  bytes: number;
  dataPieces: number;
  parityPieces: number;
  /** Bytes a provider fetches to read it once: K pieces of every segment. */
  readBytesPerProvider: number;
  /** What one provider's read costs the client (receipts at the retrieval price per byte). */
  readCostPerProvider: bigint;
  /**
   * Bytes of the coded object (K + M pieces of every segment): each reader may be served
   * `modelReadsPerReader` of these, which admission reserves per possible reader.
   */
  codedBytes: number;
};

/** A job's price, in base units (the CLI prints PLX). */
export type Quote = {
  tasks: number;
  resourceClass: string;
  unit: string;
  basePrice: bigint;
  maxPricePerUnit: bigint;
  executionsPerTaskWorstCase: string;
  /** Reserved against the escrow at admission: the job is refused when the escrow is below it. */
  worstCase: bigint;
  /** If each task uses `expectSec` units and is executed once (no audit drawn). */
  expected: bigint;
  expectSec: number;
  /** The stored model's size and read cost, when `--model` names one on the storage network. */
  model?: StoredModelQuote;
};

/** Checks that every file exists before anything else happens (no key, no upload). */
export async function checkFiles(files: readonly string[]): Promise<void> {
  for (const f of files) {
    const s = await stat(f);
    if (!s.isFile())
      throw new PlexusError('PLX_FILE_NOT_FOUND', `${f} is not a file`, { details: { path: f } });
  }
}

/**
 * Prices a job without submitting it.
 *
 * @example
 * const q = await quoteJob({ coordinator: 'http://127.0.0.1:8080', model: 'm.onnx', input: ['a.safetensors'], taskTimeoutSec: 120, gpu: false, expectSec: 1 });
 */
export async function quoteJob(o: QuoteInput): Promise<Quote> {
  const stored = storedModelCid(o.model);
  await checkFiles([...(stored ? [] : [o.model]), ...o.input]);
  const model = stored ? await storedModelQuote(o, stored) : undefined;
  const prices = await fetchCoordinator(o.coordinator, '/v1/prices', pricesSchema);
  // A GPU job is priced in its GPU class; which one is known only at placement, so the dearest.
  const candidates = prices.classes.filter((c) => (o.gpu ? c.class !== CPU_CLASS : c.class === CPU_CLASS));
  const cls = candidates.sort((a, b) => (BigInt(b.basePrice) > BigInt(a.basePrice) ? 1 : -1))[0];
  const maxPrice = o.maxPrice ?? DEFAULT_MAX_PRICE_PER_UNIT;
  const spec = { verification: o.verify } as unknown as OnnxInferSpec;
  const policy = policyOfSpec(spec);
  const tasks = o.input.length;
  // Admission reserves the model's reads too (modelReadReserve.ts): the same arithmetic here.
  const modelReads = model
    ? BigInt(tasks) *
      BigInt(paidExecutionsPerTask(policy)) *
      BigInt(STORAGE_DEFAULTS.modelReadsPerReader) *
      BigInt(model.codedBytes) *
      STORAGE_DEFAULTS.pricePerByte
    : 0n;
  const worstCase = worstCaseCost({ tasks, policy, taskTimeoutSec: o.taskTimeoutSec, maxPrice, modelReads });
  const basePrice = cls ? BigInt(cls.basePrice) : 0n;
  const ms = Math.round(o.expectSec * 1000);
  const one = priceExecution({
    cls: cls?.class ?? CPU_CLASS,
    usage: { wallMs: ms, cpuMs: ms, peakRssBytes: 0 },
    timeoutSec: o.taskTimeoutSec,
    basePrice,
    floor: 0n,
    maxPrice,
  });
  const executions = policy.kind === 'redundant' ? policy.k : 1;
  return {
    tasks,
    resourceClass: cls?.class ?? (o.gpu ? 'gpu (no GPU provider has been seen yet)' : CPU_CLASS),
    unit: cls?.unit ?? (o.gpu ? 'gpu-second' : 'cpu-core-second'),
    basePrice,
    maxPricePerUnit: maxPrice,
    executionsPerTaskWorstCase: policy.kind,
    worstCase,
    expected: one.charge * BigInt(tasks) * BigInt(executions),
    expectSec: o.expectSec,
    ...(model ? { model } : {}),
  };
}

/**
 * `--model` naming a content id (64 hex digits, no such file here): a model on the storage network.
 *
 * @example storedModelCid('ab'.repeat(32)) // 'abab…' (unless a file has that name)
 */
export function storedModelCid(model: string): string | undefined {
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(model) || existsSync(model)) return undefined;
  return model.replace(/^0x/, '').toLowerCase();
}

/**
 * Reads a stored model's size and shape from the storage network (a signed status request: the
 * object is its owner's to see), refused unless it is `stored`; prices one provider's read of it.
 */
async function storedModelQuote(o: QuoteInput, cid: string): Promise<StoredModelQuote> {
  const keystore = o.keystore ?? DEFAULT_CLIENT_KEYSTORE;
  if (!existsSync(keystore))
    throw new PlexusError(
      'PLX_NOT_FOUND',
      `--model ${cid}: no such file; a stored model is read with your client key, and there is none at ${keystore} (--keystore)`,
    );
  const [{ loadOrCreateKeystore }, { readPassword }, { createStorageClient }, { isPlexusError }] =
    await Promise.all([
      import('../keystore/loadOrCreateKeystore.ts'),
      import('../keystore/readPassword.ts'),
      import('../client/createStorageClient.ts'),
      import('../errors/PlexusError.ts'),
    ]);
  const password = await readPassword({ prompt: 'Client keystore password: ' });
  const account = await loadOrCreateKeystore(keystore, password, { role: 'client' });
  const store = createStorageClient({ url: o.coordinator.split(',')[0]!, account });
  const s = await store.status(cid).catch((err: unknown) => {
    if (isPlexusError(err) && err.code === 'PLX_NOT_FOUND')
      throw new PlexusError(
        'PLX_NOT_FOUND',
        `--model ${cid}: no such file, and no object of this account stored on the network under that id`,
      );
    throw err;
  });
  if (s.status !== 'stored')
    throw new PlexusError(
      'PLX_STORAGE_UNAVAILABLE',
      `--model ${cid} is ${s.status} on the storage network, not stored`,
    );
  // K pieces of each segment, each max(1, ⌈segment / K⌉) bytes (the coding's piece size).
  const segmentBytes = STORAGE_DEFAULTS.segmentBytes;
  let readBytes = 0;
  let codedBytes = 0;
  for (let at = 0; at < Math.max(1, s.bytes); at += segmentBytes) {
    const piece = Math.max(1, Math.ceil(Math.min(segmentBytes, s.bytes - at) / s.dataPieces));
    readBytes += s.dataPieces * piece;
    codedBytes += (s.dataPieces + s.parityPieces) * piece;
  }
  return {
    cid,
    bytes: s.bytes,
    dataPieces: s.dataPieces,
    parityPieces: s.parityPieces,
    readBytesPerProvider: readBytes,
    readCostPerProvider: BigInt(readBytes) * STORAGE_DEFAULTS.pricePerByte,
    codedBytes,
  };
}

/** The quote for people, one fact a line. */
export function quoteLines(q: Quote): string[] {
  return [
    `quote for ${plural(q.tasks, 'task')} (${q.resourceClass}, verification ${q.executionsPerTaskWorstCase})`,
    `  base price     ${formatPlx(q.basePrice)} per ${q.unit}; your cap ${formatPlx(q.maxPricePerUnit)} (--max-price)`,
    `  expected       ${formatPlx(q.expected)} if each task takes ${q.expectSec} ${q.unit.replace(/^.*-/, '')}(s) (--expect-sec)`,
    `  worst case     ${formatPlx(q.worstCase)}: reserved from your escrow at submission, the job is refused below it`,
    ...(q.model
      ? [
          `  model          ${q.model.cid} on the storage network: ${q.model.bytes} bytes (K=${q.model.dataPieces}, M=${q.model.parityPieces}); each provider that runs tasks reads it once for ${formatPlx(q.model.readCostPerProvider)} (${q.model.readBytesPerProvider} bytes), charged to you`,
        ]
      : []),
    '  deposit with   plexus client deposit AMOUNT (on a devnet, get PLX first: plexus devnet faucet ADDRESS)',
  ];
}
