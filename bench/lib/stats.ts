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

/** Adds the counts of `from` into `into` (refusal codes, errors); returns `into`. */
export const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
};

/** Weighted percentiles over the generators' thinned, sorted latency lists (each value stands for n / length receipts). */
export function mergedSummary(parts: { n: number; latencies: number[] }[]): Summary {
  const all: { x: number; w: number }[] = [];
  for (const p of parts) for (const x of p.latencies) all.push({ x, w: p.n / Math.max(1, p.latencies.length) });
  if (all.length === 0) return { n: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN };
  all.sort((a, b) => a.x - b.x);
  const total = all.reduce((a, v) => a + v.w, 0);
  const q = (p: number) => {
    let acc = 0;
    for (const v of all) if ((acc += v.w) >= p * total) return v.x;
    return all[all.length - 1]!.x;
  };
  return { n: Math.round(total), p50: q(0.5), p99: q(0.99), max: all[all.length - 1]!.x, mean: all.reduce((a, v) => a + v.x * v.w, 0) / total };
}

/** The middle of a few rounds' figures (the upper middle of an even number); NaN for none. */
export const medianRound = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
