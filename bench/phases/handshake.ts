/**
 * `--only=handshake`: handshakes/s and the server's own CPU per handshake, ours (gw1) against the
 * bare Socket.IO server, in alternating rounds of the same users reconnecting (lib/handshake-rounds.ts).
 */
import type { Phase } from "../lib/context";
import { bestRate, HANDSHAKE, handshakeRounds } from "../lib/handshake-rounds";
import { CLIENTS, PER_CLIENT_CONCURRENCY } from "../lib/load";
import { medianRound } from "../lib/stats";

export const handshakePhase: Phase = {
  name: "handshake",
  needs: ["gw1", "bare", "clients", "load"],
  async run(ctx) {
    const { row } = ctx;
    const rounds = await handshakeRounds(ctx, "handshakes", [["bare", ctx.server("bare")], ["ours", ctx.server("gw1")]], ctx.load);
    const [ours, bare] = [rounds.ours!, rounds.bare!];
    const o = bestRate(ours);
    const b = bestRate(bare);
    ctx.details.handshakes = { rounds, connectionsPerRound: HANDSHAKE.round, concurrency: CLIENTS * PER_CLIENT_CONCURRENCY };
    row("handshake.rate", {
      figure: `handshakes/s (${HANDSHAKE.round} connections, ${CLIENTS * PER_CLIENT_CONCURRENCY} in flight, best of ${HANDSHAKE.rounds})`,
      ours: o,
      baseline: b,
      unit: "/s",
      ratio: o / b,
    });
    const oc = medianRound(ours.map((x) => x.cpuUsPerHandshake));
    const bc = medianRound(bare.map((x) => x.cpuUsPerHandshake));
    row("handshake.cpu", {
      figure: "server CPU per authenticated handshake (median round; the process's own CPU over the connect window)",
      ours: oc,
      baseline: bc,
      unit: "µs",
      ratio: oc / bc,
      note: `rounds: ours ${ours.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")}, bare ${bare.map((x) => x.cpuUsPerHandshake.toFixed(0)).join("/")} µs`,
    });
    const occ = medianRound(ours.map((x) => x.cycleCpuUsPerHandshake ?? NaN));
    const bcc = medianRound(bare.map((x) => x.cycleCpuUsPerHandshake ?? NaN));
    row("handshake.cycle-cpu", { figure: "server CPU per connection, handshake and close (median round)", ours: occ, baseline: bcc, unit: "µs", ratio: occ / bcc });
    const q = medianRound(ours.map((x) => x.queriesPerHandshake));
    row("handshake.queries", { figure: "PostgreSQL queries per handshake (median round)", ours: q, baseline: 0, unit: "", ratio: null });
  },
};
