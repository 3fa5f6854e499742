/**
 * Ledger account names (docs/market.md, "Ledger accounts"). Debits are positive, credits negative;
 * every entry sums to zero.
 *
 * | account | normal side | what its balance means |
 * | --- | --- | --- |
 * | `client:<address>:unsettled` | debit | charges the client owes that no epoch has collected yet |
 * | `provider:<address>:earnings` | credit | the provider's cumulative lifetime earnings (what the rewards tree holds) |
 * | `protocol:fees` | credit | protocol fees kept back from charges |
 * | `protocol:emission` | credit | PLX minted as emission |
 * | `provider:<address>:slashed` | credit | stake taken from the provider by slashes |
 * | `chain:settlement` | debit | PLX the EpochSettlement contract received (charges + slashes + emission) |
 * | `client:<address>:bad-debt` | debit | charges the client's escrow could not cover when an epoch closed |
 * | `client:<address>:storage-escrow` | debit | escrow held for stored terms, not charged yet (counts against available escrow) |
 * | `provider:<address>:refunds` | credit | refunds owed to a client whose verified output was overturned (docs/verification.md "Made whole"); paid through the rewards tree like earnings, whoever the address is |
 * | `storage:<objectId>:term` | credit | what is left of one stored object's term escrow (docs/storage.md, "Money") |
 */
export const accounts = {
  clientUnsettled: (client: string) => `client:${client.toLowerCase()}:unsettled`,
  clientBadDebt: (client: string) => `client:${client.toLowerCase()}:bad-debt`,
  providerEarnings: (provider: string) => `provider:${provider.toLowerCase()}:earnings`,
  providerSlashed: (provider: string) => `provider:${provider.toLowerCase()}:slashed`,
  refunds: (client: string) => `provider:${client.toLowerCase()}:refunds`,
  clientStorageEscrow: (client: string) => `client:${client.toLowerCase()}:storage-escrow`,
  storageTerm: (objectId: string) => `storage:${objectId.toLowerCase().replace(/^0x/, '')}:term`,
  protocolFees: 'protocol:fees',
  emission: 'protocol:emission',
  settlement: 'chain:settlement',
} as const;

/**
 * The address inside a per-participant account name, or undefined for protocol accounts.
 *
 * @example
 * addressOfAccount('provider:0xabc…:earnings'); // '0xabc…'
 */
export function addressOfAccount(account: string): string | undefined {
  const m = /^(?:client|provider):(0x[0-9a-f]{40}):/.exec(account);
  return m?.[1];
}
