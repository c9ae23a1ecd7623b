import { Redis } from "ioredis";
import type { Logger } from "pino";

export type { Redis };

export interface CreateRedisOptions {
  url: string;
  logger: Logger;
  /** Shown in logs and in `CLIENT LIST`. */
  name: string;
  /**
   * Queue commands while disconnected. Off by default: a command during an outage fails at once,
   * so callers degrade (memory rate limits, local-only delivery) instead of waiting.
   */
  offlineQueue?: boolean;
}

/**
 * An ioredis client that reconnects forever with a capped backoff and always has an `error`
 * listener (without one, a connection error crashes the process).
 */
export function createRedis({ url, logger, name, offlineQueue = false }: CreateRedisOptions): Redis {
  const log = logger.child({ module: "redis", client: name });
  const client = new Redis(url, {
    connectionName: name,
    enableOfflineQueue: offlineQueue,
    maxRetriesPerRequest: offlineQueue ? null : 1,
    connectTimeout: 3_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000),
  });
  let down = false;
  client.on("error", (err: Error) => {
    if (!down) log.warn({ err: err.message }, "redis error");
    down = true;
  });
  client.on("ready", () => {
    if (down) log.info("redis connection restored");
    down = false;
  });
  return client;
}

/** True when Redis answers PING within a second. */
export async function pingRedis(client: Redis): Promise<boolean> {
  if (client.status !== "ready") return false;
  try {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("ping timeout")), 1_000);
    });
    await Promise.race([client.ping(), timeout]).finally(() => clearTimeout(timer));
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends a client without hanging: QUIT when connected (bounded to a second), else a plain
 * disconnect, which also stops the reconnect loop (a QUIT sent during an outage would be queued
 * forever, or rejected while the client keeps reconnecting).
 */
export async function quitRedis(client: Redis): Promise<void> {
  if (client.status === "ready") {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1_000);
    });
    await Promise.race([client.quit().catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }
  client.disconnect();
}
