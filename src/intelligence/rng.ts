/**
 * A small seedable pseudo-random generator (sfc32 seeded through splitmix32) so that every
 * simulation is reproducible from one integer seed, independent of Math.random.
 */

/** A source of uniform numbers in [0, 1) plus integer helpers. */
export type Rng = {
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
};

/**
 * Creates a deterministic generator from an integer seed.
 *
 * @example
 * const rng = createRng(42);
 * rng.int(10); // same value on every run
 */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return { next, int: (n: number) => Math.floor(next() * n) };
}
