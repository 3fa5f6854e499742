/**
 * The validator's import rule (test/helpers/importGraph.ts, `validator`): it holds over the tree,
 * and it catches a validator reaching into the coordinator's store or routes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkImportRules, type SourceFile } from './helpers/importGraph.ts';

test('a validator imports from the coordinator only its pure epoch computation', () => {
  const bad: SourceFile[] = [
    { path: 'src/validator/x.ts', text: "import { openStore } from '../coordinator/store/openStore.ts';\n" },
    {
      path: 'src/validator/y.ts',
      text: "import { closeEpoch } from '../coordinator/settlement/closeEpoch.ts';\n",
    },
    { path: 'src/validator/z.ts', text: "import { run } from '../provider/agent/run.ts';\n" },
  ];
  assert.deepEqual(
    checkImportRules(bad).map((v) => `${v.rule} ${v.file}`),
    ['validator src/validator/x.ts', 'validator src/validator/y.ts', 'validator src/validator/z.ts'],
  );
  const good: SourceFile[] = [
    {
      path: 'src/validator/x.ts',
      text: "import { computeEpoch } from '../coordinator/settlement/epochComputation.ts';\nimport { signEpoch } from '../chain/epoch/signEpoch.ts';\nimport type { Logger } from '../logger.ts';\n",
    },
  ];
  assert.deepEqual(checkImportRules(good), []);
});
