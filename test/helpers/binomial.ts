/**
 * Exact binomial acceptance interval: the smallest [lo, hi] in counts such that
 * P(X < lo) ≤ α/2 and P(X > hi) ≤ α/2 for X ~ Binomial(n, p). Computed from the pmf in log space so
 * n in the thousands does not underflow. Test math only; the product never guesses loss.
 */
export function binomialInterval(n: number, p: number, confidence = 0.95): { lo: number; hi: number } {
  const alpha = 1 - confidence;
  const logP = Math.log(p);
  const logQ = Math.log1p(-p);
  const pmf: number[] = [];
  let logC = 0; // log C(n, 0)
  for (let k = 0; k <= n; k += 1) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k);
    pmf.push(Math.exp(logC + k * logP + (n - k) * logQ));
  }
  let lo = 0;
  let below = 0;
  while (lo < n && below + (pmf[lo] ?? 0) <= alpha / 2) {
    below += pmf[lo] ?? 0;
    lo += 1;
  }
  let hi = n;
  let above = 0;
  while (hi > 0 && above + (pmf[hi] ?? 0) <= alpha / 2) {
    above += pmf[hi] ?? 0;
    hi -= 1;
  }
  return { lo, hi };
}
