import type { Migration } from 'kysely';

/**
 * `0074_known_answer_kind` (listed in migrations.ts): the job kind of each known answer
 * (`canary_tasks.kind`). Until now every known answer was an inference task's; a caught provider's
 * render frames of ended jobs are now kept as review-only known answers too (work/reviewLeases.ts,
 * docs/verification.md "Caught: unchecked outputs re-run"), and their checks are render leases
 * judged by the render rule, never canary leases of `onnx.infer`. Existing rows are inference.
 */
export const knownAnswerKindMigrations: Record<string, Migration> = {
  '0074_known_answer_kind': {
    async up(db) {
      await db.schema
        .alterTable('canary_tasks')
        .addColumn('kind', 'text', (c) => c.notNull().defaultTo('onnx.infer'))
        .execute();
    },
  },
};
