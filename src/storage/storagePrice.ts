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
 * The escrow a stored term needs: every piece of every segment paid for `epochs` epochs, plus,
 * with `pricePerByte`, a repair reserve of one repair round per segment (the pieces a segment
 * loses before its repair starts, K + M − threshold = max(1, ⌈3M / 8⌉), each rebuilt for
 * `repairFee` and its K source reads paid to their holders, `repairFee` again); what the term does not spend goes back to the client at its end. Piece sizes
 * follow `encodeObject` (a segment of L bytes gives K + M pieces of max(1, ⌈L / K⌉) bytes).
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
  /** The repair price per byte: adds the repair reserve (absent: storage alone). */
  pricePerByte?: bigint;
}): bigint {
  const segments = Math.max(1, Math.ceil(a.objectBytes / a.segmentBytes));
  // Pieces lost before a segment's repair starts (choosePlacement.ts `repairThreshold`).
  const round = BigInt(Math.max(1, Math.ceil((3 * a.m) / 8)));
  let perEpoch = 0n;
  let reserve = 0n;
  for (let s = 0; s < segments; s++) {
    const len = Math.min(a.segmentBytes, a.objectBytes - s * a.segmentBytes);
    const pieceBytes = Math.max(1, Math.ceil(len / a.k));
    perEpoch += BigInt(a.k + a.m) * pieceEpochPay(pieceBytes, a.price);
    // Each repair pays its repairer and the K source reads it makes (the same bytes again).
    if (a.pricePerByte) reserve += round * 2n * repairFee(pieceBytes, a.k, a.pricePerByte);
  }
  return perEpoch * BigInt(a.epochs) + reserve;
}

/**
 * The evidence of a put's price, in its `storage-hold` entry's memo (evidence version 8): the floor
 * (the coordinator's setting), the offers of the storage sessions connected at the put (provider,
 * offered and free bytes, as the coordinator saw them) and the price `marketPrice` gives over them.
 *
 * @example const p: StoragePricing = { floor: '1000', offers: [{ provider, offeredBytes: 2 ** 30, freeBytes: 2 ** 29 }], pricePerGiBEpoch: '1000' };
 */
export type StoragePricing = {
  floor: string;
  offers: { provider: string; offeredBytes: number; freeBytes: number }[];
  pricePerGiBEpoch: string;
};

/** Share of the offered space in use (in millionths) up to which storage costs the floor price. */
export const PRICE_KNEE_PPM = 500_000n;

/**
 * The price of a GiB-epoch from supply and demand (docs/storage.md, "Price"): supply is the space
 * the connected storage providers offer, demand what is already placed on it. Up to half of the
 * offered space in use the price is the floor (the configured price); above, it rises with the
 * square of utilisation over the knee, to 4× the floor when every offered byte is taken, so scarce
 * space costs more and new puts go where space is plentiful. No offer at all: the floor. Integer
 * arithmetic (millionths), so anyone recomputes the same price from the same offers.
 *
 * @example marketPrice(10n ** 15n, [{ offeredBytes: 2 ** 30, freeBytes: 2 ** 28 }]); // 75% used → 2.25× the floor
 */
export function marketPrice(
  floor: bigint,
  offers: readonly { offeredBytes: number; freeBytes: number }[],
): bigint {
  let offered = 0n;
  let free = 0n;
  for (const o of offers) {
    const total = BigInt(Math.max(0, Math.floor(o.offeredBytes)));
    offered += total;
    free += BigInt(Math.min(Math.max(0, Math.floor(o.freeBytes)), Math.max(0, Math.floor(o.offeredBytes))));
  }
  if (offered === 0n) return floor;
  const usedPpm = ((offered - free) * 1_000_000n) / offered;
  if (usedPpm <= PRICE_KNEE_PPM) return floor;
  const r = (usedPpm * 1_000_000n) / PRICE_KNEE_PPM; // utilisation over the knee, millionths (1 to 2)
  return (floor * r * r) / 1_000_000_000_000n;
}

/**
 * What a repairer is paid for rebuilding one lost piece (docs/storage.md, "Repair"): the bytes it
 * had to fetch, K source pieces of `pieceBytes`, at the retrieval price per byte, from the object's
 * held term. Pure, so a validator re-derives it from the entry's memo.
 *
 * @example repairFee(2 << 20, 16, 9_313n); // 16 pieces of 2 MiB at 9,313 base units a byte
 */
export function repairFee(pieceBytes: number, dataPieces: number, pricePerByte: bigint): bigint {
  return BigInt(pieceBytes) * BigInt(dataPieces) * pricePerByte;
}
