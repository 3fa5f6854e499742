import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { type Address, type Hex, isAddress } from 'viem';
import { z } from 'zod';
import { getClaimed } from '../../chain/actions/coordinator/getClaimed.ts';
import { getSettlementState } from '../../chain/actions/coordinator/getSettlementState.ts';
import type { PlexusReader } from '../../chain/types.ts';
import { PlexusError } from '../../errors/PlexusError.ts';
import { type ChainInfo, chainInfoSchema } from '../../protocol/http/chain.ts';
import { errorResponses } from '../../protocol/http/common.ts';
import { epochListSchema, priceListSchema, rewardsViewSchema } from '../../protocol/http/market.ts';
import { addressSchema } from '../../protocol/schemas.ts';
import { maintainedBalances } from '../ledger/ledgerBalances.ts';
import { countCharges } from '../ledger/ledgerQueries.ts';
import { TARGET_UTILIZATION } from '../market/constants.ts';
import type { Market } from '../market/createMarket.ts';
import { listPriceHistory } from '../market/priceQueries.ts';
import { unitOf } from '../market/resourceClass.ts';
import type { ValidatorVote } from '../settlement/collectSignatures.ts';
import type { EpochSummary } from '../settlement/epochComputation.ts';
import { listEpochs, listEpochsWithTree } from '../settlement/epochQueries.ts';
import { evidenceRoutes } from '../settlement/evidenceRoutes.ts';
import type { Database } from '../store/schema.ts';

/** How many epochs of price history and epoch rows the API returns at most. */
const HISTORY_LIMIT = 200;

/**
 * The money side of the API (docs/market.md): epochs and their settlement, base prices per
 * resource class, each provider's rewards with its Merkle proof, and where the contracts live.
 *
 * @example await app.register(marketRoutes({ db, market, chain, chainInfo }));
 */
export function marketRoutes(deps: {
  db: Kysely<Database>;
  market: Market;
  chain: PlexusReader | undefined;
  chainInfo: ChainInfo | undefined;
  /** Each validator's last answer about an epoch (independent validators only; collectSignatures.ts). */
  validatorVotes?: ((epoch: number) => readonly ValidatorVote[]) | undefined;
  /** The network key that signs each epoch claim (evidenceRoutes.ts); none in development mode. */
  claimSigner?: Parameters<typeof evidenceRoutes>[0]['claimSigner'];
}) {
  const { db, market } = deps;
  /** Who signed an epoch (the stored quorum once collected, else the latest answers) and who disputes it. */
  const validatorsOf = (row: { epoch: number; signatures: string | null }) => {
    const votes = deps.validatorVotes?.(row.epoch) ?? [];
    const stored = row.signatures ? (JSON.parse(row.signatures) as { signer: string }[]) : null;
    const signers = (
      stored ?? votes.filter((v) => v.status === 'signed').map((v) => ({ signer: v.signer! }))
    ).map((s) => s.signer.toLowerCase());
    const disputes = votes
      .filter((v) => v.status === 'disputed')
      .map((v) => ({ validator: v.validator, fact: v.fact ?? 'unknown' }));
    return { signers, disputes };
  };
  return async (app: FastifyInstance) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    await app.register(evidenceRoutes({ db, claimSigner: deps.claimSigner }));

    r.get(
      '/v1/epochs',
      {
        schema: {
          summary: 'Epochs and their settlement, newest first',
          response: { 200: epochListSchema, ...errorResponses },
        },
      },
      async () => {
        const rows = await listEpochs(db, HISTORY_LIMIT);
        const current = await market.currentEpoch(db);
        const byEpoch = new Map(rows.map((row) => [row.epoch, row]));
        // Without a settlement loop (development mode) the current epoch still shows, open.
        if (!byEpoch.has(current)) {
          rows.unshift({
            epoch: current,
            status: 'open',
            starts_at: market.clock.startsAt(current),
            ends_at: market.clock.endsAt(current),
            payload: null,
            tree: null,
            summary: null,
            signatures: null,
            tx_hash: null,
            settled_at: null,
            updated_at: Date.now(),
          });
        }
        const epochs = [];
        for (const row of rows) {
          let s: EpochSummary;
          if (row.summary) s = JSON.parse(row.summary) as EpochSummary;
          else {
            // Open: the figures so far, from the ledger.
            // Maintained per epoch (ledgerBalances.ts): a row per account, not every posting.
            const own = await maintainedBalances(db, { epoch: row.epoch });
            let earnings = 0n;
            let charges = 0n;
            for (const [a, v] of own) {
              if (a.endsWith(':earnings')) earnings -= v;
              if (a.endsWith(':unsettled') && v > 0n) charges += v;
            }
            s = {
              tasksSettled: await countCharges(db, row.epoch),
              providerEarnings: earnings.toString(),
              clientCharges: charges.toString(),
              protocolFees: (-(own.get('protocol:fees') ?? 0n)).toString(),
              slashed: '0',
              emission: '0',
            };
          }
          const payload = row.payload
            ? (JSON.parse(row.payload) as { rewardsRoot: string; evidenceHash: string })
            : undefined;
          epochs.push({
            epoch: row.epoch,
            status: row.status,
            startsAt: row.starts_at,
            endsAt: row.ends_at,
            ...s,
            rewardsRoot: payload?.rewardsRoot ?? null,
            evidenceHash: payload?.evidenceHash ?? null,
            ...validatorsOf(row),
            txHash: row.tx_hash,
            settledAt: row.settled_at,
          });
        }
        return { epochs };
      },
    );

    r.get(
      '/v1/prices',
      {
        schema: {
          summary: 'Base price per resource class and its history',
          response: { 200: priceListSchema, ...errorResponses },
        },
      },
      async () => {
        const current = await market.currentEpoch(db);
        const classes = [];
        for (const cls of await market.classes(db)) {
          const hist = await listPriceHistory(db, cls, HISTORY_LIMIT);
          classes.push({
            class: cls,
            unit: unitOf(cls),
            basePrice: (await market.basePrice(db, cls, current)).toString(),
            utilization: hist[0]?.utilization ?? 0,
            targetUtilization: TARGET_UTILIZATION,
            history: hist
              .reverse()
              .map((h) => ({ epoch: h.epoch, basePrice: h.base_price, utilization: h.utilization ?? 0 })),
          });
        }
        return { classes };
      },
    );

    /**
     * The epoch whose rewards tree a claim must prove against: the one whose root is on chain now.
     * Between a finalization's confirmation and the store marking it settled, that is an epoch
     * still `submitted` here; a proof from the previous tree would revert with InvalidProof.
     * Without a chain (or while it cannot be read): the last epoch marked settled.
     */
    async function rewardsEpoch() {
      const rows = await listEpochsWithTree(db, 8);
      if (deps.chain) {
        try {
          const { rewardsRoot } = await getSettlementState(deps.chain);
          const onChain = rows.find(
            (row) =>
              row.payload && (JSON.parse(row.payload) as { rewardsRoot: string }).rewardsRoot === rewardsRoot,
          );
          if (onChain) return onChain;
        } catch {
          // Fall back to the store's view; reading `claimed` below reports the chain outage.
        }
      }
      return rows.find((row) => row.status === 'settled');
    }

    r.get(
      '/v1/rewards/:address',
      {
        schema: {
          summary: "A provider's cumulative rewards in the last settled epoch, with its Merkle proof",
          params: z.object({ address: addressSchema }),
          response: { 200: rewardsViewSchema, ...errorResponses },
        },
      },
      async (req) => {
        // A mixed-case address is an EIP-55 checksum: a wrong one is the caller's typo, refused
        // here (it used to reach the chain read and come back as 503 PLX_CHAIN_UNAVAILABLE).
        if (!isAddress(req.params.address)) {
          throw new PlexusError('PLX_VALIDATION', `${req.params.address} has a wrong EIP-55 checksum`, {
            details: { issues: [{ path: 'params.address', message: 'wrong EIP-55 checksum' }] },
          });
        }
        const address = req.params.address.toLowerCase();
        const last = await rewardsEpoch();
        const notFound = () =>
          new PlexusError('PLX_NOT_FOUND', `${req.params.address} has no earnings in any settled epoch`);
        if (!last?.tree || !last.payload) throw notFound();
        const tree = StandardMerkleTree.load(JSON.parse(last.tree));
        for (const [i, [account, amount]] of tree.entries()) {
          if (String(account).toLowerCase() !== address) continue;
          let claimed = 0n;
          if (deps.chain) {
            try {
              claimed = await getClaimed(deps.chain, req.params.address as Address);
            } catch (cause) {
              throw new PlexusError(
                'PLX_CHAIN_UNAVAILABLE',
                'could not read the claimed amount from the chain',
                { cause },
              );
            }
          }
          return {
            address: req.params.address,
            epoch: last.epoch,
            cumulativeAmount: BigInt(amount as string).toString(),
            claimed: claimed.toString(),
            proof: tree.getProof(i) as Hex[],
            rewardsRoot: tree.root,
          };
        }
        throw notFound();
      },
    );

    r.get(
      '/v1/chain',
      {
        schema: {
          summary: 'The chain and the Plexus contracts this coordinator settles on',
          response: { 200: chainInfoSchema, ...errorResponses },
        },
      },
      async () => {
        if (!deps.chainInfo)
          throw new PlexusError('PLX_NOT_FOUND', 'this coordinator runs without a chain (development mode)');
        return deps.chainInfo;
      },
    );
  };
}
