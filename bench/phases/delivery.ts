/**
 * `--only=delivery`: message delivery latency across two gateways (through Redis) against within
 * one, in the same room: half its sockets on gw1, half on gw2, senders on gw1 (client-proc's `delivery`).
 */
import type { Phase } from "../lib/context";
import { seed } from "../lib/setup";
import type { Summary } from "../lib/stats";

/** A room of 100 (half on each gateway), 10 senders at 2 msg/s each, for 10 s; the cluster phase measures the same. */
export const DELIVERY = { room: 100, senders: 10, perSenderRate: 2, durationMs: 10_000 };

/** client-proc's `delivery` answer: latency of receivers on the senders' gateway (single) and on the other (cross). */
export interface DeliveryResult {
  single: Summary;
  cross: Summary;
  sent: number;
  acked: number;
  refused: number;
  deliveries: number;
  wanted: number;
  late: number;
}

/** The room's description in the delivery rows' figures. */
export const deliveryLoad = (where: string) => `room of ${DELIVERY.room} (${where}), ${DELIVERY.senders * DELIVERY.perSenderRate} msg/s`;

export const deliveryPhase: Phase = {
  name: "delivery",
  // gw3 is not used, but it was up in every delivery run so far: on one Redis every gateway receives
  // (and decodes) every broadcast, so it is part of what the figure measured.
  needs: ["gw1", "gw2", "gw3", "clients"],
  async run({ server, clients, database, tokens, details, log, row }) {
    const seeded = await seed(database.url, tokens, "dlv_", DELIVERY.room, 1);
    const res = await clients[0]!.call<DeliveryResult & { rate: number }>(
      "delivery",
      { a: server("gw1").info.url, b: server("gw2").info.url, chatId: seeded.chatIds[0], tokens: seeded.users.map((u) => u.token), ...DELIVERY },
      120_000,
    );
    details.delivery = { ...res, ...DELIVERY };
    log(`delivery: ${JSON.stringify(res)}`);
    const stated = deliveryLoad("half on each gateway");
    row("delivery.p50", { figure: `delivery p50, across 2 gateways vs within one (${stated})`, ours: res.cross.p50, baseline: res.single.p50, unit: "ms", ratio: res.cross.p50 / res.single.p50 });
    row("delivery.p99", {
      figure: `delivery p99, across 2 gateways vs within one (${stated})`,
      ours: res.cross.p99,
      baseline: res.single.p99,
      unit: "ms",
      ratio: res.cross.p99 / res.single.p99,
      valid: res.deliveries === res.wanted,
      note: `${res.deliveries}/${res.wanted} deliveries, ${res.refused} sends refused`,
    });
  },
};
