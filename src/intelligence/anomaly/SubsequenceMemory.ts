/**
 * Remembers the shape of recent stretches of a series and tells how far the newest stretch is
 * from anything seen before (nearest-neighbour distance, as in discord / matrix-profile
 * detection). Each stretch of `length` readings is shrunk to `segments` segment means (PAA) and
 * scaled by the caller's value range. A stretch joins the memory only `length` steps later, so
 * it is never compared with itself or an overlapping neighbour.
 *
 * @example
 * const mem = new SubsequenceMemory({ length: 16, segments: 8, capacity: 4000 });
 * const d = mem.push(x, range); // undefined until a first stretch is complete
 */
export class SubsequenceMemory {
  private readonly length: number;
  private readonly segments: number;
  private readonly capacity: number;
  private readonly recent: Float64Array;
  private recentCount = 0;
  private readonly store: Float64Array;
  private stored = 0;
  private storeHead = 0;
  private readonly pending: Float64Array[] = [];

  constructor(opts: { length: number; segments: number; capacity: number }) {
    if (opts.length % opts.segments !== 0) throw new RangeError('length must be a multiple of segments');
    this.length = opts.length;
    this.segments = opts.segments;
    this.capacity = opts.capacity;
    this.recent = new Float64Array(opts.length);
    this.store = new Float64Array(opts.capacity * opts.segments);
  }

  /**
   * Adds a reading and returns the RMS distance (in units of `range`) from the newest stretch to
   * its nearest remembered stretch: undefined while no stretch can be formed (too few readings,
   * or no range yet), 0 until more than 50 stretches are remembered.
   */
  push(value: number, range: number): number | undefined {
    this.recent.copyWithin(0, 1);
    this.recent[this.length - 1] = value;
    if (this.recentCount < this.length) this.recentCount++;
    if (this.recentCount < this.length || !(range > 0)) return undefined;

    const seg = this.length / this.segments;
    const e = new Float64Array(this.segments);
    for (let s = 0; s < this.segments; s++) {
      let acc = 0;
      for (let j = 0; j < seg; j++) acc += this.recent[s * seg + j]!;
      e[s] = acc / seg / range;
    }
    let best = Number.POSITIVE_INFINITY;
    for (let h = 0; h < this.stored; h++) {
      const o = h * this.segments;
      let d = 0;
      for (let s = 0; s < this.segments && d < best; s++) {
        const q = e[s]! - this.store[o + s]!;
        d += q * q;
      }
      if (d < best) best = d;
    }
    const distance = this.stored > 50 ? Math.sqrt(best / this.segments) : 0;

    this.pending.push(e);
    if (this.pending.length > this.length) {
      this.store.set(this.pending.shift()!, this.storeHead * this.segments);
      this.storeHead = (this.storeHead + 1) % this.capacity;
      if (this.stored < this.capacity) this.stored++;
    }
    return distance;
  }
}
