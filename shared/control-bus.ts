import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { MessageView } from "./contracts";
import { createRedis, quitRedis, type Redis } from "./redis";

/**
 * What the api tells every gateway. The api publishes after the database change has committed;
 * each gateway applies the event to its own sockets only (`io.local`), which works the same with
 * the classic and the sharded Redis adapter.
 */
export type ControlEvent =
  | { type: "session_revoked"; user_id: string; session_ids: string[]; reason: "revoked" }
  | { type: "member_removed"; chat_id: string; user_id: string }
  | { type: "message"; message: MessageView };

export type ControlHandler = (event: ControlEvent) => void;

/** The subscriber connection's state, for readiness and metrics. */
export type BusLink = "up" | "down";

export interface ControlBus {
  /** Resolves once the event is handed to the transport; never rejects (a lost event is logged). */
  publish(event: ControlEvent): Promise<void>;
  subscribe(handler: ControlHandler): () => void;
  close(): Promise<void>;
  /** The subscriber link now ("up" once subscribed; the memory bus is always up). */
  link?(): BusLink;
  /**
   * Told each time the subscriber link goes down or comes back. "up" is reported only once Redis
   * has confirmed the subscription, so a check made after it misses no later event; events
   * published while the link was down are lost, and subscribers re-check what they hold.
   */
  onLink?(handler: (link: BusLink) => void): () => void;
}

export const CONTROL_CHANNEL = "wsac:control";
/** Session ids per `session_revoked` event: small enough for every gateway to accept and parse quickly. */
export const REVOCATION_CHUNK = 1_000;

/**
 * Tells every gateway that these sessions of `userId` are revoked, in events of at most
 * REVOCATION_CHUNK ids each ("log out everywhere" of a user with thousands of sessions included).
 */
export async function publishRevocation(bus: ControlBus, userId: string, sessionIds: readonly string[]): Promise<void> {
  for (let i = 0; i < sessionIds.length; i += REVOCATION_CHUNK) {
    await bus.publish({ type: "session_revoked", user_id: userId, session_ids: sessionIds.slice(i, i + REVOCATION_CHUNK), reason: "revoked" });
  }
}
/** Held events past this age are dropped: gateways re-check their sockets against PostgreSQL when their own link returns. */
const OUTBOX_MAX_AGE_MS = 10 * 60_000;
const OUTBOX_MAX = 10_000;

/** One process: api and gateway share this emitter (npm start, tests). */
export function createMemoryBus(): ControlBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(event) {
      emitter.emit("event", event);
    },
    subscribe(handler) {
      emitter.on("event", handler);
      return () => emitter.off("event", handler);
    },
    async close() {
      emitter.removeAllListeners();
    },
    link: () => "up",
    onLink: () => () => undefined,
  };
}

/** Many processes: Redis pub/sub on one channel, one subscriber connection per process. */
export function createRedisBus(options: { url: string; logger: Logger; name: string }): ControlBus {
  const log = options.logger.child({ module: "control-bus" });
  const pub: Redis = createRedis({ url: options.url, logger: options.logger, name: `${options.name}:bus-pub` });
  let sub: Redis | undefined;
  const handlers = new Set<ControlHandler>();
  const linkHandlers = new Set<(link: BusLink) => void>();
  let link: BusLink = "down";
  const setLink = (next: BusLink) => {
    if (link === next) return;
    link = next;
    for (const h of linkHandlers) {
      try {
        h(next);
      } catch (err) {
        log.error({ err: (err as Error).message }, "control bus link handler failed");
      }
    }
  };

  const ensureSubscriber = () => {
    if (sub) return;
    const client = createRedis({ url: options.url, logger: options.logger, name: `${options.name}:bus-sub`, offlineQueue: true });
    sub = client;
    // Subscribe on every (re)connection and wait for Redis to confirm before reporting "up"
    // (ioredis's own autoResubscribe does not say when it is done; a repeated SUBSCRIBE is harmless).
    client.on("ready", () => {
      client.subscribe(CONTROL_CHANNEL).then(
        () => {
          if (client.status === "ready") setLink("up");
        },
        (err: Error) => log.warn({ err: err.message }, "control bus subscribe failed"),
      );
    });
    client.on("close", () => setLink("down"));
    client.on("end", () => setLink("down"));
    client.on("message", (channel: string, raw: string) => {
      if (channel !== CONTROL_CHANNEL) return;
      let event: ControlEvent;
      try {
        event = JSON.parse(raw) as ControlEvent;
      } catch {
        log.warn("ignored a malformed control event");
        return;
      }
      for (const h of handlers) h(event);
    });
  };

  // Events that could not be published wait here (bounded) and go out when this process's
  // Redis link is back: a gateway whose own link never dropped would otherwise never hear of them.
  const outbox: { raw: string; at: number }[] = [];
  let flushing = false;
  const flush = async () => {
    if (flushing) return;
    flushing = true;
    try {
      while (outbox.length > 0 && pub.status === "ready") {
        const next = outbox[0]!;
        if (Date.now() - next.at <= OUTBOX_MAX_AGE_MS) await pub.publish(CONTROL_CHANNEL, next.raw);
        outbox.shift();
      }
    } catch {
      // Still unreachable: the next "ready" tries again.
    } finally {
      flushing = false;
    }
  };
  pub.on("ready", () => {
    if (outbox.length > 0) {
      log.info({ pending: outbox.length }, "publishing control events held during the Redis outage");
      void flush();
    }
  });

  return {
    async publish(event) {
      const raw = JSON.stringify(event);
      try {
        if (outbox.length > 0) throw new Error("earlier events are still waiting");
        await pub.publish(CONTROL_CHANNEL, raw);
      } catch (err) {
        if (outbox.length >= OUTBOX_MAX) outbox.shift();
        outbox.push({ raw, at: Date.now() });
        log.warn({ err: (err as Error).message, type: event.type, pending: outbox.length }, "control event held until Redis is back");
        void flush();
      }
    },
    subscribe(handler) {
      ensureSubscriber();
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      linkHandlers.clear();
      await Promise.allSettled([quitRedis(pub), sub ? quitRedis(sub) : undefined]);
    },
    link: () => link,
    onLink(handler) {
      linkHandlers.add(handler);
      return () => linkHandlers.delete(handler);
    },
  };
}
