/**
 * What a validator may read (docs/security.md, "Reads"; docs/validators.md): exactly the blobs an
 * epoch it checks refers to. A validator signs an ordinary `BlobRead` with its own key; the read
 * is allowed when the signer is in the validator set the coordinator settles with and the cid
 * appears in the evidence bundle of one of the latest `windowEpochs` closed epochs, as a JSON
 * string (`"<cid>"` or `"0x<cid>"`, or packed as base64url: settlement/compactFacts.ts). Nothing else opens: not the job's other data, not another
 * epoch's, and nothing to a key outside the set.
 *
 * Bundles never change once written, so each epoch's cids are extracted once (one regular
 * expression pass over its canonical JSON) and kept while the epoch is in the window.
 */
import { unpackString } from '../settlement/compactFacts.ts';
import type { Store } from '../store/openStore.ts';
import { rawStatement } from '../store/rawStatement.ts';

/** Closed epochs whose blobs validators may read: two days of hourly epochs. */
export const VALIDATOR_READ_WINDOW_EPOCHS = 48;

/**
 * The `canRead` hook of createBlobAccess for validators.
 *
 * @example
 * const canRead = createValidatorReads({ store, validators: () => chain.validatorSet });
 * createBlobAccess({ ..., canRead });
 */
export function createValidatorReads(deps: {
  store: Pick<Store, 'db' | 'raw'>;
  /** The validator addresses the coordinator settles with (the deployment's validator set). */
  validators: () => readonly string[];
  windowEpochs?: number;
}): (account: string, cid: string) => Promise<boolean> {
  const window = deps.windowEpochs ?? VALIDATOR_READ_WINDOW_EPOCHS;
  const latest = rawStatement(
    deps.store,
    'SELECT epoch, hash FROM epoch_evidence ORDER BY epoch DESC LIMIT ?',
  );
  const body = rawStatement(deps.store, 'SELECT body FROM epoch_evidence WHERE epoch = ?');
  /** Cids per epoch, keyed by the bundle's hash too (a re-closed epoch is read again). */
  const cache = new Map<number, { hash: string; cids: Set<string> }>();
  const cidsOf = async (epoch: number, hash: string): Promise<Set<string>> => {
    const hit = cache.get(epoch);
    if (hit?.hash === hash) return hit.cids;
    const text = String((await body.value([epoch])) ?? '');
    const cids = new Set<string>();
    for (const m of text.matchAll(/"(?:0x)?([0-9a-f]{64})"/g)) cids.add(m[1]!);
    // A packed bundle (version 3, settlement/compactFacts.ts) writes hex as tagged base64url.
    for (const m of text.matchAll(/"([~!][A-Za-z0-9_-]{43})"/g))
      cids.add(unpackString(m[1]!).replace(/^0x/, ''));
    cache.set(epoch, { hash, cids });
    return cids;
  };
  return async (account, cid) => {
    const who = account.toLowerCase();
    if (!deps.validators().some((v) => v.toLowerCase() === who)) return false;
    const rows = await latest.all<{ epoch: number; hash: string }>([window]);
    // Epochs that left the window are forgotten.
    const inWindow = new Set(rows.map((r) => r.epoch));
    for (const e of cache.keys()) if (!inWindow.has(e)) cache.delete(e);
    for (const r of rows) if ((await cidsOf(r.epoch, r.hash)).has(cid)) return true;
    return false;
  };
}
