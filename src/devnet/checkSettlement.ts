import type { Address, Hex } from 'viem';
import { getPlxBalance } from '../chain/actions/getPlxBalance.ts';
import { claimRewards } from '../chain/actions/provider/claimRewards.ts';
import { connectPlexus } from '../chain/connectPlexus.ts';
import type { PlexusDeployment } from '../chain/deployPlexus.ts';
import { cumulativeEarnings } from '../coordinator/ledger/cumulativeEarnings.ts';
import { openStore } from '../coordinator/store/openStore.ts';

/** What the devnet's settlement check saw. */
export type SettlementCheck = {
  /** The epoch that held the demo's charges, and the settled epoch the claim was made against. */
  demoEpoch: number;
  claimEpoch: number;
  txHash: string | null;
  provider: Address;
  /** PLX base units the provider received from its claim. */
  received: bigint;
  /** What the coordinator's ledger says the claim should pay (cumulative − claimed before). */
  expected: bigint;
  ok: boolean;
};

type EpochRow = { epoch: number; status: string; tasksSettled: number; txHash: string | null };

/**
 * Waits until the epoch holding the demo's charges is settled on chain, claims one provider's
 * rewards with the proof from `GET /v1/rewards/:address`, and checks that the PLX it received
 * equals, to the base unit, its cumulative earnings in the coordinator's ledger minus what it had
 * claimed before.
 *
 * @example
 * const c = await checkSettlement({ url, rpcUrl, deployment, dbPath, relayerKey });
 */
export async function checkSettlement(opts: {
  url: string;
  rpcUrl: string;
  deployment: PlexusDeployment;
  dbPath: string;
  relayerKey: Hex;
  timeoutMs?: number;
}): Promise<SettlementCheck> {
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${opts.url}${path}`);
    return { status: res.status, body: (await res.json()) as T };
  };
  const epochs = async () => (await get<{ epochs: EpochRow[] }>('/v1/epochs')).body.epochs;
  const demoEpoch = Math.max(0, ...(await epochs()).filter((e) => e.tasksSettled > 0).map((e) => e.epoch));
  if (demoEpoch === 0) throw new Error('no epoch holds any charge: the demo was not billed');
  for (;;) {
    const row = (await epochs()).find((e) => e.epoch === demoEpoch);
    if (row?.status === 'settled') break;
    if (Date.now() > deadline)
      throw new Error(`epoch ${demoEpoch} did not settle in time (status ${row?.status})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const providers = (await get<{ providers: { address: Address; earnings: string }[] }>('/v1/providers')).body
    .providers;
  const provider = [...providers].sort((a, b) => (BigInt(b.earnings) > BigInt(a.earnings) ? 1 : -1))[0]!
    .address;
  const relayer = connectPlexus(
    { rpcUrl: opts.rpcUrl, chainId: opts.deployment.chainId, addresses: opts.deployment },
    opts.relayerKey,
  );
  const store = await openStore({ path: opts.dbPath, readonly: true });
  try {
    // A new epoch may finalize between reading the proof and claiming: then fetch it again.
    for (let attempt = 0; ; attempt++) {
      const r = await get<{ epoch: number; cumulativeAmount: string; claimed: string; proof: Hex[] }>(
        `/v1/rewards/${provider}`,
      );
      if (r.status !== 200) throw new Error(`GET /v1/rewards/${provider} answered ${r.status}`);
      const before = await getPlxBalance(relayer, provider);
      try {
        await claimRewards(relayer, {
          account: provider,
          cumulativeAmount: BigInt(r.body.cumulativeAmount),
          proof: r.body.proof,
        });
      } catch (err) {
        if (attempt < 3) continue;
        throw err;
      }
      const received = (await getPlxBalance(relayer, provider)) - before;
      const ledger = (await cumulativeEarnings(store.db, r.body.epoch)).get(provider.toLowerCase()) ?? 0n;
      const expected = ledger - BigInt(r.body.claimed);
      const tx = (await epochs()).find((e) => e.epoch === demoEpoch)?.txHash ?? null;
      return {
        demoEpoch,
        claimEpoch: r.body.epoch,
        txHash: tx,
        provider,
        received,
        expected,
        ok: received === expected && received > 0n,
      };
    }
  } finally {
    await store.close();
  }
}
