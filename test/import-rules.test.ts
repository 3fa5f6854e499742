import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  checkImportRules,
  importsOf,
  longFiles,
  readSources,
  type SourceFile,
} from './helpers/importGraph.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tree = readSources(root, ['src', 'web/src', 'lab', 'bench', 'test', 'scripts']);

test('the tree keeps every import rule (docs/architecture.md, "Who may import what")', () => {
  assert.ok(tree.length > 200, `read ${tree.length} source files`);
  const violations = checkImportRules(tree);
  assert.deepEqual(
    violations.map((v) => `${v.rule}: ${v.file} ${v.detail}`),
    [],
    'every import across role boundaries goes through src/protocol',
  );
});

test('no non-generated source file is over 600 lines', () => {
  assert.deepEqual(longFiles(tree, 600), []);
});

test('each rule fails on a deliberately bad import (fixtures)', () => {
  const bad: SourceFile[] = [
    {
      path: 'src/provider/agent/x.ts',
      text: "import { capabilitiesHash } from '../../coordinator/api/providerRoutes.ts';\n",
    },
    {
      path: 'src/coordinator/jobs/x.ts',
      text: "import { inspect } from '../../provider/runtimes/onnx/inspect.ts';\n",
    },
    { path: 'src/client/x.ts', text: "import { DEFAULT } from '../coordinator/market/constants.ts';\n" },
    { path: 'src/coordinator/x.ts', text: "const m = await import('../../lab/placement/policy.ts');\n" },
    { path: 'web/src/x.ts', text: "import { jobViewSchema } from '../../src/protocol/http.ts';\n" },
    { path: 'web/src/y.ts', text: "import type { Job } from '../../src/coordinator/api/jobRoutes.ts';\n" },
    {
      path: 'src/coordinator/ledger/x.ts',
      text: "import { closeEpoch } from '../settlement/closeEpoch.ts';\n",
    },
    {
      path: 'src/coordinator/market/x.ts',
      text: "import { policyOfSpec } from '../work/createWorkLoop.ts';\n",
    },
    {
      path: 'src/coordinator/api/x.ts',
      text: "const rows = await db.selectFrom('jobs').selectAll().execute();\n",
    },
    { path: 'src/coordinator/api/y.ts', text: "import { sql } from 'kysely';\n" },
  ];
  const found = checkImportRules(bad);
  const rules = found.map((v) => `${v.rule} ${v.file}`);
  assert.deepEqual(rules, [
    'peers src/provider/agent/x.ts',
    'peers src/coordinator/jobs/x.ts',
    'client src/client/x.ts',
    'lab src/coordinator/x.ts',
    'web web/src/x.ts',
    'web web/src/y.ts',
    'money src/coordinator/ledger/x.ts',
    'money src/coordinator/market/x.ts',
    'routes src/coordinator/api/x.ts',
    'routes src/coordinator/api/y.ts',
  ]);
  // The same files written the allowed way pass.
  const good: SourceFile[] = [
    {
      path: 'src/provider/agent/x.ts',
      text: "import { capabilitiesHash } from '../../protocol/capabilities.ts';\n",
    },
    {
      path: 'src/coordinator/jobs/x.ts',
      text: "import { inspect } from '../../runtimes/onnx/inspect.ts';\n",
    },
    { path: 'web/src/x.ts', text: "import type { JobView } from '../../src/protocol/http.ts';\n" },
    { path: 'web/src/y.ts', text: "import { type JobView } from '../../src/protocol/http.ts';\n" },
    {
      path: 'src/coordinator/settlement/x.ts',
      text: "import { postEntry } from '../ledger/postEntry.ts';\n",
    },
    { path: 'src/coordinator/api/x.ts', text: 'const rows = await queries.listJobs(db, page);\n' },
  ];
  assert.deepEqual(checkImportRules(good), []);
});

test('the import reader sees static, dynamic, re-exported and type-only imports', () => {
  const edges = importsOf({
    path: 'src/a/b.ts',
    text: [
      "import { x } from './c.ts';",
      "import type { T } from '../d.ts';",
      "export { y } from './e.ts';",
      "const m = await import('../f/g.ts');",
      "import { z } from 'zod';",
      "type U = import('./h.ts').U;",
    ].join('\n'),
  });
  assert.deepEqual(
    edges.map((e) => `${e.to}${e.typeOnly ? ' (type)' : ''}`),
    ['src/a/c.ts', 'src/d.ts (type)', 'src/a/e.ts', 'src/f/g.ts', 'src/a/h.ts (type)'],
  );
});
