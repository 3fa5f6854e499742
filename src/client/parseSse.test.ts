import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSseParser } from './parseSse.ts';

test('parses events split across chunks, with ids, types, comments and multi-line data', () => {
  const p = createSseParser();
  assert.deepEqual(p.push(': hello\n\nid: 1\nevent: job.running\nda'), []);
  assert.deepEqual(p.push('ta: {"a":1}\n\n'), [{ id: '1', event: 'job.running', data: '{"a":1}' }]);
  assert.deepEqual(p.push('data: one\r\ndata: two\r\n\r\n'), [
    { id: '1', event: 'message', data: 'one\ntwo' },
  ]);
});

test('an event without data is not dispatched', () => {
  const p = createSseParser();
  assert.deepEqual(p.push('event: ping\n\n'), []);
});
