import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { Redis, RedisClient } from "../redis/clients";
import { type ControlEvent, controlEvent, REVOCATION_CHUNK } from "./events";

export type ControlHandler = (event: ControlEvent) => void;

/** The subscriber connection's state, for readiness and metrics. */
export type BusLink = "up" | "down";

/**
 * How the api tells every gateway about revocations, removals and its key ids (messages go through
 * the adapter: shared/delivery/publish.ts). The
 * api publishes after the database change has committed; each gateway applies an event to its own
 * sockets only (`io.local`), which works the same with the classic and the sharded Redis adapter.
 */
export interface ControlBus {
  /** Resolves once the event is handed to the transport; never rejects (a lost event is held, then logged). */
  publish(event: ControlEvent): Promise<void>;
  subscribe(handler: ControlHandler): () => void;
  /** The subscriber link now ("up" once subscribed; the memory bus is always up). */
  link(): BusLink;
  /**
   * Told each time the subscriber link goes down or comes back. "up" is reported only once Redis
   * has confirmed the subscription, so a check made after it misses no later event; events
   * published while the link was down are lost, and subscribers re-check what they hold.
   */
  onLink(handler: (link: BusLink) => void): () => void;
  /** Drops handlers and pending events; the Redis clients belong to the caller. */
  close(): Promise<void>;
}

export const CONTROL_CHANNEL = "wsac:control";
/** Held events past this age are dropped: gateways re-check their sockets against PostgreSQL when their own link returns. */
const OUTBOX_MAX_AGE_MS = 10 * 60_000;
const OUTBOX_MAX = 10_000;

/**
 * Tells every gateway that these sessions of `userId` are revoked, in events of at most
 * REVOCATION_CHUNK ids each ("log out everywhere" of a user with thousands of sessions included).
 */
export async function publishRevocation(bus: ControlBus, userId: string, sessionIds: readonly string[]): Promise<void> {
  for (let i = 0; i < sessionIds.length; i += REVOCATION_CHUNK) {
    await bus.publish({ type: "session_revoked", user_id: userId, session_ids: sessionIds.slice(i, i + REVOCATION_CHUNK), reason: "revoked" });
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** One process: api and gateway share this emitter (npm start without Redis, tests). */
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
    link: () => "up",
    onLink: () => () => undefined,
    async close() {
      emitter.removeAllListeners();
    },
  };
}

/**
 * Many processes: Redis pub/sub on one channel. The api passes a `publisher` (its command client),
 * a gateway a dedicated `subscriber` connection (with an offline queue, so its SUBSCRIBE waits for
 * the first connection); a process may pass both. Every event that arrives is parsed with the one
 * `controlEvent` schema; a malformed one is logged and dropped.
 */
export function createRedisBus(options: { publisher?: RedisClient; subscriber?: Redis; logger: Logger }): ControlBus {
  const log = options.logger.child({ module: "control-bus" });
  const { publisher, subscriber } = options;
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

  // Subscribe on every (re)connection and wait for Redis to confirm before reporting "up"
  // (ioredis's own autoResubscribe does not say when it is done; a repeated SUBSCRIBE is harmless).
  const subscribe = () =>
    subscriber?.subscribe(CONTROL_CHANNEL).then(
      () => {
        if (subscriber.status === "ready") setLink("up");
      },
      (err: Error) => log.warn({ err: err.message }, "control bus subscribe failed"),
    );
  const down = () => setLink("down");
  const onMessage = (channel: string, raw: string) => {
    if (channel !== CONTROL_CHANNEL) return;
    const parsed = controlEvent.safeParse(parseJson(raw));
    if (!parsed.success) {
      log.warn("ignored a malformed control event");
      return;
    }
    for (const h of handlers) h(parsed.data);
  };
  const listeners = { ready: subscribe, close: down, end: down, message: onMessage } as const;
  if (subscriber) {
    for (const [event, fn] of Object.entries(listeners)) subscriber.on(event, fn);
    if (subscriber.status === "ready") void subscribe();
  }

  // Events that could not be published wait here (bounded) and go out when this process's
  // Redis link is back: a gateway whose own link never dropped would otherwise never hear of them.
  const outbox: { raw: string; at: number }[] = [];
  let flushing = false;
  let retry: NodeJS.Timeout | undefined;
  const flush = async () => {
    if (flushing || !publisher) return;
    flushing = true;
    try {
      while (outbox.length > 0 && publisher.status === "ready") {
        const next = outbox[0]!;
        if (Date.now() - next.at <= OUTBOX_MAX_AGE_MS) await publisher.publish(CONTROL_CHANNEL, next.raw);
        outbox.shift();
      }
    } catch {
      // Still unreachable: tried again on "ready", or in a second (a cluster client stays "ready"
      // while one node fails over, and tells no "ready" when it is back).
    } finally {
      flushing = false;
      if (outbox.length > 0 && !retry) {
        retry = setTimeout(() => {
          retry = undefined;
          void flush();
        }, 1_000);
        retry.unref();
      }
    }
  };
  const onPublisherReady = () => {
    if (outbox.length === 0) return;
    log.info({ pending: outbox.length }, "publishing control events held during the Redis outage");
    void flush();
  };
  publisher?.on("ready", onPublisherReady);

  return {
    async publish(event) {
      if (!publisher) throw new Error("this control bus has no publisher");
      const raw = JSON.stringify(event);
      try {
        if (outbox.length > 0) throw new Error("earlier events are still waiting");
        await publisher.publish(CONTROL_CHANNEL, raw);
      } catch (err) {
        if (outbox.length >= OUTBOX_MAX) outbox.shift();
        outbox.push({ raw, at: Date.now() });
        log.warn({ err: (err as Error).message, type: event.type, pending: outbox.length }, "control event held until Redis is back");
        void flush();
      }
    },
    subscribe(handler) {
      if (!subscriber) throw new Error("this control bus has no subscriber");
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    link: () => (subscriber ? link : "up"),
    onLink(handler) {
      linkHandlers.add(handler);
      return () => linkHandlers.delete(handler);
    },
    async close() {
      handlers.clear();
      linkHandlers.clear();
      publisher?.off("ready", onPublisherReady);
      clearTimeout(retry);
      if (subscriber) for (const [event, fn] of Object.entries(listeners)) subscriber.off(event, fn);
      outbox.length = 0;
    },
  };
}

/** A user's read position moved: its own sockets outside the chat's room are told too (the room hears it through the outlet). */
export function publishReadNotice(bus: ControlBus, read: { chat_id: string; user_id: string; message_id: string }): Promise<void> {
  return publishUserNotice(bus, read.user_id, { event: "message:read", payload: read });
}

/** Tells every socket of a user, on every gateway, of a new invite or a new chat (after the change committed). */
export function publishUserNotice(bus: ControlBus, userId: string, notice: Extract<ControlEvent, { type: "user_notice" }>["notice"]): Promise<void> {
  return bus.publish({ type: "user_notice", user_id: userId, notice });
}
