/**
 * `--only=revocation`: from a session revocation call's answer (the api) to the disconnect of its
 * sockets, each session's two sockets on two of the three gateways (client-proc's `revocation`).
 */
import type { Phase } from "../lib/context";
import { seed } from "../lib/setup";
import type { Summary } from "../lib/stats";

const REVOCATION = { sessions: 120, gapMs: 20 };

export const revocationPhase: Phase = {
  name: "revocation",
  needs: ["gw1", "gw2", "gw3", "api", "clients"],
  async run({ server, clients, database, tokens, details, log, row }) {
    const seeded = await seed(database.url, tokens, "rev_", REVOCATION.sessions);
    const gws = [server("gw1"), server("gw2"), server("gw3")].map((g) => g.info.url as string);
    const sessions = seeded.users.map((u, i) => ({ token: u.token, sid: u.sessionId, gateways: [gws[i % 3]!, gws[(i + 1) % 3]!] }));
    const res = await clients[1]!.call<{ latency: Summary; missing: number; before: number; withoutEnded: number; httpFailed: number; sockets: number }>(
      "revocation",
      { api: server("api").info.url, sessions, gapMs: REVOCATION.gapMs },
      120_000,
    );
    details.revocation = res;
    log(`revocation: ${JSON.stringify(res)}`);
    const note = `${REVOCATION.sessions} sessions × 2 sockets on 3 gateways; ${res.missing} not disconnected, ${res.before} before the call returned (counted 0), ${res.httpFailed} calls failed`;
    row("revocation.p50", { figure: "revocation: call returned → client disconnected, p50", ours: res.latency.p50, baseline: null, unit: "ms", ratio: null });
    row("revocation.p99", {
      figure: "revocation: call returned → client disconnected, p99",
      ours: res.latency.p99,
      baseline: null,
      unit: "ms",
      ratio: null,
      valid: res.missing === 0 && res.httpFailed === 0,
      note,
    });
  },
};
