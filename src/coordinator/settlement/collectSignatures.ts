/**
 * Where the coordinator's epoch signatures come from (docs/validators.md). With independent
 * validators it holds no validator key: it pulls each validator's signature over the epoch from
 * the validator's API and keeps only those that recover, over its own payload, to a member of the
 * on-chain validator set. A validator that recomputed something else signed something else, and
 * its signature simply does not count.
 */
import { type Address, type LocalAccount, recoverTypedDataAddress } from 'viem';
import { epochTypedData } from '../../chain/epoch/epochTypedData.ts';
import { signEpoch } from '../../chain/epoch/signEpoch.ts';
import type { EpochPayload, EpochSignature } from '../../chain/types.ts';
import type { Logger } from '../../logger.ts';

/**
 * A source of validator signatures for an epoch payload.
 *
 * @example
 * const sigs = await signer.collect(payload); // finalize once sigs.length >= signer.threshold
 */
export type EpochSigner = {
  /** Distinct signatures the contract needs. */
  threshold: number;
  collect(payload: EpochPayload): Promise<EpochSignature[]>;
};

/**
 * Signatures from keys held in this process (tests and the legacy `--validator-keystore` mode only:
 * the coordinator then trusts itself).
 *
 * @example
 * const signer = localSigner(accounts, { chainId, settlement }, 2);
 */
export function localSigner(
  accounts: readonly LocalAccount[],
  target: { chainId: number; settlement: Address },
  threshold: number,
): EpochSigner {
  return {
    threshold,
    async collect(payload) {
      const sigs: EpochSignature[] = [];
      for (const a of accounts) sigs.push(await signEpoch(a, target, payload));
      return sigs;
    },
  };
}

/**
 * Signatures pulled from independent validators (`GET {url}/v1/epochs/:epoch/signature`): a
 * validator that has not decided yet answers 404, one that disputes the epoch 409; either way it
 * contributes nothing. Only signatures over exactly `payload` by a member of `validatorSet` count,
 * one per signer.
 *
 * @example
 * const signer = remoteSigner(['http://127.0.0.1:7301'], { chainId, settlement }, validators, 2, log);
 */
export function remoteSigner(
  urls: readonly string[],
  target: { chainId: number; settlement: Address },
  validatorSet: readonly Address[],
  threshold: number,
  log: Logger,
): EpochSigner {
  const members = new Set(validatorSet.map((v) => v.toLowerCase()));
  return {
    threshold,
    async collect(payload) {
      const typed = epochTypedData(target, payload);
      const got = await Promise.all(
        urls.map(async (url): Promise<EpochSignature | null> => {
          try {
            const res = await fetch(`${url.replace(/\/+$/, '')}/v1/epochs/${payload.epoch}/signature`, {
              signal: AbortSignal.timeout(10_000),
            });
            if (res.status === 409) {
              const body = (await res.json()) as { dispute?: { fact?: string } };
              log.error(
                { validator: url, epoch: Number(payload.epoch), fact: body.dispute?.fact },
                'validator disputes the epoch',
              );
              return null;
            }
            if (!res.ok) return null;
            const s = (await res.json()) as EpochSignature;
            const signer = await recoverTypedDataAddress({ ...typed, signature: s.signature });
            if (!members.has(signer.toLowerCase())) {
              log.warn(
                { validator: url, signer, epoch: Number(payload.epoch) },
                'signature is not over our payload by a validator; ignored',
              );
              return null;
            }
            return { signer, signature: s.signature };
          } catch (err) {
            log.debug({ validator: url, err: String(err) }, 'validator unreachable');
            return null;
          }
        }),
      );
      const bySigner = new Map<string, EpochSignature>();
      for (const s of got) if (s) bySigner.set(s.signer.toLowerCase(), s);
      return [...bySigner.values()];
    },
  };
}
