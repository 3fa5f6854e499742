import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { keccak256, toBytes, toHex } from 'viem';
import { hashCanonical } from './canonicalJson.ts';
import { taskIdOf } from './ids.ts';
import { keccak256Bytes, keccak256Hex } from './keccak.ts';

test('keccak-256 (js-sha3) gives the digests viem gives, for bytes and for UTF-8 text', () => {
  for (const n of [0, 1, 31, 32, 64, 135, 136, 137, 288, 1000]) {
    const bytes = new Uint8Array(randomBytes(n));
    assert.equal(keccak256Hex(bytes), keccak256(bytes), `${n} bytes as hex`);
    assert.equal(toHex(keccak256Bytes(bytes)), keccak256(bytes), `${n} bytes as bytes`);
  }
  for (const text of ['', 'abc', 'Plexus', 'naïve ☃ 𝄞', '{"a":[1,2,"x"]}', 'lone \ud800 surrogate'])
    assert.equal(keccak256Hex(text), keccak256(toBytes(text)), `text ${JSON.stringify(text)}`);
  const jobId = `0x${'ab'.repeat(32)}` as const;
  assert.equal(taskIdOf(jobId, 7), keccak256(toBytes(`${jobId}:7`)), 'task ids unchanged');
  assert.equal(
    hashCanonical({ b: 1, a: ['x'] }),
    keccak256(toBytes('{"a":["x"],"b":1}')),
    'spec hashes unchanged',
  );
});
