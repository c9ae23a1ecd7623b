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

/**
 * The api's login outcomes so far (login_attempts_total): `wrong` passwords argon2 checked and
 * found wrong, and guesses `locked` out (answered as wrong without a check).
 */
export async function loginOutcomes(baseUrl: string): Promise<{ wrong: number; locked: number }> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const of = (outcome: string) => Number(new RegExp(`^login_attempts_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  return { wrong: of("invalid_credentials"), locked: of("locked") };
}
