/**
 * The value of a metric (summed over its label sets, or over those with every label in `labels`)
 * from a Prometheus endpoint, or -1 when unreachable or absent.
 */
export async function readMetric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await fetch(`${baseUrl}/metrics`).then((r) => (r.ok ? r.text() : ""), () => "");
  const re = new RegExp(`^${name}(?:\\{([^}]*)\\})? ([0-9.e+-]+)$`, "gm");
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let found = false;
  let sum = 0;
  for (const m of text.matchAll(re)) {
    const set = (m[1] ?? "").split(",");
    if (!wanted.every((w) => set.includes(w))) continue;
    found = true;
    sum += Number(m[2]);
  }
  return found ? sum : -1;
}

/**
 * The api's login outcomes so far (login_attempts_total): `wrong` passwords argon2 checked and
 * found wrong, and guesses `locked` out (answered as wrong without a check).
 */
export async function loginOutcomes(baseUrl: string): Promise<{ wrong: number; locked: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const of = (outcome: string) => Number(new RegExp(`^login_attempts_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  return { wrong: of("invalid_credentials"), locked: of("locked") };
}
