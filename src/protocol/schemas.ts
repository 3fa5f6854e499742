import { z } from 'zod';
import { INLINE_OUTPUT_MAX_BYTES, MAX_INPUTS_PER_JOB, MAX_WS_MESSAGE_BYTES } from './constants.ts';
import {
  type StorageCoordinatorMessage,
  storageOfferSchema,
  storageProviderMessageSchemas,
} from './storageSession.ts';
import { MAX_TRAIN_SHARDS, trainHyperShape } from './training.ts';

/**
 * Wire schemas, the single source of both runtime validation and TypeScript types.
 * Objects are strict: an unknown field is an error, not silently dropped.
 */

export const cidSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 content id (64 lowercase hex)');
export const hex32Schema = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be 0x + 64 lowercase hex');
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte address') as z.ZodType<`0x${string}`>;
export const signatureSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{130}$/, 'must be a 65-byte hex signature') as z.ZodType<`0x${string}`>;
/** Unsigned integers travel as decimal strings so no JSON parser rounds them. */
export const uintStringSchema = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,76})$/, 'must be a decimal unsigned integer');

export const resourcesSchema = z.strictObject({
  /** Memory the task needs on the provider, in MiB. */
  minMemoryMiB: z.int().min(0).max(4_194_304).default(0),
  /** Whether the task needs a GPU (CUDA execution provider). */
  gpu: z.boolean().default(false),
});

/**
 * How a job's results are checked (docs/verification.md): `none` accepts the first result,
 * `audit` (the default) re-runs a provider-dependent fraction of tasks on another provider,
 * `redundant` runs every task on `k` providers (default 3) and accepts the strict majority.
 */
export const jobVerificationSchema = z
  .strictObject({
    policy: z.enum(['none', 'audit', 'redundant']),
    k: z.int().min(2).max(7).optional(),
  })
  .refine((v) => v.k === undefined || v.policy === 'redundant', {
    message: 'k is only allowed with policy redundant',
    path: ['k'],
  });
export type JobVerification = z.infer<typeof jobVerificationSchema>;

/** What a client asks for in an `onnx.infer` job: one task per input file. */
export const onnxInferSpecSchema = z.strictObject({
  kind: z.literal('onnx.infer'),
  /** Content id of the ONNX model. */
  model: cidSchema,
  /** Content ids of safetensors files, one per task; tensor names are the model's input names. */
  inputs: z.array(cidSchema).min(1).max(MAX_INPUTS_PER_JOB),
  resources: resourcesSchema.default({ minMemoryMiB: 0, gpu: false }),
  /** Unix seconds after which the job fails with PLX_DEADLINE_EXCEEDED. */
  deadline: z.int().positive(),
  /** Attempts per task (on different providers where possible) before the job fails. */
  maxAttempts: z.int().min(1).max(10).default(3),
  /** Seconds a provider may spend on one task before its lease expires. */
  taskTimeoutSec: z.int().min(1).max(3600).default(120),
  /** Free-form label shown in the explorer. */
  label: z.string().max(200).optional(),
  /** Result verification; absent means the network default, adaptive audit. */
  verification: jobVerificationSchema.optional(),
  /**
   * Opt into public data: anyone may download the job's model, inputs and outputs (blobs the
   * client uploaded, and the outputs). Absent or false: only the client, and providers while they
   * hold a lease on the job (docs/security.md, "Who can read what"). Signed with the spec.
   */
  public: z.boolean().optional(),
});
export type OnnxInferSpec = z.infer<typeof onnxInferSpecSchema>;
export type OnnxInferSpecInput = z.input<typeof onnxInferSpecSchema>;

/**
 * What a client asks for in a `train.diloco` job (docs/training.md): R rounds of W tasks, each
 * from the round's global weights on one shard; hyper-parameters in ./training.ts.
 */
export const trainDilocoSpecSchema = z.strictObject({
  kind: z.literal('train.diloco'),
  /** Content id of the TF.js Layers topology (the JSON of `model.toJSON()`). */
  model: cidSchema,
  /** Content id of the initial weights (safetensors, names `<layer>/<index>`). */
  weights: cidSchema,
  /** Training shards: safetensors with `x` (float32 [n, …]) and `y` (labels [n]); worker w uses w mod count. */
  shards: z.array(cidSchema).min(1).max(MAX_TRAIN_SHARDS),
  /** Held-out shard the coordinator evaluates the global model on after each round. */
  validation: cidSchema.optional(),
  ...trainHyperShape,
  resources: resourcesSchema.default({ minMemoryMiB: 0, gpu: false }),
  deadline: z.int().positive(),
  maxAttempts: z.int().min(1).max(10).default(3),
  taskTimeoutSec: z.int().min(1).max(3600).default(300),
  label: z.string().max(200).optional(),
  verification: jobVerificationSchema.optional(),
  public: z.boolean().optional(),
});
export type TrainDilocoSpec = z.infer<typeof trainDilocoSpecSchema>;
export type TrainDilocoSpecInput = z.input<typeof trainDilocoSpecSchema>;

/**
 * A `blender.render` job (docs/render.md): `model` is the `.blend` file (resources packed),
 * `inputs` one task descriptor per frame or tile (src/protocol/render.ts builds them; intake
 * checks they are exactly the ones `render` implies), so leases, commit–reveal and results carry
 * render tasks unchanged. Outputs are PNG or EXR images compared with SSIM, not bit for bit.
 */
export const blenderRenderSpecSchema = onnxInferSpecSchema.extend({
  kind: z.literal('blender.render'),
  render: z.strictObject({
    frameStart: z.int().min(0).max(1_048_574),
    frameEnd: z.int().min(0).max(1_048_574),
    width: z.int().min(4).max(16_384),
    height: z.int().min(4).max(16_384),
    samples: z.int().min(1).max(65_536),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    /** Tiles across and down: each frame is split into x·y tasks, stitched on download. */
    tiles: z.strictObject({ x: z.int().min(1).max(16), y: z.int().min(1).max(16) }).default({ x: 1, y: 1 }),
    /**
     * `png`: 8-bit RGBA through the scene's view transform; `exr`: half-float RGBA OpenEXR
     * (scene-linear, ZIP), compared after a fixed tone map (docs/render.md, "EXR").
     */
    format: z.enum(['png', 'exr']).default('png'),
    /** Only providers with this Blender major version (e.g. 3) get the tasks. */
    blenderMajor: z.int().min(2).max(99).optional(),
  }),
});
export type BlenderRenderSpec = z.infer<typeof blenderRenderSpecSchema>;

export const jobSpecSchema = z.discriminatedUnion('kind', [
  onnxInferSpecSchema,
  trainDilocoSpecSchema,
  blenderRenderSpecSchema,
]);
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobSpecInput = z.input<typeof jobSpecSchema>;

/** POST /v1/jobs body: the spec, signed by the client (EIP-712 JobSubmission over its hash). */
export const jobSubmissionSchema = z.strictObject({
  spec: z.unknown(),
  client: addressSchema,
  nonce: uintStringSchema,
  /** Most the client pays per resource unit (PLX base units per cpu-core-second or gpu-second). */
  maxPricePerUnit: uintStringSchema,
  issuedAt: z.int().positive(),
  signature: signatureSchema,
});
export type JobSubmission = z.infer<typeof jobSubmissionSchema>;

export const usageSchema = z.strictObject({
  wallMs: z.int().min(0).max(1e12),
  cpuMs: z.int().min(0).max(1e12),
  peakRssBytes: z
    .int()
    .min(0)
    .max(2 ** 52),
});
export type Usage = z.infer<typeof usageSchema>;

/** Most memory a claim may state: 64 TiB (the largest single servers sold hold 32 TiB). */
export const MAX_CLAIMED_MEMORY_BYTES = 2 ** 46;
/** Most memory one claimed GPU may state: 1 TiB (the largest GPUs hold under 200 GiB). */
export const MAX_CLAIMED_GPU_MEMORY_MIB = 2 ** 20;

/**
 * What a provider claims about its machine: exactly these fields, each bounded (a claim is stored,
 * hashed, signed over and listed publicly, so junk fields, absurd sizes or deep nesting are refused
 * at the edge). Claims are only claims: placement and stats rely on what capability proofs show.
 */
export const hardwareClaimSchema = z.strictObject({
  cpuModel: z.string().max(200),
  cpuCores: z.int().min(1).max(4096),
  memoryBytes: z.int().min(0).max(MAX_CLAIMED_MEMORY_BYTES),
  gpus: z
    .array(
      z.strictObject({
        name: z.string().max(200),
        memoryMiB: z.number().min(0).max(MAX_CLAIMED_GPU_MEMORY_MIB),
      }),
    )
    .max(64),
  executionProviders: z.array(z.string().max(40)).max(16),
  /** Blender, where the probe found it (docs/render.md): absent → the provider gets no render work. */
  blender: z
    .strictObject({
      version: z.string().regex(/^\d{1,2}\.\d{1,3}(\.\d{1,3})?$/),
      devices: z.array(z.string().max(40)).max(16),
    })
    .optional(),
  /**
   * TF.js training backends the agent runs, `<name>@<release>` (docs/training.md): a
   * `train.diloco` task goes only to a provider listing its job's backend; absent (an older agent):
   * not excluded, its training worker refuses another release (PLX_TRAIN_BACKEND_MISMATCH).
   */
  trainBackends: z
    .array(z.string().regex(/^(wasm|cpu)@\d{1,3}\.\d{1,3}\.\d{1,3}$/))
    .max(4)
    .optional(),
});
export type HardwareClaim = z.infer<typeof hardwareClaimSchema>;

// --- provider WebSocket messages ---

export const providerAuthSchema = z.strictObject({
  type: z.literal('auth'),
  provider: addressSchema,
  issuedAt: z.int().positive(),
  signature: signatureSchema,
  hardware: hardwareClaimSchema,
  slots: z.int().min(1).max(256),
  region: z.string().max(32).default('unknown'),
  agentVersion: z.string().max(64),
  cached: z.array(cidSchema).max(10_000).default([]),
  /** Assignments the agent is still holding from an earlier session (it resends their results). */
  inFlight: z.array(hex32Schema).max(1024).default([]),
  /**
   * Floor price per resource class (`cpu`, `gpu:<model>`), decimal PLX base units per unit; the
   * coordinator places no work below it. Absent → the defaults in docs/market.md.
   */
  floorPrices: z.record(z.string().regex(/^(cpu|gpu:[a-z0-9-]{1,48})$/), uintStringSchema).optional(),
  /** Disk offered to the storage network (`--storage-gib`); absent → no storage work. */
  storage: storageOfferSchema.optional(),
});

export const providerResultSchema = z.strictObject({
  type: z.literal('result'),
  assignmentId: hex32Schema,
  /** The assign's opaque task reference (= assignmentId, protocol v3), as signed. */
  taskId: hex32Schema,
  outputCid: cidSchema,
  usage: usageSchema,
  issuedAt: z.int().positive(),
  signature: signatureSchema,
  /**
   * Protocol v2: the reveal that opens the provider's signed commitment (sha256 of
   * abi.encode(taskId, provider, outputDigest, salt), `taskId` the opaque reference). Absent from v1 agents, whose results the
   * coordinator commits to on their behalf.
   */
  outputDigest: hex32Schema.optional(),
  salt: hex32Schema.optional(),
  /**
   * The output's bytes (base64, at most INLINE_OUTPUT_MAX_BYTES decoded) when the coordinator's
   * `welcome` offered it: stored as blob `outputCid` (they must hash to it) instead of a PUT first.
   */
  output: z
    .string()
    .max(Math.ceil(INLINE_OUTPUT_MAX_BYTES / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
    .optional(),
});

/**
 * Protocol v2: a provider's signed commitment to its output (EIP-712 TaskCommitment), sent before
 * the output is uploaded; the coordinator answers with `reveal` once every execution of the round
 * has committed.
 */
export const providerCommitSchema = z.strictObject({
  type: z.literal('commit'),
  assignmentId: hex32Schema,
  taskId: hex32Schema,
  commitment: hex32Schema,
  issuedAt: z.int().positive(),
  signature: signatureSchema,
});

/** Capability proof, step 1: the sha256 of the answer (the clock stops when it arrives). */
export const providerCapabilityDigestSchema = z.strictObject({
  type: z.literal('capability-digest'),
  challengeId: hex32Schema,
  digest: z.string().regex(/^[0-9a-f]{64}$/),
});

/** Capability proof, step 2: the answer bytes (C mod p, n² bytes), uploaded as a blob. */
export const providerCapabilityAnswerSchema = z.strictObject({
  type: z.literal('capability-answer'),
  challengeId: hex32Schema,
  productCid: cidSchema,
  /**
   * When the challenge asked (`signed`): the provider's EIP-712 `CapabilityAnswer` over the
   * challenge and the digest (protocol/signedCapabilityAnswer.ts), carried by the evidence bundle.
   */
  issuedAt: z.int().positive().optional(),
  signature: signatureSchema.optional(),
});

/**
 * A capability challenge as the agent reads it (coordinator → provider): bounded sizes, and a
 * missing chain length `k` means 1 (the single-product proof of older coordinators).
 */
export const capabilityChallengeSchema = z.object({
  type: z.literal('capability'),
  challengeId: z.string().min(1).max(200),
  seed: z.string().min(1).max(200),
  // n ≤ 8388 keeps every float32 partial sum of the chain exact (250·8·n < 2^24).
  n: z.int().min(1).max(8388),
  k: z.int().min(1).max(4096).default(1),
  modulus: z.literal(251),
  hardwareClass: z.string().max(100),
  deadlineMs: z.int().positive(),
  budgetMs: z.number().positive().optional(),
  /** Sign the answer (`CapabilityAnswer`); absent from an older coordinator's challenge. */
  signed: z.boolean().optional(),
});

export const providerFailureSchema = z.strictObject({
  type: z.literal('failure'),
  assignmentId: hex32Schema,
  taskId: hex32Schema,
  code: z.string().regex(/^PLX_[A-Z0-9_]{1,60}$/),
  message: z.string().max(2000),
  issuedAt: z.int().positive(),
  signature: signatureSchema,
});

export const providerCacheSchema = z.strictObject({
  type: z.literal('cache'),
  added: z.array(cidSchema).max(10_000).default([]),
  removed: z.array(cidSchema).max(10_000).default([]),
});

export const providerDrainSchema = z.strictObject({ type: z.literal('drain') });

export const providerMessageSchema = z.discriminatedUnion('type', [
  providerAuthSchema,
  providerResultSchema,
  providerCommitSchema,
  providerFailureSchema,
  providerCapabilityDigestSchema,
  providerCapabilityAnswerSchema,
  providerCacheSchema,
  providerDrainSchema,
  ...storageProviderMessageSchemas,
]);
export type ProviderMessage = z.infer<typeof providerMessageSchema>;
export type ProviderAuth = z.infer<typeof providerAuthSchema>;
export type ProviderResult = z.infer<typeof providerResultSchema>;
export type ProviderFailure = z.infer<typeof providerFailureSchema>;
export type ProviderCommit = z.infer<typeof providerCommitSchema>;

/** Coordinator → provider messages (the coordinator is trusted by the agent it connected to). */
export type CoordinatorMessage =
  | { type: 'hello'; challenge: `0x${string}`; chainId: number; protocolVersion: number }
  | {
      type: 'welcome';
      provider: `0x${string}`;
      maxMessageBytes: number;
      /** Outputs up to this size may travel inside the result (`output`); absent: upload them all. */
      inlineOutputBytes?: number;
      /** The largest blob the coordinator takes: the agent's blob cache refuses a bigger one. */
      maxBlobBytes?: number;
    }
  | {
      type: 'assign';
      /** Random, one per assignment: two executions of one task never share it. */
      assignmentId: `0x${string}`;
      /**
       * Protocol v3: the opaque task reference to sign over, equal to `assignmentId`
       * (src/protocol/taskRef.ts). The real task and job ids never reach a provider while the task is
       * open (docs/protocol.md, "Opaque assignment ids"); v1/v2 agents echo this field unchanged.
       */
      taskId: `0x${string}`;
      kind: JobSpec['kind'];
      model: string;
      input: string;
      gpu: boolean;
      timeoutMs: number;
      /**
       * Lets the provider read this task's model and input while it holds the lease, sent as
       * `x-plexus-auth` instead of a per-read signature (docs/security.md). Absent from an older
       * coordinator: the agent signs its reads.
       */
      readToken?: string;
      /**
       * The input's bytes (base64) when it is at most INLINE_INPUT_MAX_BYTES: the agent takes them
       * instead of downloading `input` (its cache checks they hash to it). Absent: download it.
       */
      inputBytes?: string;
      /**
       * `blender.render` region audits only: render just this region of the task, `[x0, y0, x1,
       * y1]` in frame pixels inside the task's own region (docs/render.md, "Region audits").
       */
      region?: [number, number, number, number];
    }
  | { type: 'cancel'; assignmentId: `0x${string}`; reason: string }
  /** Protocol v2: every execution of the round has committed; upload the output and reveal. */
  | { type: 'reveal'; assignmentId: `0x${string}` }
  /** A capability-proof challenge (src/coordinator/verification/capabilityProof.ts). */
  | {
      type: 'capability';
      challengeId: string;
      seed: string;
      n: number;
      /** Chain length; absent from an older coordinator's challenge, which means 1. */
      k?: number;
      modulus: number;
      hardwareClass: string;
      deadlineMs: number;
      /** The class's time budget (ms); absent from an older coordinator's challenge. */
      budgetMs?: number | undefined;
      /** Sign the answer (protocol/signedCapabilityAnswer.ts); absent from an older coordinator's. */
      signed?: boolean | undefined;
    }
  | StorageCoordinatorMessage
  | { type: 'ack'; assignmentId: `0x${string}`; accepted: boolean; code?: string; message?: string }
  | { type: 'error'; code: string; message: string };

export { MAX_WS_MESSAGE_BYTES };
