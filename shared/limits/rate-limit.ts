import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../contract/errors";
import type { RedisClient } from "../redis/clients";

export type Limiter = RateLimiterAbstract;

/**
 * A fixed-window counter of `points` per `duration` seconds. With Redis every replica counts
 * together (each take is one atomic script); while Redis is unreachable each process falls back
 * to its own memory (the insurance limiter) rather than letting calls through uncounted or failing them.
 */
export function createLimiter(options: {
  keyPrefix: string;
  points: number;
  duration: number;
  redis?: RedisClient | undefined;
  /** Without Redis, count with every other limiter of this process made with the same name and bounds (see processCounter). */
  shared?: boolean;
}): Limiter {
  const base = { keyPrefix: options.keyPrefix, points: options.points, duration: options.duration };
  if (!options.redis) return options.shared ? processCounter(base) : new RateLimiterMemory(base);
  return new RateLimiterRedis({ ...base, storeClient: options.redis, insuranceLimiter: new RateLimiterMemory(base) });
}

/**
 * Without Redis, one counter per limit for the whole process, for the per-user limits the api and
 * the gateway share (posting, changes): npm start's api and gateway live in one process and must
 * count a user's HTTP calls and socket events together, as Redis does for a cluster.
 */
const processCounters = new Map<string, RateLimiterMemory>();
function processCounter(base: { keyPrefix: string; points: number; duration: number }): RateLimiterMemory {
  const name = `${base.keyPrefix} ${base.points} ${base.duration}`;
  let counter = processCounters.get(name);
  if (!counter) processCounters.set(name, (counter = new RateLimiterMemory(base)));
  return counter;
}

/**
 * Takes `points` from `key` atomically. Resolves when they were taken (with what is left); throws 429 `rate_limited`
 * with Retry-After when the window is used up (a refused take counts nothing).
 */
export async function take(limiter: Limiter, key: string, detail: string, points = 1): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key, points);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    // The counter went past the limit: give the point back so refusals do not push the window out.
    await limiter.reward(key, points).catch(() => undefined);
    throw new AppError("rate_limited", 429, detail, {}, Math.max(1, Math.ceil(err.msBeforeNext / 1000)));
  }
}

/** Gives points back (a login that succeeded, a call that could not be served); never throws. */
export async function refund(limiter: Limiter, key: string, points = 1): Promise<void> {
  await limiter.reward(key, points).catch(() => undefined);
}
