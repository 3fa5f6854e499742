import assert from 'node:assert/strict';
import { test } from 'node:test';
import { providerEligibility } from './eligibility.ts';

const PLX = 10n ** 18n;
const standing = {
  registered: true,
  active: true,
  stake: 1000n * PLX,
  unbonding: 0n,
  unbondingReadyAt: 0n,
  minStake: 1000n * PLX,
};

test('eligibility: every reason with its next step, the same rules as the registry', () => {
  const base = { connected: true, chain: true, gpuTrusted: false };
  assert.deepEqual(providerEligibility({ ...base, standing }), {
    eligible: true,
    reasons: [],
    gpuWork: false,
  });
  // Development mode: no stake needed.
  assert.equal(providerEligibility({ ...base, chain: false, standing: undefined }).eligible, true);
  const codes = (s: Parameters<typeof providerEligibility>[0]) =>
    providerEligibility(s).reasons.map((r) => r.code);
  assert.deepEqual(codes({ ...base, standing: undefined }), ['stake-unknown']);
  assert.deepEqual(codes({ ...base, connected: false, standing }), ['offline']);
  const unregistered = providerEligibility({
    ...base,
    standing: { ...standing, registered: false, active: false, stake: 0n },
  });
  assert.deepEqual(
    unregistered.reasons.map((r) => r.code),
    ['not-registered'],
  );
  assert.match(unregistered.reasons[0]!.message, /plexus provider register --stake 1000 --region/);
  const low = providerEligibility({
    ...base,
    standing: {
      ...standing,
      active: false,
      stake: 750n * PLX,
      unbonding: 250n * PLX,
      unbondingReadyAt: 1_800_000_000n,
    },
  });
  assert.deepEqual(
    low.reasons.map((r) => r.code),
    ['below-min-stake', 'unbonding'],
  );
  assert.match(low.reasons[0]!.message, /750 PLX is below the minimum 1000 PLX: plexus provider stake 250/);
  assert.match(
    low.reasons[1]!.message,
    /250 PLX is unbonding \(withdrawable 2027-01-15T08:00:00.000Z\).*unbond --cancel/,
  );
  // Inactive for a reason this code does not model: still not eligible, never silently eligible.
  assert.deepEqual(codes({ ...base, standing: { ...standing, active: false } }), ['below-min-stake']);
  assert.equal(providerEligibility({ ...base, standing, gpuTrusted: true }).gpuWork, true);
});
