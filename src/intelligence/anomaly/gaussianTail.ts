/**
 * Upper tail probability of the standard normal, `P(Z > z)`, via the complementary error
 * function (Numerical Recipes `erfcc`, |relative error| < 1.2e-7): enough for anomaly scores and
 * free of dependencies.
 *
 * @example
 * gaussianTail(0); // 0.5
 * gaussianTail(3); // ≈ 0.00135
 */
export function gaussianTail(z: number): number {
  const x = z / Math.SQRT2;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.5 * a);
  const erfc =
    t *
    Math.exp(
      -a * a -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? erfc / 2 : 1 - erfc / 2;
}
