import { RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../config";
import { createLimiter, refund, take } from "./rate-limit";
import type { RedisClient } from "../redis/clients";

/** What this process last heard from the shared counter about one user's window. */
interface Credit {
  /** Points left at the last answer (the takes sent since are `pending`: this process may rely on the difference). */
  remaining: number;
  /** Takes sent whose answer has not come back yet. */
  pending: number;
  /** When the window ends (ms since the epoch, by this clock). */
  windowEnds: number;
  /** When the last answer came (ms since the epoch). */
  heardAt: number;
}

/** How long an answer may be relied on for the next takes of the same user (then the next take waits again). */
const CREDIT_FRESH_MS = 1_000;
/** A window that ends within this is not relied on (the counter may already have started the next). */
const WINDOW_MARGIN_MS = 100;
/** Every this many answers, users whose window ended are dropped from the memory of credits. */
const PRUNE_EVERY = 1_024;

/**
 * Messages one user may post per window, over HTTP (api) and sockets (gateways) together: one
 * counter per user, in Redis when there is one, so every replica and gateway counts together.
 *
 * On a gateway (`ahead`), every message is counted in the shared counter before its answer goes
 * out, but it does not always wait for the count. When this process's last answer for the user
 * (under a second old, in the same window) left more points than the takes it has sent since, the
 * message goes on at once and its count is made meanwhile: a message then costs no Redis round
 * trip of waiting (on a busy gateway that round trip waits for the event loop, and was a large part
 * of a message's latency: the bench row "stored messages/s"; docs/benchmark-notes.md, "Stored
 * messages"). One
 * process alone never lets more through than the limit. Two gateways posting for the same user at
 * once, each relying on its own last answer, may let through more than the limit: what one sends
 * before the answer to its first take after the other used up the window comes back (its
 * messages in flight then, at most 4 per socket, and never more than it had in hand). A take that
 * had to wait, or a refusal, is as before.
 */
export class MessageLimit {
  private readonly limiter;
  private readonly points: number;
  private readonly credits = new Map<string, Credit>();
  private answers = 0;

  /**
   * `ahead`: rely on the last answer as above (the gateways, where a message's latency is its
   * sender's next send). Without it every take waits for the counter (the api: an HTTP post
   * waits for its database round trips anyway, and requests in parallel are not bounded per user).
   */
  constructor(
    options: Config["messages"],
    redis?: RedisClient,
    private readonly ahead = false,
  ) {
    this.points = options.maxPerUser;
    this.limiter = createLimiter({ keyPrefix: "wsac:post:user", points: options.maxPerUser, duration: options.window, redis, shared: true });
  }

  /** Counts one message of `userId`, or throws 429 `rate_limited` with Retry-After. */
  take(userId: string): Promise<void> {
    const now = Date.now();
    const credit = this.credits.get(userId);
    if (credit && this.ahead && credit.remaining - credit.pending >= 1 && now - credit.heardAt < CREDIT_FRESH_MS && now < credit.windowEnds - WINDOW_MARGIN_MS) {
      credit.pending += 1;
      // Counted meanwhile; an answer over the limit (another process used the points) still counts it.
      this.limiter.consume(userId).then(
        (res) => this.heard(userId, res, -1),
        (err: unknown) => (err instanceof RateLimiterRes ? this.heard(userId, err, -1) : this.credits.delete(userId)),
      );
      return Promise.resolve();
    }
    return take(this.limiter, userId, "Too many messages; slow down").then(
      (res) => {
        if (this.ahead) this.heard(userId, res, 0);
      },
      (err: unknown) => {
        this.credits.delete(userId);
        throw err;
      },
    );
  }

  /** Gives back a point taken for a message that was then refused; never throws. */
  refund(userId: string): Promise<void> {
    return refund(this.limiter, userId);
  }

  private heard(userId: string, res: RateLimiterRes, pendingDelta: number): void {
    const now = Date.now();
    const credit = this.credits.get(userId) ?? { remaining: 0, pending: 0, windowEnds: 0, heardAt: 0 };
    credit.pending = Math.max(0, credit.pending + pendingDelta);
    credit.remaining = Math.max(0, Math.min(this.points, res.remainingPoints));
    credit.windowEnds = now + res.msBeforeNext;
    credit.heardAt = now;
    this.credits.set(userId, credit);
    if ((this.answers += 1) % PRUNE_EVERY === 0) for (const [k, c] of this.credits) if (c.windowEnds <= now && c.pending === 0) this.credits.delete(k);
  }
}
