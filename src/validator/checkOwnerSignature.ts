/**
 * That an account owns a stored object, checked from evidence (docs/storage.md, "Evidence"): the
 * owner's signed `put` of the object (a StorageRequest, kept with the object since migration 0028)
 * travels in the memo of every entry that charges the owner for someone else's read or for a
 * repair, and a validator recovers its signer. Before, that the payer owned the object was the
 * coordinator's word.
 */
import { recoverSigner } from '../protocol/eip712.ts';
import {
  storageRequestFromWire,
  storageRequestHash,
  storageRequestSchema,
} from '../protocol/storageMessages.ts';
import type { FactDispute } from './checkFacts.ts';

/**
 * Null when `put` is `owner`'s signed put of `objectId` (64 hex digits, no 0x), else the dispute.
 *
 * @example const wrong = await checkOwnerSignature('entry[…].owner', 31337, memo.owner, payer, objectId);
 */
export async function checkOwnerSignature(
  name: string,
  chainId: number,
  put: unknown,
  owner: string,
  objectId: string,
): Promise<FactDispute | null> {
  const bad = (claimed: unknown, recomputed: unknown): FactDispute => ({
    fact: `${name}.owner`,
    claimed: String(claimed),
    recomputed: String(recomputed),
  });
  const parsed = storageRequestSchema.safeParse(put);
  const want = `the put of 0x${objectId.toLowerCase()} signed by ${owner.toLowerCase()}`;
  if (!parsed.success) return bad('missing or malformed', want);
  const { message, signature } = storageRequestFromWire(parsed.data);
  if (
    message.action !== 'put' ||
    message.objectId.toLowerCase() !== `0x${objectId.toLowerCase()}` ||
    message.client.toLowerCase() !== owner.toLowerCase()
  )
    return bad(`${message.action} of ${message.objectId} by ${message.client}`, want);
  let signer: string;
  try {
    signer = await recoverSigner(storageRequestHash(chainId, message), signature);
  } catch (err) {
    return bad(err instanceof Error ? err.message : String(err), want);
  }
  return signer.toLowerCase() === owner.toLowerCase() ? null : bad(`signed by ${signer}`, want);
}
