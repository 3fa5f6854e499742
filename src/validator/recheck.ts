/**
 * Validator re-execution (docs/validators.md, "Re-execution"): a random sample of an epoch's
 * charged executions, chosen with the validator's own secret randomness (neither the coordinator
 * nor a provider can know which), is run again on the validator's own onnxruntime and compared with
 * the accepted output using the coordinator's tolerance code. It catches what signatures cannot:
 * a coordinator and a provider that collude on a wrong output. The blobs are read from the
 * coordinator with validator-signed reads (`BlobRead`, docs/security.md); a blob the coordinator
 * will not serve is a dispute — a validator does not sign what it could not check.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LocalAccount } from 'viem';
import type { ChargeFact, EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { compareTensorSets } from '../coordinator/verification/compareTensors.ts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { readBounded } from '../protocol/boundedBody.ts';
import { BLOB_AUTH_HEADER, signBlobAuth } from '../protocol/eip712.ts';
import { taskIdOf } from '../protocol/ids.ts';
import { type ReplicaFetch, replicaFetch } from '../protocol/replicaFetch.ts';
import { decodeSafetensors } from '../protocol/safetensors.ts';
import type { OnnxRuntime } from '../runtimes/onnx/createOnnxRuntime.ts';
import type { FactDispute } from './checkFacts.ts';

/** Largest blob a validator downloads for a re-execution (models included). */
export const MAX_RECHECK_BLOB_BYTES = 512 * 1024 * 1024;

/**
 * The executions to re-run: each charged inference execution independently with probability
 * `rate`, drawn from the validator's own CSPRNG. (Other job kinds — training rounds, renders — are
 * checked by their own verification; a validator re-runs what its onnxruntime can.)
 *
 * @example
 * pickRechecks(facts, 0.03); // about 3% of the inference charges
 */
export function pickRechecks(facts: Pick<EpochFacts, 'jobs' | 'charges'>, rate: number): ChargeFact[] {
  if (!(rate > 0)) return [];
  const inference = new Set(
    facts.jobs
      .filter((j) => (j.spec as { kind?: unknown } | null)?.kind === 'onnx.infer')
      .map((j) => j.jobId),
  );
  const scale = 1_000_000;
  const cut = Math.round(Math.min(1, rate) * scale);
  return facts.charges.filter((c) => inference.has(c.jobId) && randomInt(scale) < cut);
}

/**
 * The coordinator answered and will not serve the blob (a 4xx other than 408/429, or one over the
 * recheck limit): a fact about its evidence, so a dispute. Anything else readBlobAs throws (the
 * network, a timeout, a 5xx) is the moment, not the coordinator's claim: the epoch is checked again at
 * the next poll, and no dispute is recorded (one was, for a coordinator restarting mid-check).
 */
export class BlobRefused extends Error {}

/**
 * Downloads a blob as `account` (a validator-signed read). Throws {@link BlobRefused} when the
 * coordinator refuses it, another error when it could not be asked.
 *
 * @example
 * const bytes = await readBlobAs(url, account, 31337, cid);
 */
export async function readBlobAs(
  coordinator: string | ReplicaFetch,
  account: LocalAccount,
  chainId: number,
  cid: string,
  maxBytes = MAX_RECHECK_BLOB_BYTES,
): Promise<Uint8Array> {
  const replicas = typeof coordinator === 'string' ? replicaFetch(coordinator) : coordinator;
  const auth = await signBlobAuth(account, chainId, { cid });
  const res = await replicas.fetch(`/v1/blobs/${cid}`, () => ({
    headers: { [BLOB_AUTH_HEADER]: auth },
    signal: AbortSignal.timeout(120_000),
  }));
  if (!res.ok) {
    const refused = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
    if (refused) throw new BlobRefused(`blob ${cid}: HTTP ${res.status}`);
    throw new Error(`blob ${cid}: HTTP ${res.status} (will retry)`);
  }
  // Refused from its content-length up front, or cut off once the streamed count passes the limit
  // (a chunked answer declares none: review s13, F1b). Over the limit is the coordinator's answer.
  try {
    return await readBounded(res, maxBytes, `${replicas.url()}/v1/blobs/${cid}`);
  } catch (err) {
    if (isPlexusError(err, 'PLX_RESPONSE_TOO_LARGE'))
      throw new BlobRefused(
        `blob ${cid}: over the recheck limit of ${maxBytes} bytes (PLX_RESPONSE_TOO_LARGE)`,
        {
          cause: err,
        },
      );
    throw err;
  }
}

/**
 * Re-runs `picked` executions and returns the first one whose output differs (or could not be
 * checked), or null.
 *
 * @example
 * const dispute = await recheckExecutions({ coordinator, account, chainId, runtime, facts, picked });
 */
export async function recheckExecutions(args: {
  coordinator: string | ReplicaFetch;
  account: LocalAccount;
  chainId: number;
  runtime: OnnxRuntime;
  facts: EpochFacts;
  picked: readonly ChargeFact[];
}): Promise<FactDispute | null> {
  if (args.picked.length === 0) return null;
  const jobs = new Map(args.facts.jobs.map((j) => [j.jobId, j]));
  const dir = await mkdtemp(join(tmpdir(), 'plexus-recheck-'));
  const read = (cid: string) => readBlobAs(args.coordinator, args.account, args.chainId, cid);
  try {
    for (const [i, c] of args.picked.entries()) {
      const name = `recheck[${c.ref}]`;
      const spec = jobs.get(c.jobId)?.spec as
        | { kind?: string; model?: string; inputs?: string[] }
        | undefined;
      if (spec?.kind !== 'onnx.infer' || !spec.model || !Array.isArray(spec.inputs))
        return { fact: `${name}.job`, claimed: c.jobId, recomputed: 'an onnx.infer job in the facts' };
      const idx = spec.inputs.findIndex((_cid, k) => taskIdOf(c.jobId, k) === c.taskId);
      if (idx < 0) return { fact: `${name}.task`, claimed: c.taskId, recomputed: 'a task of the job' };
      let model: Uint8Array;
      let input: Uint8Array;
      let output: Uint8Array;
      try {
        [model, input, output] = [
          await read(spec.model),
          await read(spec.inputs[idx]!),
          await read(c.result.outputCid),
        ];
      } catch (err) {
        if (!(err instanceof BlobRefused)) throw err; // unreachable now: decide at the next poll
        return {
          fact: `${name}.blob`,
          claimed: err instanceof Error ? err.message : String(err),
          recomputed: 'served',
        };
      }
      const modelPath = join(dir, `m${i}.onnx`);
      const inputPath = join(dir, `i${i}.safetensors`);
      await writeFile(modelPath, model);
      await writeFile(inputPath, input);
      let mine: ReturnType<typeof decodeSafetensors>;
      try {
        const r = await args.runtime.run(modelPath, decodeSafetensors(input), { timeoutMs: 300_000 });
        mine = r.outputs;
      } catch (err) {
        return {
          fact: `${name}.run`,
          claimed: c.result.outputCid,
          recomputed: `the validator's run failed: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
      let theirs: ReturnType<typeof decodeSafetensors>;
      try {
        theirs = decodeSafetensors(output);
      } catch {
        return { fact: `${name}.output`, claimed: c.result.outputCid, recomputed: 'a safetensors output' };
      }
      const cmp = compareTensorSets(theirs, mine);
      if (!cmp.ok)
        return {
          fact: `${name}.output`,
          claimed: c.result.outputCid,
          recomputed: cmp.reasons.slice(0, 3).join('; '),
        };
    }
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
