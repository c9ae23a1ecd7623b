import { createAdapter } from "@socket.io/redis-adapter";
import type { Logger } from "pino";
import type { Redis } from "../../shared/redis";

/** The adapter's two connections, made and closed by the composition root. */
export interface AdapterClients {
  /** Publishes broadcasts; no offline queue, so a broadcast during an outage fails fast. */
  pub: Redis;
  /** A dedicated subscriber connection, with an offline queue so its subscriptions wait for the first connection. */
  sub: Redis;
}

/**
 * Commands the adapter sends without awaiting them: their rejections must not become unhandled.
 * The sharded ones are listed for a switch to `createShardedAdapter` (Redis 7 / Cluster).
 */
const FIRE_AND_FORGET = new Set(["publish", "psubscribe", "subscribe", "punsubscribe", "unsubscribe", "spublish", "ssubscribe", "sunsubscribe"]);

/**
 * The adapter calls `pubClient.publish(…)` and (un)subscribe without handling the returned
 * promise; with ioredis a failed command then rejects unhandled, which ends a Node process. This
 * view of the client answers those commands with a promise that never rejects.
 */
function guarded(client: Redis, onError: (command: string, err: Error) => void): Redis {
  return new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      if (typeof prop === "string" && FIRE_AND_FORGET.has(prop)) {
        return (...args: unknown[]) =>
          (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((err: Error) => {
            onError(prop, err);
            return 0;
          });
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

export interface AdapterWiring {
  adapter: ReturnType<typeof createAdapter>;
  pub: Redis;
  sub: Redis;
  /**
   * Told when the subscriber drops (false) and when it is back and re-subscribed (true): ioredis
   * re-sends the subscriptions right after "ready", so a PING answered after them confirms them.
   */
  onSubscriberLink(handler: (up: boolean) => void): void;
}

/**
 * `@socket.io/redis-adapter` on two ioredis clients. The publisher has no offline queue: while
 * Redis is down a broadcast reaches this gateway's sockets at once and fails fast for the others
 * (they read what they missed from PostgreSQL when they are back: OutageReplay). The subscriber
 * queues its subscriptions until the first connection, and ioredis re-subscribes by itself after
 * every reconnect.
 */
export function wireRedisAdapter(options: { clients: AdapterClients; logger: Logger; onPublishFailed: () => void }): AdapterWiring {
  const log = options.logger.child({ module: "gateway:adapter" });
  const { pub, sub } = options.clients;
  let warned = false;
  pub.on("ready", () => {
    warned = false;
  });
  const onError = (command: string, err: Error) => {
    if (command === "publish") options.onPublishFailed();
    // One line per outage, not one per message.
    if (!warned) log.warn({ command, err: err.message }, "redis adapter command failed; broadcasts are local only until Redis is back");
    warned = true;
  };
  const adapter = createAdapter(guarded(pub, onError), guarded(sub, onError), { key: "wsac:io" });
  return {
    adapter,
    pub,
    sub,
    onSubscriberLink(handler) {
      sub.on("close", () => handler(false));
      sub.on("ready", () => {
        setImmediate(() => {
          sub.ping().then(
            () => handler(true),
            () => undefined, // dropped again: the next "ready" reports
          );
        });
      });
    },
  };
}
