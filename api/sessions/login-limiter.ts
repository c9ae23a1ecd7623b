import { RateLimiterMemory, RateLimiterRedis, type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../../shared/config";
import { AppError } from "../../shared/errors";
import type { Redis } from "../../shared/redis";

/**
 * Counts failed logins per account and per client address over a window. With Redis every api
 * replica counts together; while Redis is unreachable each replica falls back to its own memory
 * (the insurance limiter) rather than letting logins through uncounted or failing them.
 */
export class LoginLimiter {
  private readonly byAccount: RateLimiterAbstract;
  private readonly byIp: RateLimiterAbstract;

  constructor(options: Config["login"], redis?: Redis) {
    const make = (keyPrefix: string, points: number): RateLimiterAbstract => {
      const base = { keyPrefix, points, duration: options.failureWindow };
      if (!redis) return new RateLimiterMemory(base);
      return new RateLimiterRedis({ ...base, storeClient: redis, insuranceLimiter: new RateLimiterMemory(base) });
    };
    this.byAccount = make("wsac:login:account", options.maxFailuresPerAccount);
    this.byIp = make("wsac:login:ip", options.maxFailuresPerIp);
  }

  private static key(account: string): string {
    return account.toLowerCase().slice(0, 254);
  }

  /** Throws 429 `rate_limited` with Retry-After while either counter is exhausted. */
  async check(account: string, ip: string): Promise<void> {
    const [a, i] = await Promise.all([this.byAccount.get(LoginLimiter.key(account)), this.byIp.get(ip)]);
    const blocked = [
      [a, this.byAccount.points],
      [i, this.byIp.points],
    ].filter(([res, points]) => res instanceof RateLimiterRes && res.consumedPoints >= (points as number)) as [RateLimiterRes, number][];
    if (blocked.length === 0) return;
    const waitMs = Math.max(...blocked.map(([res]) => res.msBeforeNext));
    throw new AppError("rate_limited", 429, "Too many failed logins; try again later", {}, Math.ceil(waitMs / 1000));
  }

  async failed(account: string, ip: string): Promise<void> {
    // A rejection here only means the counter is now full; check() enforces it on the next try.
    await Promise.allSettled([this.byAccount.consume(LoginLimiter.key(account)), this.byIp.consume(ip)]);
  }

  async succeeded(account: string): Promise<void> {
    await this.byAccount.delete(LoginLimiter.key(account)).catch(() => undefined);
  }
}
