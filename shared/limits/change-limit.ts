import type { Config } from "../config";
import type { RedisClient } from "../redis/clients";
import { createLimiter, type Limiter, take } from "./rate-limit";

/**
 * Edits, deletions, reactions and reports per user (config.changes), over HTTP (api) and sockets
 * (gateways) together: one counter per user, in Redis when there is one, so a client cannot flood
 * a room with changes by spreading them over replicas, gateways or sockets.
 */
export class ChangeLimit {
  private readonly limiter: Limiter;

  constructor(options: Config["changes"], redis?: RedisClient) {
    this.limiter = createLimiter({ keyPrefix: "wsac:change:user", points: options.maxPerUser, duration: options.window, redis, shared: true });
  }

  /** Counts one change of `userId`; 429 `rate_limited` (counting nothing) when the window is used up. */
  async take(userId: string): Promise<void> {
    await take(this.limiter, userId, "Too many edits, deletions, reactions or reports; slow down");
  }
}
