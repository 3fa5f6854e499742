import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bareAsserts } from './helpers/bareAsserts.ts';
import { readSources } from './helpers/importGraph.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('every assert.ok in test code carries a message (a bare one can stall a failing file for minutes)', () => {
  const tree = readSources(root, ['src', 'test', 'bench', 'lab']).filter(
    (f) => f.path.endsWith('.test.ts') || f.path.startsWith('test/helpers/'),
  );
  assert.ok(tree.length > 100, `read ${tree.length} test files`);
  assert.deepEqual(bareAsserts(tree), [], 'give each of these a message');
});

test('the check finds bare asserts and passes asserts with a message (fixtures)', () => {
  const text = [
    'assert.ok(a > 1);',
    'assert(b);',
    "assert.ok(c, 'c is set');",
    "assert(d, 'd is set');",
    'assert.equal(e, 1);',
  ].join('\n');
  assert.deepEqual(bareAsserts([{ path: 'x.test.ts', text }]), ['x.test.ts:1', 'x.test.ts:2']);
});
