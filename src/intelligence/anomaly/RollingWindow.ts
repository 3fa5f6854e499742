/**
 * A fixed-capacity window over the most recent values with O(1) mean and variance, so the
 * detector's cost per reading does not grow with history. Sums are rebuilt from the buffer every
 * `capacity` pushes to stop floating-point drift.
 *
 * @example
 * const w = new RollingWindow(3);
 * for (const v of [1, 2, 3, 4]) w.push(v);
 * w.mean(); // 3
 */
export class RollingWindow {
  readonly capacity: number;
  private readonly buf: Float64Array;
  private head = 0;
  private count = 0;
  private sum = 0;
  private sumSq = 0;
  private sinceRebuild = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.buf = new Float64Array(capacity);
  }

  /** Number of values held (at most `capacity`). */
  get size(): number {
    return this.count;
  }

  /** Adds a value, evicting the oldest when full. */
  push(v: number): void {
    if (this.count === this.capacity) {
      const old = this.buf[this.head]!;
      this.sum -= old;
      this.sumSq -= old * old;
    } else {
      this.count++;
    }
    this.buf[this.head] = v;
    this.head = (this.head + 1) % this.capacity;
    this.sum += v;
    this.sumSq += v * v;
    if (++this.sinceRebuild >= this.capacity) this.rebuild();
  }

  /** Mean of the held values (0 when empty). */
  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Population variance of the held values (0 when fewer than two). */
  variance(): number {
    if (this.count < 2) return 0;
    const m = this.sum / this.count;
    return Math.max(0, this.sumSq / this.count - m * m);
  }

  /** The value pushed `lag` pushes ago (0 = the latest), or undefined when not held. */
  at(lag: number): number | undefined {
    if (lag < 0 || lag >= this.count) return undefined;
    return this.buf[(this.head - 1 - lag + this.capacity * 2) % this.capacity];
  }

  private rebuild(): void {
    this.sinceRebuild = 0;
    let s = 0;
    let q = 0;
    for (let i = 0; i < this.count; i++) {
      const v = this.buf[i]!;
      s += v;
      q += v * v;
    }
    this.sum = s;
    this.sumSq = q;
  }
}
