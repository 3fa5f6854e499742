import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlexusError } from '../errors/PlexusError.ts';
import { decodeRegion, encodeRegion } from './region.ts';

test('region codes round-trip through bytes32', () => {
  for (const code of ['eu-west', 'x', 'a'.repeat(32), 'ap-southeast-2']) {
    const encoded = encodeRegion(code);
    assert.equal(encoded.length, 66);
    assert.equal(decodeRegion(encoded), code);
  }
});

test('invalid region codes are rejected', () => {
  for (const code of ['', 'a'.repeat(33), 'eu west', 'é']) {
    assert.throws(
      () => encodeRegion(code),
      (err) => isPlexusError(err, 'PLX_VALIDATION'),
    );
  }
});
