/**
 * Opaque task references (protocol v3, docs/protocol.md "Opaque assignment ids"). A provider sees
 * one id per assignment and nothing else about the task: the `taskId` an `assign` carries, and the
 * one it signs over in TaskCommitment, TaskResult and TaskFailure (and inside the commitment hash),
 * is the assignment's own random id. Two executions of one task (replicas, an auditor, a
 * tie-breaker) therefore carry unrelated ids, and a canary's look like any other; only the
 * coordinator maps an assignment to its task (the `assignments` and `canary_assignments` rows),
 * and the evidence it publishes names both (`assignmentId`, `taskId`).
 *
 * Statements signed before v3 name the real task id instead: validators accept either form of a
 * published statement ({@link signedTaskRefs}), the coordinator only the opaque one.
 */
import { encodeAbiParameters, type Hex, keccak256 } from 'viem';
import { keccak256Hex } from './keccak.ts';

/**
 * The task reference a provider signs over for `assignmentId`: the assignment id itself.
 *
 * @example
 * computeCommitment({ taskId: taskRefOf(assign.assignmentId), provider, outputDigest, salt });
 */
export function taskRefOf(assignmentId: string): Hex {
  return assignmentId.toLowerCase() as Hex;
}

/**
 * Whether `taskId`, as a provider sent or signed it, is the opaque reference of `assignmentId`.
 *
 * @example
 * if (!isTaskRefOf(msg.assignmentId, msg.taskId)) throw new PlexusError('PLX_TASK_REF_MISMATCH', '…');
 */
export function isTaskRefOf(assignmentId: string, taskId: string): boolean {
  return taskId.toLowerCase() === taskRefOf(assignmentId);
}

/**
 * The values a published statement about task `taskId` on lease `assignmentId` may have been
 * signed over, the current (opaque) one first: the assignment's reference, then (statements of
 * protocol v1/v2 agents, signed before v3) the task id itself.
 *
 * @example
 * for (const ref of signedTaskRefs(s.assignmentId, s.taskId)) if (await tryVerify(ref)) return null;
 */
export function signedTaskRefs(assignmentId: string, taskId: string): Hex[] {
  const ref = taskRefOf(assignmentId);
  return ref === taskId.toLowerCase() ? [ref] : [ref, taskId as Hex];
}

/**
 * Runs `verify` (a signature check that throws when it fails) over each reference
 * {@link signedTaskRefs} allows, and resolves at the first that holds; rejects with the first
 * error (the current form's) when none does.
 *
 * @example
 * await verifyTaskSigned(s.assignmentId, s.taskId, (taskId) => verifyPlexusMessage({ …, message: { …, taskId } }));
 */
export async function verifyTaskSigned(
  assignmentId: string,
  taskId: string,
  verify: (ref: Hex) => Promise<unknown>,
  bind?: LeaseBinding,
): Promise<void> {
  if (bind) {
    const why = leaseBindingError(assignmentId, taskId, bind.provider, bind.salts, bind.legacyAllowed);
    if (why) throw new Error(`lease ${assignmentId} is not bound to task ${taskId}: ${why}`);
  }
  let first: unknown;
  for (const ref of signedTaskRefs(assignmentId, taskId)) {
    try {
      await verify(ref);
      return;
    } catch (err) {
      first ??= err;
    }
  }
  throw first;
}

/**
 * What a validator checks a lease's binding to its task with ({@link leaseBindingError}): the
 * signer, the bundle's published salts, and whether a lease without one may be a legacy lease.
 */
export type LeaseBinding = {
  provider: string;
  salts: Record<string, string> | undefined;
  legacyAllowed: boolean;
};

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** An address viem accepts without a checksum to check: all lower case. */
const LOWER_ADDRESS = /^0x[0-9a-f]{40}$/;

/**
 * A lease's id bound to its task (protocol v3.1, docs/protocol.md "Opaque assignment ids"):
 * `keccak256(abi.encode(taskId, provider, salt))` with a fresh random 32-byte salt per lease. The
 * provider sees only the id; the salt stays with the coordinator until the epoch's evidence
 * publishes it, and a validator then checks that the statement signed over the id was about the
 * task the coordinator says it was.
 *
 * @example
 * const salt = randomHex32(); const assignmentId = boundLeaseId(task.id, provider, salt);
 */
export function boundLeaseId(taskId: string, provider: string, salt: string): Hex {
  // The coordinator derives one per lease: its abi encoding is three 32-byte words, hashed with
  // js-sha3 (viem's encoder and noble keccak were ~2.5 % of its CPU under load). Only values in
  // the exact forms below take it; anything else (a checksummed address, a malformed value) goes
  // through viem, which checks it and throws as before.
  if (BYTES32.test(taskId) && BYTES32.test(salt) && LOWER_ADDRESS.test(provider)) {
    return keccak256Hex(
      Buffer.from(`${taskId.slice(2)}000000000000000000000000${provider.slice(2)}${salt.slice(2)}`, 'hex'),
    );
  }
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'address' }, { type: 'bytes32' }],
      [taskId as Hex, provider as Hex, salt as Hex],
    ),
  );
}

/**
 * Why lease `assignmentId` is not shown bound to `taskId` and `provider`, or null: with a salt
 * published, the id must be its derivation ({@link boundLeaseId}); without one, the lease must be
 * a legacy one (`legacyAllowed`: the bundle predates salts, or the statement was signed before
 * `LEASE_BINDING_SINCE_SEC`, docs/validators.md "Which task a provider signed over").
 *
 * @example
 * const why = leaseBindingError(c.assignmentId, c.taskId, c.provider, facts.leaseSalts, legacy);
 */
export function leaseBindingError(
  assignmentId: string,
  taskId: string,
  provider: string,
  salts: Record<string, string> | undefined,
  legacyAllowed: boolean,
): string | null {
  const salt = salts?.[assignmentId.toLowerCase()];
  if (salt === undefined) return legacyAllowed ? null : 'no salt published for the lease';
  let derived: Hex;
  try {
    derived = boundLeaseId(taskId, provider, salt);
  } catch {
    return `salt ${salt} is not a bytes32`;
  }
  return derived === assignmentId.toLowerCase() ? null : `keccak256(taskId, provider, salt) = ${derived}`;
}

/**
 * From this time (provider-signed `issuedAt`, seconds; 2026-12-14T00:00:00Z) a statement under a
 * lease must come with its lease's salt in a version-11 bundle: coordinators run the salted lease
 * ids (migration 0066) before it, so a lease without one is older than the change. The time is
 * the provider's signature's, which the coordinator cannot move.
 */
export const LEASE_BINDING_SINCE_SEC = 1_797_206_400;

/**
 * The binding rule of a bundle ({@link LeaseBinding} per statement): `salts` its published lease
 * salts (undefined: a bundle from before version 11, every lease legacy); in a version-11 bundle a
 * lease without a salt is legacy only for a statement signed before `sinceSec`.
 *
 * @example
 * const bind = bindingsOf(facts.leaseSalts); await signedBy(chainId, p, r, bind(p, r.issuedAt));
 */
export function bindingsOf(
  salts: Record<string, string> | undefined,
  sinceSec = LEASE_BINDING_SINCE_SEC,
): (provider: string, issuedAtSec: number) => LeaseBinding {
  return (provider, issuedAtSec) => ({
    provider,
    salts,
    legacyAllowed: salts === undefined || issuedAtSec < sinceSec,
  });
}
