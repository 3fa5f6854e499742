/**
 * Where the coordinator's epoch signatures come from (docs/validators.md). With independent
 * validators it holds no validator key: it pulls each validator's signature over the epoch from
 * the validator's API and keeps only those that recover, over its own payload, to a member of the
 * on-chain validator set. A validator that recomputed something else signed something else, and
 * its signature simply does not count.
 */
import { type Address, type Hex, type LocalAccount, recoverTypedDataAddress } from 'viem';
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
  /** What each validator answered the last time the epoch's signatures were collected (remote only). */
  votes?(epoch: number): readonly ValidatorVote[];
};

/**
 * One validator's last answer about an epoch, for the explorer: `signed` (a signature over this
 * coordinator's payload by an on-chain validator), `disputed` (with the fact it names), `undecided`
 * (not checked yet), `foreign` (a signature over another payload or by a non-validator), or
 * `unreachable`.
 *
 * @example const v: ValidatorVote = { validator: 'http://127.0.0.1:7301', status: 'disputed', fact: 'charge[…]' };
 */
export type ValidatorVote = {
  validator: string;
  status: 'signed' | 'disputed' | 'undecided' | 'foreign' | 'unreachable';
  signer?: Address;
  fact?: string;
};

/** Epochs whose votes a remote signer remembers (the explorer shows recent ones). */
const VOTE_EPOCHS_KEPT = 64;

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
  const votes = new Map<number, ValidatorVote[]>();

  async function ask(url: string, payload: EpochPayload): Promise<ValidatorVote & { signature?: Hex }> {
    const epoch = Number(payload.epoch);
    try {
      const res = await fetch(`${url.replace(/\/+$/, '')}/v1/epochs/${epoch}/signature`, {
        signal: AbortSignal.timeout(10_000),
      });
      if (res.status === 409) {
        const body = (await res.json()) as { dispute?: { fact?: string } };
        return { validator: url, status: 'disputed', fact: String(body.dispute?.fact ?? 'unknown') };
      }
      if (!res.ok) return { validator: url, status: 'undecided' };
      const s = (await res.json()) as EpochSignature;
      const signer = await recoverTypedDataAddress({
        ...epochTypedData(target, payload),
        signature: s.signature,
      });
      if (!members.has(signer.toLowerCase())) return { validator: url, status: 'foreign', signer };
      return { validator: url, status: 'signed', signer, signature: s.signature };
    } catch (err) {
      log.debug({ validator: url, err: String(err) }, 'validator unreachable');
      return { validator: url, status: 'unreachable' };
    }
  }

  return {
    threshold,
    async collect(payload) {
      const epoch = Number(payload.epoch);
      const got = await Promise.all(urls.map((url) => ask(url, payload)));
      const before = votes.get(epoch);
      // Logged when a validator's answer changes, not at every collection (one a second).
      for (const v of got) {
        const was = before?.find((b) => b.validator === v.validator);
        if (was?.status === v.status && was.fact === v.fact) continue;
        if (v.status === 'disputed')
          log.error({ validator: v.validator, epoch, fact: v.fact }, 'validator disputes the epoch');
        if (v.status === 'foreign')
          log.warn(
            { validator: v.validator, signer: v.signer, epoch },
            'signature is not over our payload by a validator; ignored',
          );
      }
      votes.set(
        epoch,
        got.map(({ signature: _s, ...v }) => v),
      );
      for (const e of votes.keys()) if (e <= epoch - VOTE_EPOCHS_KEPT) votes.delete(e);
      const bySigner = new Map<string, EpochSignature>();
      for (const v of got)
        if (v.status === 'signed' && v.signer && v.signature)
          bySigner.set(v.signer.toLowerCase(), { signer: v.signer, signature: v.signature });
      return [...bySigner.values()];
    },
    votes: (epoch) => votes.get(epoch) ?? [],
  };
}
