export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles. */
export function summary(xs: number[]): Summary {
  if (xs.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = Float64Array.from(xs).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  let sum = 0;
  for (const x of s) sum += x;
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s[s.length - 1]!, mean: sum / s.length };
}

export const median = (xs: number[]) => summary(xs).p50;
