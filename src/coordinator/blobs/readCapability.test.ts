import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fuzzRuns } from '../../protocol/fuzzRuns.ts';
import { createReadCapabilities } from './readCapability.ts';

const provider = `0x${'ab'.repeat(20)}`;
const assignment = `0x${'12'.repeat(32)}`;

test('a minted token names its provider and assignment until the timeout plus a minute', () => {
  let now = 1_000_000;
  const caps = createReadCapabilities({ now: () => now });
  const token = caps.mint(provider.toUpperCase().replace('0X', '0x'), assignment, 120_000);
  assert.deepEqual(caps.check(token), { provider, assignmentId: assignment });
  now += 120_000 + 60_000;
  assert.ok(caps.check(token), 'valid up to its expiry');
  now += 1;
  assert.equal(caps.check(token), undefined, 'expired');
});

test("another coordinator's key, a changed field or a malformed token is refused", () => {
  const caps = createReadCapabilities();
  const token = caps.mint(provider, assignment, 60_000);
  assert.equal(createReadCapabilities().check(token), undefined, 'minted under another key');
  const later = token.replace(/\.(\d+)\./, (_m, t: string) => `.${Number(t) + 1_000_000}.`);
  assert.equal(caps.check(later), undefined, 'expiry pushed out');
  assert.equal(caps.check(token.replace('0xabab', '0xabac')), undefined, 'another provider');
  for (const bad of ['', 'cap1.', `${token}x`, token.replace('cap1.', 'cap2.'), `0x${'11'.repeat(65)}`])
    assert.equal(caps.check(bad), undefined, bad);
});

test('fuzz: any header text is refused or names a token this key minted, never thrown on', () => {
  const caps = createReadCapabilities();
  const token = caps.mint(provider, assignment, 60_000);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 300 }),
        // A minted token with one character replaced: never accepted unless unchanged.
        fc
          .tuple(fc.nat(token.length - 1), fc.string({ minLength: 1, maxLength: 1 }))
          .map(([i, ch]) => token.slice(0, i) + ch + token.slice(i + 1)),
      ),
      (text) => {
        const got = caps.check(text);
        assert.ok(got === undefined || text === token, text);
      },
    ),
    fuzzRuns(),
  );
});
