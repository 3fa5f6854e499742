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
import type { Hex } from 'viem';

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
): Promise<void> {
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
