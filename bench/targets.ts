/**
 * Every row of the bench's table by id, with its target: the phases compute the figures, the report
 * (lib/report.ts) prints the target's text and judges the figures against it. `null`: the row is
 * reported without a target ("—"). Why each target is what it is: bench/README.md and
 * docs/benchmark-notes.md.
 */

/** What a target judges: the row's figures, and the phase's extra facts (see `Figures.facts`). */
export interface Measured {
  ours: number | null;
  baseline: number | null;
  ratio: number | null;
  facts: Record<string, number | null>;
}

export interface Target {
  text: string | ((facts: Measured["facts"]) => string);
  met(m: Measured): boolean;
}

const ratioAtMost = (x: number, text = `≤ ${x}x`): Target => ({ text, met: ({ ratio }) => ratio !== null && ratio <= x });
const ratioAtLeast = (x: number, text = `≥ ${x}x`): Target => ({ text, met: ({ ratio }) => ratio !== null && ratio >= x });
const atMost = (x: number, text: string): Target => ({ text, met: ({ ours }) => ours !== null && ours <= x });
const atLeast = (x: number, text: string): Target => ({ text, met: ({ ours }) => ours !== null && ours >= x });

export const TARGETS = {
  "tokens.verify": null,

  "handshake.rate": ratioAtLeast(0.9),
  "handshake.cpu": ratioAtMost(1.2),
  "handshake.cycle-cpu": null,
  "handshake.queries": null,

  "memory.rss-5000": ratioAtMost(1.15),
  "memory.heap-5000": ratioAtMost(1.15),
  "memory.held": atLeast(19_000, "≥ 19000"),
  "memory.rss-top": ratioAtMost(1.15),
  "memory.heap-top": ratioAtMost(1.15),
  "memory.rate-top": ratioAtLeast(0.9),
  "memory.heartbeat": null,

  "delivery.p50": null,
  /** Across two gateways: at most twice the single-gateway p99, plus 5 ms for the hop through Redis. */
  "delivery.p99": { text: "≤ 2x + 5 ms", met: ({ ours, baseline }) => ours !== null && baseline !== null && ours <= 2 * baseline + 5 },

  "revocation.p50": null,
  "revocation.p99": atMost(100, "≤ 100 ms"),

  "login.p50": ratioAtMost(1.1),
  "login.p99": null,
  "login.throughput": ratioAtLeast(1 / 1.1, "≥ 0.91x (cost ≤ 1.1x)"),

  "cluster.ssub-idle": { text: "0", met: ({ ours }) => ours === 0 },
  "cluster.ssub-chat": atMost(1, "≤ 1"),
  "cluster.handshake-rate": ratioAtLeast(0.95),
  "cluster.handshake-cpu": ratioAtMost(1 / 0.95, "≤ 1.05x (≥ 0.95x handshakes per CPU-s)"),
  "cluster.delivery-p50": null,
  "cluster.delivery-p99": null,
  "cluster.sat-messages": null,
  "cluster.sat-deliveries": null,

  "presence.cpu-fresh": ratioAtMost(1.1),
  "presence.cpu-reconnect": ratioAtMost(1.1),
  "presence.redis-commands": { text: "small constant", met: ({ ours, baseline }) => ours !== null && baseline !== null && ours - baseline <= 20 },
  "presence.get-p99": atMost(10, "≤ 10 ms"),
  "presence.kill-leave": atMost(15_000, "≤ 15 s, every leave"),

  "stored.rate": ratioAtLeast(0.8),

  /** Our own gateway with a webhook endpoint subscribed to message.created against without one: the event row rides in the insert statement. */
  "webhooks.send-cpu": ratioAtMost(1.1),
  "webhooks.deliveries": null,
  "webhooks.publish": null,

  /** chat:read (coalesced: one statement a second, one message:read per member and chat) against chat:typing (relayed, never stored), gateway CPU per event. */
  "essentials.read-cpu": ratioAtMost(2, "≤ 2x typing"),
  "essentials.list-p50": null,
  /** 500 chats answer about 280 KiB; p50 about 30 ms on a quiet machine (api and PostgreSQL about half each), the runner beside them on 2 cores. */
  "essentials.list-p99": atMost(100, "≤ 100 ms"),
  "essentials.catch-up": atMost(1_000, "≤ 1 s, every change"),

  "soak.heap": ratioAtMost(1.1, "within 10 %"),

  "attack-flood.rss": atMost(50, "≤ 50 MB"),
  "attack-flood.cut": atMost(2_000, "≤ 2 s, by either rule"),
  "attack-flood.p99": ratioAtMost(1.2),
  "attack-buffer.rss": atMost(50, "≤ 50 MB"),
  /** facts: `bound` (the gateway's send-buffer bound, bytes), `sinceCross` (ms from crossing it to the cut, or null). */
  "attack-buffer.cut": {
    text: ({ bound }) => `within 2 s of crossing ${bound === 2 ** 20 ? "1 MiB" : `${bound} bytes`}`,
    met: ({ facts }) => facts.sinceCross != null && facts.sinceCross <= 2_000,
  },
  "attack-buffer.p99": ratioAtMost(1.2),

  "fanout.rate": ratioAtLeast(0.9),
  "fanout.cpu": ratioAtMost(1.1),
  "fanout.p99": null,
  "fanout.profile-cpu": null,
  "fanout.quiet-10": null,
  "fanout.quiet-100": ratioAtMost(1.3),
  "fanout.quiet-1000": null,

  "scale.held": atLeast(250_000, "≥ 250000, none dropped"),
  "scale.rss": atMost(13, "≤ 13 KiB"),
  "scale.revocation-p99": atMost(100, "≤ 100 ms"),
  "scale.broadcast-p99": null,
  "scale.kill-100": atMost(60, "≤ 60 s, none dropped elsewhere"),
} satisfies Record<string, Target | null>;

export type RowId = keyof typeof TARGETS;
