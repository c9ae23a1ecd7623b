import type { Config } from "../../shared/config";
import { createLimiter, type Limiter, refund, take } from "../../shared/limits/rate-limit";
import type { RedisClient } from "../../shared/redis/clients";

/** What one call spends: chats created, and invites sent (one per invited user). */
export interface ChatCost {
  chats?: number;
  invites?: number;
}

/**
 * The bounds of chats and invites (config.chatCreation, config.invites): chats and invites one
 * user may start per window, counted per user in Redis when there is one (every api replica
 * together; in memory without it), plus the per-invitee bounds the chat services apply in the
 * database (pending invites one user may hold, the cooldown after a decline).
 */
export class ChatLimits {
  /** Pending invites one user may hold. */
  readonly maxPendingPerInvitee: number;
  /** Seconds a declined invite keeps its inviter from inviting the same user to the same chat. */
  readonly declineCooldown: number;
  private readonly creations: Limiter;
  private readonly invites: Limiter;

  constructor(config: Pick<Config, "chatCreation" | "invites">, redis?: RedisClient) {
    this.maxPendingPerInvitee = config.invites.maxPendingPerInvitee;
    this.declineCooldown = config.invites.declineCooldown;
    this.creations = createLimiter({ keyPrefix: "wsac:chat-create:user", points: config.chatCreation.maxPerUser, duration: config.chatCreation.window, redis });
    this.invites = createLimiter({ keyPrefix: "wsac:invite:user", points: config.invites.maxPerUser, duration: config.invites.window, redis });
  }

  /**
   * Runs `work` with `cost` counted against `userId`'s limits: 429 `rate_limited` with Retry-After
   * (and no work) when a limit is used up. The points are taken before the work, so parallel calls
   * cannot all pass one check, and given back when the work throws: only accepted work counts.
   */
  async spend<T>(userId: string, cost: ChatCost, work: () => Promise<T>): Promise<T> {
    const chats = cost.chats ?? 0;
    const invites = cost.invites ?? 0;
    if (chats > 0) await take(this.creations, userId, "Too many chats created; try again later", chats);
    try {
      if (invites > 0) await take(this.invites, userId, "Too many invites sent; try again later", invites);
    } catch (err) {
      if (chats > 0) await refund(this.creations, userId, chats);
      throw err;
    }
    try {
      return await work();
    } catch (err) {
      await Promise.all([chats > 0 && refund(this.creations, userId, chats), invites > 0 && refund(this.invites, userId, invites)]);
      throw err;
    }
  }
}
