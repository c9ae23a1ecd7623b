import type { RedisClient } from "../redis/clients";

/** The Socket.IO adapter's channel key on Redis: the gateways' adapters and the api's emitter must agree on it. */
export const CHANNEL_PREFIX = "wsac:io";

/** Commands the adapter and the emitter send without awaiting them: their rejections must not become unhandled. */
const FIRE_AND_FORGET = new Set(["publish", "psubscribe", "subscribe", "punsubscribe", "unsubscribe", "spublish", "ssubscribe", "sunsubscribe"]);

/**
 * The adapter and the emitter call `publish(…)` and (un)subscribe without handling the returned
 * promise; with ioredis a failed command then rejects unhandled, which ends a Node process. This
 * view of the client answers those commands with a promise that never rejects, and reports the error.
 */
export function guarded<C extends RedisClient>(client: C, onError: (command: string, err: Error) => void): C {
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
