/**
 * Seeded randomness for verification decisions. Everything that must be reproducible (audit draws,
 * challenge matrices, simulations) goes through here instead of `Math.random`.
 */
import { createHash } from 'node:crypto';

/**
 * A uniform number in [0, 1) derived from `sha256(seed ‖ parts)`. Stateless, so the answer for one
 * (provider, task) does not depend on the order the coordinator asks in, and it cannot be predicted
 * without the secret seed.
 *
 * @example
 * const u = hashUnit('coordinator-secret', '0xabc…', 'task-42'); // same inputs → same u
 */
export function hashUnit(seed: string, ...parts: string[]): number {
  const h = createHash('sha256');
  h.update(seed);
  for (const p of parts) {
    h.update('\u0000');
    h.update(p);
  }
  const d = h.digest();
  // 53 random bits → exactly representable double in [0, 1).
  return (d.readUInt32BE(0) * 2 ** 21 + (d.readUInt32BE(4) >>> 11)) / 2 ** 53;
}

/**
 * Deterministic pseudo-random generator (xoshiro128**), seeded from any string via sha256.
 * Fast enough for simulations and matrix generation; not for secrets.
 *
 * @example
 * const rng = new Rng('seed-1');
 * rng.next(); // 0 ≤ x < 1, same sequence for the same seed
 * rng.int(10); // 0..9
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: string) {
    const d = createHash('sha256').update(seed).digest();
    this.s0 = d.readUInt32LE(0);
    this.s1 = d.readUInt32LE(4);
    this.s2 = d.readUInt32LE(8);
    this.s3 = d.readUInt32LE(12);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // all-zero state is a fixed point
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 2 ** 32;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal variate (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) throw new RangeError('pick() from an empty array');
    return item;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
