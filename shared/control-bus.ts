import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { MessageView } from "./contracts";
import { createRedis, type Redis } from "./redis";

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

export interface ControlBus {
  /** Resolves once the event is handed to the transport; never rejects (a lost event is logged). */
  publish(event: ControlEvent): Promise<void>;
  subscribe(handler: ControlHandler): () => void;
  close(): Promise<void>;
}

export const CONTROL_CHANNEL = "wsac:control";

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
  };
}

/** Many processes: Redis pub/sub on one channel, one subscriber connection per process. */
export function createRedisBus(options: { url: string; logger: Logger; name: string }): ControlBus {
  const log = options.logger.child({ module: "control-bus" });
  const pub: Redis = createRedis({ url: options.url, logger: options.logger, name: `${options.name}:bus-pub` });
  let sub: Redis | undefined;
  const handlers = new Set<ControlHandler>();

  const ensureSubscriber = () => {
    if (sub) return;
    sub = createRedis({ url: options.url, logger: options.logger, name: `${options.name}:bus-sub`, offlineQueue: true });
    // ioredis re-subscribes by itself after a reconnect (autoResubscribe).
    void sub.subscribe(CONTROL_CHANNEL).catch((err: Error) => log.warn({ err: err.message }, "control bus subscribe failed"));
    sub.on("message", (channel: string, raw: string) => {
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

  return {
    async publish(event) {
      try {
        await pub.publish(CONTROL_CHANNEL, JSON.stringify(event));
      } catch (err) {
        log.warn({ err: (err as Error).message, type: event.type }, "control event not published (redis unavailable)");
      }
    },
    subscribe(handler) {
      ensureSubscriber();
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      handlers.clear();
      await Promise.allSettled([pub.quit(), sub?.quit()]);
    },
  };
}

/** The subscriber connection's state, for readiness and metrics. */
export type BusLink = "up" | "down";
