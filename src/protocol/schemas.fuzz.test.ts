/**
 * Fuzzing what providers send over their WebSocket (`providerMessageSchema`) and the canonical JSON
 * their session signature commits to: any JSON value is accepted or refused by the schema without
 * throwing, and what is accepted hashes without throwing. Regression cases first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, hashCanonical } from './canonicalJson.ts';
import { capabilitiesHash } from './capabilities.ts';
import { fuzzRuns } from './fuzzRuns.ts';
import { MAX_CLAIMED_MEMORY_BYTES, type ProviderAuth, providerMessageSchema } from './schemas.ts';

const validAuth = {
  type: 'auth',
  provider: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
  issuedAt: 1_700_000_000,
  signature: `0x${'ab'.repeat(65)}`,
  hardware: {
    cpuModel: 'test cpu',
    cpuCores: 2,
    memoryBytes: 8 * 1024 ** 3,
    gpus: [{ name: 'NVIDIA H100 80GB HBM3', memoryMiB: 81_559 }],
    executionProviders: ['cpu'],
  },
  slots: 1,
  region: 'eu-west',
  agentVersion: '0.1.0',
};

/** A JSON object nested `depth` levels deep ({ a: { a: … } }), built without recursion. */
function nested(depth: number): Record<string, unknown> {
  let o: Record<string, unknown> = {};
  for (let i = 0; i < depth; i++) o = { a: o };
  return o;
}

/** Parses a provider message as the coordinator does and, if accepted, hashes what an auth signs. */
function acceptOrRefuse(json: unknown): boolean {
  const parsed = providerMessageSchema.safeParse(json);
  if (parsed.success && parsed.data.type === 'auth') {
    assert.match(capabilitiesHash(parsed.data as ProviderAuth), /^0x[0-9a-f]{64}$/);
  }
  return parsed.success;
}

test('regressions: deep, huge or junk-laden hardware claims are refused by the schema, not thrown on', () => {
  assert.equal(acceptOrRefuse(validAuth), true, 'the valid message is accepted');
  // A 60,000-deep claim crashed canonical JSON (stack overflow → PLX_INTERNAL) before claims were strict.
  assert.equal(
    acceptOrRefuse({ ...validAuth, hardware: { ...validAuth.hardware, extra: nested(60_000) } }),
    false,
  );
  assert.equal(acceptOrRefuse({ ...validAuth, hardware: nested(60_000) }), false);
  // 4 PiB of memory, junk fields on the claim and on a GPU.
  assert.equal(
    acceptOrRefuse({ ...validAuth, hardware: { ...validAuth.hardware, memoryBytes: 2 ** 52 } }),
    false,
  );
  assert.equal(
    acceptOrRefuse({
      ...validAuth,
      hardware: { ...validAuth.hardware, memoryBytes: MAX_CLAIMED_MEMORY_BYTES },
    }),
    true,
  );
  assert.equal(
    acceptOrRefuse({ ...validAuth, hardware: { ...validAuth.hardware, junk: 'x'.repeat(200_000) } }),
    false,
  );
  assert.equal(
    acceptOrRefuse({
      ...validAuth,
      hardware: { ...validAuth.hardware, gpus: [{ name: 'g', memoryMiB: 1, junk: 'x'.repeat(1000) }] },
    }),
    false,
  );
});

test('fuzz: any JSON value is accepted or refused by the provider message schema, never thrown on', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (json) => {
      acceptOrRefuse(json);
    }),
    fuzzRuns(),
  );
});

test('fuzz: a valid auth message with any field replaced is accepted or refused, never thrown on', () => {
  const keys = Object.keys(validAuth);
  const hwKeys = Object.keys(validAuth.hardware);
  fc.assert(
    fc.property(
      fc.constantFrom(...keys),
      fc.constantFrom(...hwKeys),
      fc.jsonValue({ maxDepth: 4 }),
      fc.boolean(),
      (key, hwKey, value, inHardware) => {
        const msg = inHardware
          ? { ...validAuth, hardware: { ...validAuth.hardware, [hwKey]: value } }
          : { ...validAuth, [key]: value };
        acceptOrRefuse(msg);
      },
    ),
    fuzzRuns(),
  );
});

test('fuzz: canonical JSON is stable under key order and a parse round trip', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
      const text = canonicalJson(value);
      assert.equal(canonicalJson(JSON.parse(text)), text, 'canonical JSON of its own parse is itself');
      const reversed = JSON.parse(JSON.stringify(value), (_k, v) =>
        v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
      );
      assert.equal(hashCanonical(reversed), hashCanonical(value), 'key order does not change the hash');
    }),
    fuzzRuns(),
  );
});
