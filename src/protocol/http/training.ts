/**
 * Wire shapes of a training job's progress (`GET /v1/jobs/:id/training`, docs/training.md): the
 * rounds closed so far with their training loss and held-out accuracy, and the final weights once
 * the job completed. The SDK, the CLI (`plexus job results`) and the explorer's loss curve read it.
 */
import { z } from 'zod';

/**
 * One closed round: mean training loss of its accepted tasks, loss and accuracy of the new global
 * model on the client's held-out shard (absent without one), and the round's global weights.
 *
 * @example const r: TrainRoundView = { round: 0, loss: 2.1, validation: { loss: 1.9, accuracy: 0.41 }, weights: 'ab…', closedAt: 0 };
 */
export const trainRoundViewSchema = z.object({
  round: z.int(),
  loss: z.number(),
  validation: z.object({ loss: z.number(), accuracy: z.number() }).optional(),
  weights: z.string(),
  closedAt: z.number(),
});
/** @example const acc = (r: TrainRoundView) => r.validation?.accuracy; */
export type TrainRoundView = z.infer<typeof trainRoundViewSchema>;

/**
 * A training job's history: `roundsDone` of `rounds` closed, each round's record, and the final
 * weights' content id (null until the last round closed).
 *
 * @example const { history } = trainingViewSchema.parse(await res.json());
 */
export const trainingViewSchema = z.object({
  jobId: z.string(),
  status: z.string(),
  rounds: z.int(),
  workers: z.int(),
  roundsDone: z.int(),
  history: z.array(trainRoundViewSchema),
  final: z.string().nullable(),
  /** The TF.js backend and release every task ran on (the job's spec pins it). */
  backend: z.object({ name: z.string(), version: z.string() }),
});
/** @example const done = (t: TrainingView) => t.final !== null; */
export type TrainingView = z.infer<typeof trainingViewSchema>;
