import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { errorCodes } from './codes.ts';

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const [code, { status }] of Object.entries(errorCodes)) {
    const cells = doc
      .split('\n')
      .map((line) => line.split('|').map((c) => c.trim()))
      .find((c) => c[1] === `\`${code}\``);
    assert.ok(cells, `${code} has no row in docs/errors.md`);
    assert.equal(cells[2], String(status), `${code}'s row in docs/errors.md has the wrong HTTP status`);
  }
});

test('docs/errors.md names no code the registry lacks', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\|\s*`(PLX_[A-Z0-9_]+)`/gm)].map((m) => m[1]);
  for (const code of documented)
    assert.ok(code && code in errorCodes, `${code} is documented but not defined`);
});
