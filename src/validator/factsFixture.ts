/**
 * Test fixture: one epoch's inputs and signed facts as an honest coordinator would publish them —
 * a client-signed job, a provider-signed charged execution priced by the market's function, and
 * a slash backed by the slashed provider's signed commitment. Real keys and real signatures, so
 * the validator's checks run exactly as on a live bundle. Used by checkFacts.test.ts and
 * verifyEpoch.test.ts.
 */

import { type Address, type Hex, zeroHash } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { priceExecution } from '../coordinator/market/priceExecution.ts';
import type { EpochInputs } from '../coordinator/settlement/epochComputation.ts';
import { chargePostings, type EpochFacts } from '../coordinator/settlement/epochFacts.ts';
import { hashCanonical } from '../protocol/canonicalJson.ts';
import { plexusMessageHash, signPlexusMessage } from '../protocol/eip712.ts';
import { cidToBytes32, taskIdOf } from '../protocol/ids.ts';
import { taskRefOf } from '../protocol/taskRef.ts';

export const CHAIN_ID = 31337;
export const SETTLEMENT = `0x${'5e'.repeat(20)}` as Address;
export const ESCROW = `0x${'e5'.repeat(20)}` as Address;
export const clientKey = privateKeyToAccount(`0x${'0c'.repeat(32)}`);
export const providerKey = privateKeyToAccount(`0x${'0a'.repeat(32)}`);
export const cheaterKey = privateKeyToAccount(`0x${'0b'.repeat(32)}`);
export const client = clientKey.address.toLowerCase() as Address;
export const provider = providerKey.address.toLowerCase() as Address;
export const cheater = cheaterKey.address.toLowerCase() as Address;
const domain = { chainId: CHAIN_ID, verifyingContract: ESCROW };
const issuedAt = 1_790_000_000;

/**
 * A freshly signed honest epoch (epoch 3): inputs and facts that agree.
 *
 * @example
 * const { inputs, facts } = await honestEpoch();
 */
export async function honestEpoch(): Promise<{ inputs: EpochInputs; facts: EpochFacts }> {
  const spec = {
    kind: 'onnx.infer',
    model: 'aa'.repeat(32),
    inputs: ['bb'.repeat(32)],
    deadline: issuedAt + 3600,
    verification: { policy: 'none' },
  };
  const maxPricePerUnit = 10_000_000n;
  const message = {
    client,
    specHash: hashCanonical(spec),
    nonce: 7n,
    maxPricePerUnit,
    issuedAt: BigInt(issuedAt),
  };
  const jobId = plexusMessageHash(domain, 'JobSubmission', message);
  // The job's one task (as the coordinator derives it), so a timeout on it names a task of the job.
  const taskId = taskIdOf(jobId, 0);
  const assignmentId = `0x${'a1'.repeat(32)}` as Hex;
  const usage = { wallMs: 1000, cpuMs: 1800, peakRssBytes: 1 << 20 };
  const outputCid = 'cc'.repeat(32);
  // Signed as a v3 agent signs: over the lease's opaque reference, not the task id.
  const resultSig = await signPlexusMessage(providerKey, CHAIN_ID, 'TaskResult', {
    provider,
    assignmentId,
    taskId: taskRefOf(assignmentId),
    outputCid: cidToBytes32(outputCid),
    wallMs: BigInt(usage.wallMs),
    cpuMs: BigInt(usage.cpuMs),
    peakRssBytes: BigInt(usage.peakRssBytes),
    issuedAt: BigInt(issuedAt),
  });
  const basePrice = 8_000_000n;
  const price = priceExecution({
    cls: 'cpu',
    usage,
    timeoutSec: 120,
    basePrice,
    floor: 0n,
    maxPrice: maxPricePerUnit,
  });
  const slashedTask = `0x${'72'.repeat(32)}` as Hex;
  const commitAssignment = `0x${'a2'.repeat(32)}` as Hex;
  const commitment = `0x${'c0'.repeat(32)}` as Hex;
  const commitSig = await signPlexusMessage(cheaterKey, CHAIN_ID, 'TaskCommitment', {
    provider: cheater,
    assignmentId: commitAssignment,
    taskId: taskRefOf(commitAssignment),
    commitment,
    issuedAt: BigInt(issuedAt),
  });
  const facts: EpochFacts = {
    jobDomain: domain,
    jobs: [
      {
        jobId,
        client,
        spec,
        nonce: '7',
        maxPricePerUnit: maxPricePerUnit.toString(),
        issuedAt,
        signature: await signPlexusMessage(clientKey, domain, 'JobSubmission', message),
      },
    ],
    charges: [
      {
        ref: `exec:${assignmentId}`,
        jobId,
        taskId,
        assignmentId,
        provider,
        class: 'cpu',
        unitsMilli: price.unitsMilli.toString(),
        unitPrice: price.unitPrice.toString(),
        charge: price.charge.toString(),
        fee: price.fee.toString(),
        providerAmount: price.providerAmount.toString(),
        result: { outputCid, usage, issuedAt, signature: resultSig },
      },
    ],
    entries: [],
    audits: { commitment: { epoch: 5, commitment: `0x${'ab'.repeat(32)}` }, reveals: [] },
    slashes: [
      {
        id: 1,
        provider: cheater,
        taskId: slashedTask,
        amount: '5',
        kind: 'bad-reveal',
        evidence: { kind: 'bad-reveal', faultyDigest: zeroHash },
        signed: [
          {
            type: 'TaskCommitment',
            assignmentId: commitAssignment,
            taskId: slashedTask,
            commitment,
            issuedAt,
            signature: commitSig,
          },
        ],
      },
    ],
  };
  const epochBalances = chargePostings(facts.charges[0]!, client).map((p) => ({
    account: p.account,
    balance: p.amount,
  }));
  const inputs: EpochInputs = {
    epoch: 3,
    startsAt: 10_000,
    endsAt: 11_000,
    closedAt: 11_200,
    emissionPerEpoch: 0n,
    sensorEmissionPerEpoch: 0n,
    unsettled: [{ client, amount: price.charge, escrow: 10n ** 18n }],
    slashRequests: [{ id: 1, provider: cheater, amount: 5n }],
    stakeHeld: [{ provider: cheater, held: 100n }],
    sessions: [],
    activeOnChain: [],
    faulted: [cheater],
    providers: [],
    sensorScores: [],
    providerBalances: epochBalances.filter((b) => b.account.startsWith('provider:')),
    epochBalances,
    tasksSettled: 1,
    leases: [],
    prices: [{ class: 'cpu', basePrice }],
  };
  return { inputs, facts };
}

/** Keys of two trusted checkers (a review's two independent checks). */
export const checkerKeys = [
  privateKeyToAccount(`0x${'0e'.repeat(32)}`),
  privateKeyToAccount(`0x${'0f'.repeat(32)}`),
] as const;

/**
 * A `TaskResult` as `key` signs it (the shape reviews and ended leases carry): over the lease's
 * opaque reference (protocol v3), or with `legacy` over the task id (agents before v3).
 *
 * @example
 * const r = await signedResult(cheaterKey, `0x${'b1'.repeat(32)}`, taskId, 'dd'.repeat(32));
 */
export async function signedResult(
  key: (typeof checkerKeys)[number],
  assignmentId: Hex,
  taskId: Hex,
  outputCid: string,
  legacy = false,
): Promise<{
  assignmentId: Hex;
  taskId: Hex;
  outputCid: string;
  usage: { wallMs: number; cpuMs: number; peakRssBytes: number };
  issuedAt: number;
  signature: Hex;
}> {
  const usage = { wallMs: 900, cpuMs: 1700, peakRssBytes: 1 << 20 };
  const signature = await signPlexusMessage(key, CHAIN_ID, 'TaskResult', {
    provider: key.address,
    assignmentId,
    taskId: legacy ? taskId : taskRefOf(assignmentId),
    outputCid: cidToBytes32(outputCid),
    wallMs: BigInt(usage.wallMs),
    cpuMs: BigInt(usage.cpuMs),
    peakRssBytes: BigInt(usage.peakRssBytes),
    issuedAt: BigInt(issuedAt),
  });
  return { assignmentId, taskId, outputCid, usage, issuedAt, signature };
}

/**
 * The fixture's epoch with nothing settled in it (no job, charge, slash or entry): what a later
 * epoch of a test history carries besides what it tests.
 *
 * @example
 * const { inputs, facts } = idleEpoch(await honestEpoch());
 */
export function idleEpoch(e: { inputs: EpochInputs; facts: EpochFacts }): {
  inputs: EpochInputs;
  facts: EpochFacts;
} {
  return {
    facts: { ...e.facts, jobs: [], charges: [], slashes: [], entries: [] },
    inputs: {
      ...e.inputs,
      unsettled: [],
      slashRequests: [],
      stakeHeld: [],
      faulted: [],
      epochBalances: [],
      providerBalances: [],
      tasksSettled: 0,
    },
  };
}
