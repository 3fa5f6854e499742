/**
 * Storage prices (issue 19, docs/storage.md "Money"), pure so the coordinator and the validators
 * compute the same integers: what one piece earns per proven epoch, and a stored term's escrow.
 */

const GIB = 2n ** 30n;

/**
 * What one piece earns its holder for one proven epoch: ⌊pieceBytes × price / GiB⌋.
 *
 * @example pieceEpochPay(524_288, 10n ** 15n); // 488_281_250_000n (half a MiB at 0.001 PLX/GiB-epoch)
 */
export function pieceEpochPay(pieceBytes: number, pricePerGiBEpoch: bigint): bigint {
  return (BigInt(pieceBytes) * pricePerGiBEpoch) / GIB;
}

/**
 * The escrow a stored term needs: every piece of every segment paid for `epochs` epochs. Piece
 * sizes follow `encodeObject` (a segment of L bytes gives K + M pieces of max(1, ⌈L / K⌉) bytes).
 *
 * @example termEscrow({ objectBytes: 1 << 20, k: 2, m: 1, segmentBytes: 32 << 20, price: 10n ** 15n, epochs: 4 });
 */
export function termEscrow(a: {
  objectBytes: number;
  k: number;
  m: number;
  segmentBytes: number;
  price: bigint;
  epochs: number;
}): bigint {
  const segments = Math.max(1, Math.ceil(a.objectBytes / a.segmentBytes));
  let perEpoch = 0n;
  for (let s = 0; s < segments; s++) {
    const len = Math.min(a.segmentBytes, a.objectBytes - s * a.segmentBytes);
    perEpoch += BigInt(a.k + a.m) * pieceEpochPay(Math.max(1, Math.ceil(len / a.k)), a.price);
  }
  return perEpoch * BigInt(a.epochs);
}
