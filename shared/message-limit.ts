import type { Config } from "./config";
import { createLimiter, refund, take } from "./rate-limit";
import type { RedisClient } from "./redis";

/**
 * Messages one user may post per window, over HTTP (api) and sockets (gateways) together: one
 * counter per user, in Redis when there is one, so every replica and gateway counts together.
 */
export class MessageLimit {
  private readonly limiter;

  constructor(options: Config["messages"], redis?: RedisClient) {
    this.limiter = createLimiter({ keyPrefix: "wsac:post:user", points: options.maxPerUser, duration: options.window, redis });
  }

  /** Counts one message of `userId`, or throws 429 `rate_limited` with Retry-After. */
  take(userId: string): Promise<void> {
    return take(this.limiter, userId, "Too many messages; slow down");
  }

  /** Gives back a point taken for a message that was then refused; never throws. */
  refund(userId: string): Promise<void> {
    return refund(this.limiter, userId);
  }
}
