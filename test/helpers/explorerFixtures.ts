/**
 * Settlement documents in the shapes the explorer reads (docs/dashboard.md): parser input for
 * test/explorerData.test.ts and, in the browser test, stand-in answers for states a short devnet
 * never reaches (slashes, GPU prices, no stake).
 */
export const HASH_A = `0x${'ab'.repeat(32)}`;
export const HASH_B = `0x${'cd'.repeat(32)}`;
export const ADDR = (n: number) => `0x${String(n).repeat(40).slice(0, 40)}`;

/**
 * Settlement documents in the shapes agreed with branch `market` (docs/dashboard.md). Used as parser
 * input below and, in the browser, as stand-in answers for endpoints this coordinator does not serve
 * yet (the market/settlement work lands separately).
 */
const now = Date.now();
export const EPOCHS = {
  epochs: [
    {
      epoch: 2,
      status: 'open',
      startsAt: now - 60_000,
      endsAt: now + 3_540_000,
      tasksSettled: 0,
      providerEarnings: '0',
      clientCharges: '0',
      protocolFees: '0',
      slashed: '0',
      emission: '0',
      rewardsRoot: null,
      evidenceHash: null,
      signers: [],
      disputes: [],
      txHash: null,
      settledAt: null,
    },
    {
      epoch: 1,
      status: 'settled',
      startsAt: now - 3_660_000,
      endsAt: now - 60_000,
      tasksSettled: 12,
      providerEarnings: '1500000000000000000',
      clientCharges: '1650000000000000000',
      protocolFees: '150000000000000000',
      slashed: '20000000',
      emission: '1000000000000000000000',
      rewardsRoot: HASH_A,
      evidenceHash: HASH_A,
      signers: [`0x${'1'.repeat(40)}`, `0x${'2'.repeat(40)}`],
      disputes: [{ validator: 'http://127.0.0.1:7303', fact: 'charge[0xabc]' }],
      txHash: HASH_B,
      settledAt: now - 30_000,
    },
  ],
};
export const PRICES = {
  classes: [
    {
      class: 'cpu',
      unit: 'cpu-core-second',
      basePrice: '1100000000000',
      utilization: 0.62,
      targetUtilization: 0.5,
      history: [
        { epoch: 2, basePrice: '1100000000000', utilization: 0.62 },
        { epoch: 0, basePrice: '1000000000000', utilization: 0.4 },
        { epoch: 1, basePrice: '1050000000000', utilization: 0.55 },
      ],
    },
    {
      class: 'gpu:nvidia-h100',
      unit: 'gpu-second',
      basePrice: '250000000000000',
      utilization: 0.9,
      targetUtilization: 0.5,
      history: [{ epoch: 1, basePrice: '250000000000000', utilization: 0.9 }],
    },
  ],
};
export const CHAIN = {
  chainId: 31337,
  rpcUrl: 'http://127.0.0.1:8545',
  token: ADDR(1),
  registry: ADDR(2),
  escrow: ADDR(3),
  settlement: ADDR(4),
  epochDuration: 3600,
};
export const rewardsOf = (address: string) => ({
  address,
  epoch: 1,
  cumulativeAmount: '1500000000000000000',
  claimed: '500000000000000000',
  proof: [HASH_A, HASH_B],
  rewardsRoot: HASH_A,
});
