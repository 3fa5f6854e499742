/**
 * NAB's scaled sigmoid (`nab/sweeper.py`): the reward of a detection at a relative position.
 * -1 is the left edge of a window (≈ +0.987), 0 its right edge (0), positive values are false
 * positives after a window, down to exactly -1 from 3 window-lengths on.
 *
 * @example
 * scaledSigmoid(-1); // 0.9866142981514305
 * scaledSigmoid(3); // -1
 */
export function scaledSigmoid(relativePositionInWindow: number): number {
  if (relativePositionInWindow >= 3.0) return -1.0;
  return 2 / (1 + Math.exp(5 * relativePositionInWindow)) - 1.0;
}
