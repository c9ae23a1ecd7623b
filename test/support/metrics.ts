/** The value of a metric (summed over its label sets) from a Prometheus endpoint, or -1 when unreachable or absent. */
export async function readMetric(baseUrl: string, name: string): Promise<number> {
  const text = await fetch(`${baseUrl}/metrics`).then((r) => (r.ok ? r.text() : ""), () => "");
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm");
  let found = false;
  let sum = 0;
  for (const m of text.matchAll(re)) {
    found = true;
    sum += Number(m[1]);
  }
  return found ? sum : -1;
}
