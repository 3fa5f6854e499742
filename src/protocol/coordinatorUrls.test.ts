import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coordinatorUrls } from './coordinatorUrls.ts';

test('coordinator lists split on commas, trimmed, without trailing slashes or repeats', () => {
  assert.deepEqual(coordinatorUrls('http://a:8080'), ['http://a:8080']);
  assert.deepEqual(coordinatorUrls(' http://a:8080/, http://b:8080 ,,http://a:8080'), [
    'http://a:8080',
    'http://b:8080',
  ]);
  assert.deepEqual(coordinatorUrls(['http://a/', 'http://b']), ['http://a', 'http://b']);
  assert.throws(() => coordinatorUrls(' , '), /no coordinator URL/);
});
