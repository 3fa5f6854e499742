/**
 * Whether the coordinator leases work to a provider, and if not why, in words a provider can act
 * on (issue 22: a new provider with no stake sat idle with nothing saying so). The same rules as
 * the market's `ineligible` (src/coordinator/market/createMarket.ts) and the registry's
 * `isActive`: registered, stake at least the minimum, nothing unbonding; without a chain
 * (development mode) every connected provider is eligible.
 */
import { formatEther } from 'viem';
import type { EligibilityView } from '../../protocol/http/providers.ts';
import type { ChainStanding } from '../market/createMarket.ts';

const plx = (units: bigint) => `${formatEther(units)} PLX`;

/**
 * The eligibility view of one provider.
 *
 * @example
 * providerEligibility({ connected: true, chain: true, standing: undefined, gpuTrusted: false });
 * // { eligible: false, reasons: [{ code: 'stake-unknown', … }], gpuWork: false }
 */
export function providerEligibility(p: {
  connected: boolean;
  /** The coordinator settles on a chain (stake matters). */
  chain: boolean;
  standing: ChainStanding | undefined;
  gpuTrusted: boolean;
}): EligibilityView {
  const reasons: EligibilityView['reasons'] = [];
  if (!p.connected)
    reasons.push({
      code: 'offline',
      message: 'not connected: start the agent (plexus provider start --coordinator URL)',
    });
  if (p.chain) {
    const s = p.standing;
    if (!s)
      reasons.push({
        code: 'stake-unknown',
        message:
          'its on-chain record has not been read yet (read at connect and every 10 s; is the chain reachable?)',
      });
    else if (!s.registered)
      reasons.push({
        code: 'not-registered',
        message: `not registered on chain: plexus provider register --stake ${s.minStake === undefined ? 'MIN_STAKE' : formatEther(s.minStake)} --region REGION`,
      });
    else {
      if (s.minStake !== undefined && s.stake < s.minStake)
        reasons.push({
          code: 'below-min-stake',
          message: `bonded stake ${plx(s.stake)} is below the minimum ${plx(s.minStake)}: plexus provider stake ${formatEther(s.minStake - s.stake)}`,
        });
      if (s.unbonding > 0n)
        reasons.push({
          code: 'unbonding',
          message: `${plx(s.unbonding)} is unbonding (withdrawable ${new Date(Number(s.unbondingReadyAt) * 1000).toISOString()}): a provider with stake unbonding takes no new work; plexus provider unbond --cancel re-bonds it`,
        });
      // The registry says inactive for a reason not modelled above (a newer contract rule).
      if (reasons.length === (p.connected ? 0 : 1) && !s.active)
        reasons.push({ code: 'below-min-stake', message: 'the registry reports the provider inactive' });
    }
  }
  return { eligible: reasons.length === 0, reasons, gpuWork: p.gpuTrusted };
}
