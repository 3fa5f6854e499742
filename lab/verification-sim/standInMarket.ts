import type { Market } from '../../src/coordinator/market/createMarket.ts';

/**
 * The strategic harness's market stand-in (kept out of strategic.ts for its size): no chain, no
 * floors, no billing, so the loop prices audits per task. Every member dispatch calls must be here
 * (`leaseClass` included: without it dispatch threw and nothing was leased).
 */
export const standInMarket = {
  currentEpoch: async () => undefined,
  clientHeld: () => false,
  ineligible: () => new Set<string>(),
  leaseClass: () => 'cpu',
  onConnected: async () => {},
  onDisconnected: async () => {},
  onVerdict: async () => {},
} as unknown as Market;
