/**
 * Fuzzing what sensor devices send (MQTT or HTTP): any JSON is accepted or refused by the batch
 * schema without throwing, accepted batches hash, and any 65-byte signature is either the device's
 * or refused with `PLX_BAD_SIGNATURE` — never another error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { privateKeyToAccount } from 'viem/accounts';
import { isPlexusError } from '../errors/PlexusError.ts';
import { fuzzRuns } from '../protocol/fuzzRuns.ts';
import { createSignatureCheck } from './identity/createSignatureCheck.ts';
import { batchPayloadHash, readingBatchSchema, signReadingBatch } from './protocol.ts';

const device = privateKeyToAccount(`0x${'11'.repeat(32)}`);

test('fuzz: any JSON is accepted or refused by the reading-batch schema; accepted batches hash', () => {
  const sampleish = fc.record({
    t: fc.oneof(fc.nat(), fc.jsonValue()),
    values: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 34 }), fc.oneof(fc.double(), fc.constant(null))),
      fc.jsonValue(),
    ),
  });
  const batchish = fc.record({
    device: fc.oneof(fc.constant(device.address), fc.string()),
    sequence: fc.oneof(fc.nat(), fc.jsonValue()),
    issuedAt: fc.oneof(fc.nat(), fc.jsonValue()),
    samples: fc.oneof(fc.array(sampleish, { maxLength: 4 }), fc.jsonValue()),
    signature: fc.oneof(fc.constant(`0x${'ab'.repeat(65)}`), fc.string()),
  });
  fc.assert(
    fc.property(fc.oneof(batchish, fc.jsonValue({ maxDepth: 5 })), (json) => {
      const parsed = readingBatchSchema.safeParse(json);
      if (parsed.success) assert.match(batchPayloadHash(parsed.data), /^0x[0-9a-f]{64}$/);
    }),
    fuzzRuns(),
  );
});

test('fuzz: a signature is the device’s or PLX_BAD_SIGNATURE, whatever its bytes', async () => {
  const batch = await signReadingBatch(device, 31337, {
    sequence: 1,
    issuedAt: 1_700_000_000,
    samples: [{ t: 1_700_000_000, values: { temperature: 21.5 } }],
  });
  // Any digest: a random signature must never pass, and the device's own signature over another
  // message must not either.
  const digest = batchPayloadHash(batch);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 65, maxLength: 65 }), fc.nat({ max: 64 }), (bytes, flip) => {
      const check = createSignatureCheck(device.address);
      const sig = flip < 64 ? `0x${Buffer.from(bytes).toString('hex')}` : batch.signature;
      try {
        check(digest, sig as `0x${string}`);
      } catch (err) {
        assert.ok(isPlexusError(err, 'PLX_BAD_SIGNATURE'), `unexpected ${String(err)}`);
      }
    }),
    fuzzRuns(),
  );
});
