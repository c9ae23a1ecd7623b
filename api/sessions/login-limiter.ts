import type { Config } from "../../shared/config";
import { createLimiter, refund, take } from "../../shared/rate-limit";
import type { RedisClient } from "../../shared/redis";

/** The account a login attempt counts against: the user when it exists, else the name typed. */
export type AccountKey = { userId: string } | { unknownName: string };

const accountKey = (a: AccountKey) => ("userId" in a ? `u:${a.userId}` : `n:${a.unknownName.toLowerCase().slice(0, 254)}`);

/**
 * Password guesses per account and per client address over a window. A point is taken before the
 * password is checked (atomically, so of a burst of parallel guesses no more than the limit are
 * checked) and given back when the password was right: only failures stay counted. An account is
 * counted by its user id, whether the username or the email was typed; an unknown name has a
 * counter of its own, so it is limited alike.
 */
export class LoginLimiter {
  private readonly byAccount;
  private readonly byIp;

  constructor(options: Config["login"], redis?: RedisClient) {
    this.byAccount = createLimiter({ keyPrefix: "wsac:login:account", points: options.maxFailuresPerAccount, duration: options.failureWindow, redis });
    this.byIp = createLimiter({ keyPrefix: "wsac:login:ip", points: options.maxFailuresPerIp, duration: options.failureWindow, redis });
  }

  /** Takes one point from the account and one from the address, or throws 429 `rate_limited` (taking neither). */
  async take(account: AccountKey, ip: string): Promise<void> {
    const key = accountKey(account);
    await take(this.byAccount, key, "Too many failed logins; try again later");
    try {
      await take(this.byIp, ip, "Too many failed logins; try again later");
    } catch (err) {
      await refund(this.byAccount, key);
      throw err;
    }
  }

  /** The password was right (or could not be checked): the points taken by `take` go back. */
  async refund(account: AccountKey, ip: string): Promise<void> {
    await Promise.all([refund(this.byAccount, accountKey(account)), refund(this.byIp, ip)]);
  }
}
