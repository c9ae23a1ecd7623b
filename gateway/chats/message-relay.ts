import type { ControlEvent } from "../../shared/control/events";
import type { GatewayMetrics } from "../gateway.metrics";
import { rooms } from "../socket/rooms";
import type { GatewayIo } from "../socket/types";
import type { OutageReplay } from "../redis/outage-replay";

/**
 * Messages posted over HTTP reach every gateway as a control event; each delivers them to its own
 * sockets in the chat's room (`io.local`). The outage replay is told, and told back: neither sends one twice.
 */
export class MessageRelay {
  constructor(
    private readonly io: GatewayIo,
    private readonly metrics: GatewayMetrics,
    private readonly replay: OutageReplay | undefined,
  ) {}

  apply(event: Extract<ControlEvent, { type: "message" }>): void {
    // The api's publish made during an outage goes out when its Redis is back, and may come after
    // the replay that already delivered the message from PostgreSQL.
    if (this.replay?.delivered(event.message.id) === false) return;
    this.io.local.to(rooms.chat(event.message.chat_id)).emit("message:new", event.message);
    this.metrics.messages.inc({ source: "http" });
  }
}
