import { Counter, Gauge, type Registry } from "prom-client";

export type LinkName = "bus" | "adapter_pub" | "adapter_sub";

/** The gateway's own figures, registered on the given registry (names prefixed `gateway_`). */
export function gatewayMetrics(registry: Registry, links: () => Partial<Record<LinkName, boolean>>) {
  const registers = [registry];
  return {
    connected: new Gauge({ name: "gateway_connected_sockets", help: "Sockets connected to this gateway", registers }),
    handshakes: new Counter({ name: "gateway_handshakes_total", help: "Handshakes by result (ok, the refusal code, busy: refused unavailable past HANDSHAKE_MAX_PENDING, or lagging: a new transport refused while the event loop lagged past HANDSHAKE_MAX_LAG_MS)", labelNames: ["result"] as const, registers }),
    messages: new Counter({
      name: "gateway_messages_total",
      help: "Messages this gateway stored from its sockets (source socket)",
      labelNames: ["source"] as const,
      registers,
    }),
    events: new Counter({ name: "gateway_events_total", help: "Client events by name and answer code", labelNames: ["event", "result"] as const, registers }),
    revocationsApplied: new Counter({ name: "gateway_revocations_applied_total", help: "Session revocations applied to this gateway's sockets", registers }),
    sessionsEnded: new Counter({ name: "gateway_sessions_ended_total", help: "Sockets ended by session:ended, by reason", labelNames: ["reason"] as const, registers }),
    slowConsumers: new Counter({
      name: "gateway_slow_consumers_total",
      help: "Sockets disconnected because more than SOCKET_MAX_BUFFERED_BYTES waited to be sent to them",
      registers,
    }),
    eventFloods: new Counter({
      name: "gateway_event_floods_total",
      help: "Sockets disconnected because they kept sending events after rate_limited answers",
      registers,
    }),
    publishFailures: new Counter({ name: "gateway_redis_publish_failures_total", help: "Broadcasts that reached only local sockets because Redis was unreachable", registers }),
    redisLink: new Gauge({
      name: "gateway_redis_link_up",
      help: "1 while the Redis connection is usable (bus: control-bus subscription; adapter_pub/adapter_sub: the adapter's clients)",
      labelNames: ["link"] as const,
      registers,
      collect() {
        for (const [link, up] of Object.entries(links())) this.set({ link }, up ? 1 : 0);
      },
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
