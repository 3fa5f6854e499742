import { secp256k1 } from '@noble/curves/secp256k1';
import { type Address, type Hex, keccak256, toHex } from 'viem';
import { PlexusError } from '../../errors/PlexusError.ts';

/**
 * Checks EIP-712 digests signed by one device, synchronously. The first good signature recovers the
 * device's public key (and proves it hashes to the device address); later ones are verified
 * against that key, which costs about half a recovery. Ingest checks one signature per batch, so
 * this is the largest fixed cost of a batch (docs/sensors.md, throughput).
 *
 * @example
 * const check = createSignatureCheck(device.address);
 * check(digest, batch.signature); // throws PLX_BAD_SIGNATURE unless the device signed digest
 */
export function createSignatureCheck(device: Address): (digest: Hex, signature: Hex) => void {
  let publicKey: Uint8Array | undefined;
  const expected = device.toLowerCase();
  const bad = (message: string) =>
    new PlexusError('PLX_BAD_SIGNATURE', message, { details: { expected: device } });
  return (digest, signature) => {
    if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw bad('the signature is not 65 bytes of hex');
    const compact = signature.slice(2, 130);
    const v = Number.parseInt(signature.slice(130), 16);
    const recovery = v >= 27 ? v - 27 : v;
    if (recovery !== 0 && recovery !== 1) throw bad('the signature has an invalid recovery id');
    const hash = digest.slice(2);
    let sig: ReturnType<typeof secp256k1.Signature.fromCompact>;
    try {
      sig = secp256k1.Signature.fromCompact(compact);
    } catch {
      throw bad('the signature is malformed');
    }
    // High-s signatures are the malleable twin of a valid one: refused, as Ethereum does.
    if (sig.hasHighS()) throw bad('the signature has a high s value');
    if (publicKey) {
      if (!secp256k1.verify(sig, hash, publicKey, { prehash: false, lowS: true }))
        throw bad(`the batch is not signed by ${device}`);
      return;
    }
    let pub: Uint8Array;
    try {
      pub = sig.addRecoveryBit(recovery).recoverPublicKey(hash).toRawBytes(false);
    } catch {
      throw bad('no public key recovers from the signature');
    }
    const address = `0x${keccak256(toHex(pub.slice(1))).slice(-40)}`;
    if (address !== expected) throw bad(`the batch is not signed by ${device}`);
    publicKey = pub;
  };
}
