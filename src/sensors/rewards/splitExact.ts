/**
 * Splits `amount` among weights exactly: integer parts that sum to `amount`, the remainder going
 * one unit at a time to the largest fractional parts (ties: the order given). Zero weights get
 * nothing; an empty or all-zero set gets an empty map.
 *
 * @example
 * splitExact(10n, new Map([['a', 1n], ['b', 2n]])); // Map { 'a' => 3n, 'b' => 7n }
 */
export function splitExact(amount: bigint, weights: ReadonlyMap<string, bigint>): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const entries = [...weights].filter(([, w]) => w > 0n);
  const total = entries.reduce((a, [, w]) => a + w, 0n);
  if (amount <= 0n || total === 0n) return out;
  let given = 0n;
  const rema: { i: number; r: bigint }[] = [];
  entries.forEach(([k, w], i) => {
    const num = amount * w;
    out.set(k, num / total);
    given += num / total;
    rema.push({ i, r: num % total });
  });
  rema.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (let k = 0; given < amount; k++, given++) {
    const key = entries[rema[k % rema.length]!.i]![0];
    out.set(key, out.get(key)! + 1n);
  }
  for (const [k, v] of out) if (v === 0n) out.delete(k);
  return out;
}
