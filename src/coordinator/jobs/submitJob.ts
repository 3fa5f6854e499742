import type { Kysely, Transaction } from 'kysely';
import type { Address, Hex } from 'viem';
import { z } from 'zod';
import { PlexusError } from '../../errors/PlexusError.ts';
import { hashCanonical } from '../../protocol/canonicalJson.ts';
import { MAX_JOB_DEADLINE_SEC } from '../../protocol/constants.ts';
import { type PlexusDomainRef, plexusMessageHash, verifyPlexusMessage } from '../../protocol/eip712.ts';
import { taskIdOf } from '../../protocol/ids.ts';
import { safetensorsHeaderBytes, safetensorsLayout } from '../../protocol/safetensors.ts';
import { type JobSpec, type JobSubmission, jobSpecSchema } from '../../protocol/schemas.ts';
import { checkInputsAgainstModel } from '../../runtimes/onnx/checkInputsAgainstModel.ts';
import { inspectOnnxModel, type OnnxModelMeta } from '../../runtimes/onnx/inspectOnnxModel.ts';
import { assertClientsBlobs } from '../blobs/clientsBlobs.ts';
import type { BlobStore } from '../blobs/createBlobStore.ts';
import type { EventLog } from '../events/createEventLog.ts';
import type { Market } from '../market/createMarket.ts';
import { modelReadReserve } from '../storage/modelReadReserve.ts';
import { inTransaction } from '../store/inTransaction.ts';
import type { Database } from '../store/schema.ts';
import { submitTrainJob } from '../training/trainIntake.ts';
import { policyOfSpec } from '../verification/policy.ts';
import { checkRenderJob } from './checkRenderJob.ts';
import { insertJobRow } from './insertJobRow.ts';

/** Bytes of an input read at first to check it (its header; a larger header is read whole). */
const HEAD_BYTES = 64 * 1024;
/** Input check outcomes kept (by model and input cid), oldest dropped first. */
const MAX_INPUT_CHECKS = 50_000;
/** Why an input does not fit a model (a PlexusError's parts, kept across submissions). */
type InputProblem = {
  code: 'PLX_INPUT_MISMATCH' | 'PLX_BAD_TENSOR_FILE';
  message: string;
  details: Record<string, unknown>;
};
/** The job kinds this coordinator runs (jobSpecSchema's discriminator values). */
const JOB_KINDS = new Set(['onnx.infer', 'train.diloco', 'blender.render']);
/** Largest model the coordinator loads to check a submission. */
const MAX_INSPECTED_MODEL_BYTES = 512 * 1024 * 1024;

export type JobSubmitter = {
  /** Validates, verifies and stores a signed job; returns its id (the EIP-712 digest). */
  submit(submission: JobSubmission): Promise<{ jobId: Hex; tasks: number }>;
};

/**
 * Job intake. Everything a client sends is checked before anything is stored, cheapest first: the
 * spec against its schema, the EIP-712 signature and its freshness, the nonce against replays, that
 * every blob exists and the escrow covers the job; only then that the model is a loadable ONNX
 * model (in an isolated process, one at a time) and that each input file matches the model's
 * input names, dtypes and shapes. A job that passes is stored with all its tasks in one transaction.
 *
 * @example const { jobId } = await submitter.submit(await signJobSubmission(account, chainId, spec));
 */
export function createJobSubmitter(deps: {
  db: Kysely<Database>;
  blobs: BlobStore;
  events: EventLog;
  chainId: number;
  /**
   * The coordinator network's id in the job signature's domain (the escrow contract, or the
   * development-mode network id): a job signed for another coordinator network is refused with
   * PLX_BAD_SIGNATURE. Absent: the bare chain id (tests of intake alone).
   */
  verifyingContract?: Address;
  now?: () => number;
  onSubmitted?: (jobId: Hex) => void;
  /** Escrow admission and prices (src/coordinator/market); absent → jobs are admitted without a check. */
  market?: Market;
  /**
   * Reads a model's interface. Default: {@link inspectOnnxModel} in a throwaway process
   * (`isolated`), so a model that crashes onnxruntime or takes seconds to load never stops the
   * coordinator's event loop. Inspections run one at a time whatever this is.
   */
  inspect?: (path: string) => Promise<OnnxModelMeta>;
}): JobSubmitter {
  const inspect =
    deps.inspect ?? ((path: string) => inspectOnnxModel(path, { isolated: true, timeoutMs: 60_000 }));
  // One inspection at a time: each costs a process and up to the model's size in memory, and
  // submissions naming fresh models (one byte changed is a new cid) must not multiply that.
  let inspecting: Promise<unknown> = Promise.resolve();
  const inspectQueued = (path: string): Promise<OnnxModelMeta> => {
    const run = inspecting.then(() => inspect(path));
    inspecting = run.catch(() => {});
    return run;
  };
  const now = deps.now ?? Date.now;
  const domain: PlexusDomainRef =
    deps.verifyingContract === undefined
      ? deps.chainId
      : { chainId: deps.chainId, verifyingContract: deps.verifyingContract };
  /** Outcomes of input checks by `model:input` (null: it fits); both cids are immutable. */
  const inputChecks = new Map<string, InputProblem | null>();

  /**
   * Checks one input file against a model from its header alone (safetensorsLayout: names,
   * dtypes, shapes and the data section's extent, not the data): its problem, or null.
   */
  async function checkInput(meta: OnnxModelMeta, cid: string, head: Buffer): Promise<InputProblem | null> {
    try {
      let { read, size } = await deps.blobs.readHead(cid, head);
      let bytes: Uint8Array = head.subarray(0, read);
      const need = safetensorsHeaderBytes(bytes);
      if (need > read && need <= size) {
        bytes = Buffer.allocUnsafe(need);
        ({ read, size } = await deps.blobs.readHead(cid, bytes));
      }
      checkInputsAgainstModel(meta, safetensorsLayout(bytes, size));
      return null;
    } catch (err) {
      // The client's input is wrong (kept); anything else (the blob vanished meanwhile) is not.
      if (
        err instanceof PlexusError &&
        (err.code === 'PLX_INPUT_MISMATCH' || err.code === 'PLX_BAD_TENSOR_FILE')
      )
        return { code: err.code, message: err.message, details: err.details ?? {} };
      throw err;
    }
  }
  // Model metadata by content id: models are immutable, so this never goes stale.
  const models = new Map<string, Promise<OnnxModelMeta>>();

  async function modelMeta(cid: string): Promise<OnnxModelMeta> {
    let meta = models.get(cid);
    if (!meta) {
      meta = (async () => {
        const size = await deps.blobs.size(cid);
        if (size === undefined)
          throw new PlexusError('PLX_UNKNOWN_BLOB', `model ${cid} was not uploaded`, { details: { cid } });
        if (size > MAX_INSPECTED_MODEL_BYTES)
          throw new PlexusError('PLX_PAYLOAD_TOO_LARGE', 'model is too large');
        return inspectQueued(await deps.blobs.localPath(cid, size)).catch(async (err: unknown) => {
          // The blob can vanish between the size check and the inspection (collected, or
          // removed): that is the client's unknown blob, not an internal error.
          if ((await deps.blobs.size(cid)) === undefined)
            throw new PlexusError('PLX_UNKNOWN_BLOB', `model ${cid} is no longer stored`, {
              details: { cid },
            });
          throw err;
        });
      })();
      models.set(cid, meta);
      meta.catch(() => models.delete(cid));
      if (models.size > 256) models.delete(models.keys().next().value as string);
    }
    return meta;
  }

  return {
    async submit(submission) {
      const parsed = jobSpecSchema.safeParse(submission.spec);
      if (!parsed.success) {
        // The documented codes where they apply (docs/errors.md): an unknown kind, a malformed
        // content id; anything else is PLX_VALIDATION with every issue listed.
        const kind = (submission.spec as { kind?: unknown } | null)?.kind;
        if (typeof kind === 'string' && !JOB_KINDS.has(kind)) {
          throw new PlexusError(
            'PLX_UNSUPPORTED_JOB_KIND',
            `job kind ${JSON.stringify(kind.slice(0, 64))} is not run here`,
            {
              details: { supported: [...JOB_KINDS] },
            },
          );
        }
        const badCid = parsed.error.issues.find(
          (i) => (i.path[0] === 'model' || i.path[0] === 'inputs') && i.code === 'invalid_format',
        );
        if (badCid) {
          throw new PlexusError('PLX_BAD_CID', `spec.${badCid.path.join('.')}: ${badCid.message}`, {
            details: { path: ['spec', ...badCid.path].join('.') },
          });
        }
        throw new PlexusError('PLX_VALIDATION', `spec: ${z.prettifyError(parsed.error)}`, {
          details: {
            issues: parsed.error.issues.map((i) => ({
              path: ['spec', ...i.path].join('.'),
              message: i.message,
            })),
          },
        });
      }
      const spec: JobSpec = parsed.data;
      // The client signs the hash of the spec exactly as sent (defaults are applied after).
      const message = {
        client: submission.client,
        specHash: hashCanonical(submission.spec),
        nonce: BigInt(submission.nonce),
        maxPricePerUnit: BigInt(submission.maxPricePerUnit),
        issuedAt: BigInt(submission.issuedAt),
      };
      await verifyPlexusMessage({
        chainId: domain,
        primaryType: 'JobSubmission',
        message,
        signature: submission.signature,
        expectedSigner: submission.client,
        nowSec: Math.floor(now() / 1000),
      });
      const jobId = plexusMessageHash(domain, 'JobSubmission', message);
      const client = submission.client.toLowerCase();
      const seen = await deps.db
        .selectFrom('jobs')
        .select('id')
        .where((eb) =>
          eb.or([
            eb('id', '=', jobId),
            eb.and([eb('client', '=', client), eb('nonce', '=', submission.nonce)]),
          ]),
        )
        .executeTakeFirst();
      if (seen)
        throw new PlexusError('PLX_REPLAY', `nonce ${submission.nonce} was already used`, {
          details: { jobId: seen.id },
        });
      if (spec.deadline * 1000 <= now()) {
        throw new PlexusError('PLX_DEADLINE_PASSED', `deadline ${spec.deadline} is in the past`);
      }
      // Capped: an audited job's unchecked outputs are billed at its end (deferredBilling.ts).
      if (spec.deadline * 1000 > now() + MAX_JOB_DEADLINE_SEC * 1000)
        throw new PlexusError(
          'PLX_DEADLINE_TOO_FAR',
          `deadline ${spec.deadline} is more than ${MAX_JOB_DEADLINE_SEC} s away`,
          { details: { maxDeadlineSec: MAX_JOB_DEADLINE_SEC } },
        );
      if (spec.kind === 'train.diloco') {
        // Collaborative training has its own checks and rounds (src/coordinator/training).
        const stored = await submitTrainJob({ ...deps, now }, spec, { submission, jobId, client });
        deps.events.notify(jobId);
        deps.onSubmitted?.(jobId);
        return stored;
      }

      // Cheap admission before the expensive checks (reading inputs, loading the model): every
      // blob exists, and the client's escrow covers the worst case (checked again on insert).
      if (!models.has(spec.model) && (await deps.blobs.size(spec.model)) === undefined) {
        throw new PlexusError('PLX_UNKNOWN_BLOB', `model ${spec.model} was not uploaded`, {
          details: { cid: spec.model },
        });
      }
      for (const cid of new Set(spec.inputs)) {
        if ((await deps.blobs.size(cid)) === undefined)
          throw new PlexusError('PLX_UNKNOWN_BLOB', `no blob ${cid}`, { details: { cid } });
      }
      // A model kept on the storage network: its reads are charged to the client, so reserved too.
      const modelReads = deps.market
        ? await modelReadReserve(deps.db, {
            model: spec.model,
            client,
            tasks: spec.inputs.length,
            policy: policyOfSpec(spec),
          })
        : 0n;
      await deps.market?.canAdmit({
        client: submission.client,
        tasks: spec.inputs.length,
        policy: policyOfSpec(spec),
        taskTimeoutSec: spec.taskTimeoutSec,
        maxPrice: BigInt(submission.maxPricePerUnit),
        modelReads,
      });
      // Only the client's own blobs (clientsBlobs.ts): before any of them is read or described.
      await assertClientsBlobs(deps.db, client, [spec.model, ...spec.inputs]);

      if (spec.kind === 'blender.render') await checkRenderJob(deps.blobs, spec);
      const meta = spec.kind === 'onnx.infer' ? await modelMeta(spec.model) : undefined;
      // Each distinct input is checked once per model, however often it is repeated in the job or
      // a refused submission naming it is sent again (security review s10 F5: a replayed refusal
      // re-read every input): only its header is read, and the outcome is kept (cids are immutable).
      const head = meta ? Buffer.allocUnsafe(HEAD_BYTES) : undefined;
      for (const [idx, cid] of [...new Set(meta ? spec.inputs : [])].entries()) {
        const key = `${spec.model}:${cid}`;
        let outcome = inputChecks.get(key);
        if (outcome === undefined) {
          outcome = await checkInput(meta!, cid, head!);
          inputChecks.set(key, outcome);
          if (inputChecks.size > MAX_INPUT_CHECKS)
            inputChecks.delete(inputChecks.keys().next().value as string);
        }
        if (outcome !== null)
          throw new PlexusError(outcome.code, `input ${cid}: ${outcome.message}`, {
            details: { ...outcome.details, input: cid, index: idx },
          });
      }

      const t = now();
      const insert = (worstCase: bigint | undefined, given?: Transaction<Database>) =>
        inTransaction(deps.db, given, async (trx) => {
          await insertJobRow(trx, deps.events, {
            jobId,
            client,
            submission,
            spec,
            tasks: spec.inputs.length,
            worstCase,
            now: t,
          });
          const rows = spec.inputs.map((input, idx) => ({
            id: taskIdOf(jobId, idx),
            job_id: jobId,
            idx,
            input_cid: input,
            status: 'queued' as const,
            attempts: 0,
            output_cid: null,
            provider: null,
            result: null,
            last_error: null,
            queued_at: t,
            updated_at: t,
          }));
          for (let i = 0; i < rows.length; i += 500)
            await trx
              .insertInto('tasks')
              .values(rows.slice(i, i + 500))
              .execute();
        });
      try {
        // The job is stored only once the client's escrow covers its worst case (docs/market.md).
        if (deps.market) {
          await deps.market.admit(
            {
              client: submission.client,
              tasks: spec.inputs.length,
              policy: policyOfSpec(spec),
              taskTimeoutSec: spec.taskTimeoutSec,
              maxPrice: BigInt(submission.maxPricePerUnit),
              modelReads,
            },
            (worst, trx) => insert(worst, trx),
          );
        } else {
          await insert(undefined);
        }
      } catch (err) {
        // Two identical submissions racing: the unique (client, nonce) index lets one through.
        if (String(err).includes('UNIQUE'))
          throw new PlexusError('PLX_REPLAY', `nonce ${submission.nonce} was already used`);
        throw err;
      }
      deps.events.notify(jobId);
      deps.onSubmitted?.(jobId);
      return { jobId, tasks: spec.inputs.length };
    },
  };
}
