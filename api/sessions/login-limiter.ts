import { RateLimiterRes } from "rate-limiter-flexible";
import type { Config } from "../../shared/config";
import { createLimiter, refund, take } from "../../shared/limits/rate-limit";
import type { RedisClient } from "../../shared/redis/clients";

/**
 * Whose failures a password check counts against (the smart lockout):
 * - a device that logged in to the account before (its signed device value): its own allowance;
 * - a session checking its user's password (PUT /me/password): the session's own allowance;
 * - anyone else: the account's allowance for strangers, one per account whether the username or
 *   the email was typed; a name that matches no account has one of its own, limited alike.
 * So strangers guessing at an account use up the strangers' allowance and never the owner's.
 */
export type Allowance =
  | { kind: "device"; userId: string; deviceId: string }
  | { kind: "session"; sessionId: string }
  | { kind: "account"; userId: string }
  | { kind: "unknown"; name: string };

const allowanceKey = (a: Allowance) => {
  switch (a.kind) {
    case "device":
      return `d:${a.userId}:${a.deviceId}`;
    case "session":
      return `s:${a.sessionId}`;
    case "account":
      return `u:${a.userId}`;
    case "unknown":
      return `n:${a.name.toLowerCase().slice(0, 254)}`;
  }
};

/** A check that may go ahead: what to give back if the password was right, or could not be checked. */
export interface Ticket {
  readonly allowance: string;
  readonly ip: string;
  readonly attempt: string;
  /** True when the allowance had no failure left: answer as a wrong password, without checking it. */
  readonly locked: boolean;
}

const TOO_MANY = "Too many login attempts; try again later";

/**
 * Password checks over a window (LOGIN_FAILURE_WINDOW), counted before each check so that of a
 * burst of parallel guesses no more than a limit are checked, across every replica (Redis):
 * - failures per client address (LOGIN_MAX_FAILURES_PER_IP): over it, 429 `rate_limited`; it
 *   says nothing about any account;
 * - attempts per typed name (LOGIN_MAX_ATTEMPTS_PER_ACCOUNT), successes included: over it, 429.
 *   This bounds the argon2 work a client that knows the password can cause. Counted per name
 *   as typed, not per account, so that it cannot tell which email belongs to which username;
 * - failures per allowance (LOGIN_MAX_FAILURES_PER_ACCOUNT): over it, the check is `locked`:
 *   answered exactly as a wrong password (401 `invalid_credentials`, the same body, after the same
 *   argon2 work), so a lockout reveals neither the account nor the lock.
 */
export class LoginLimiter {
  private readonly byAllowance;
  private readonly byIp;
  private readonly byAttempt;

  constructor(options: Config["login"], redis?: RedisClient) {
    const duration = options.failureWindow;
    this.byAllowance = createLimiter({ keyPrefix: "wsac:login:allowance", points: options.maxFailuresPerAccount, duration, redis });
    this.byIp = createLimiter({ keyPrefix: "wsac:login:ip", points: options.maxFailuresPerIp, duration, redis });
    this.byAttempt = createLimiter({ keyPrefix: "wsac:login:attempts", points: options.maxAttemptsPerAccount, duration, redis });
  }

  /** Takes the points of one check, or throws 429 (taking none). `typed`: the name as the client typed it. */
  async begin(allowance: Allowance, ip: string, typed: string): Promise<Ticket> {
    const attempt = typed.toLowerCase().slice(0, 254);
    await take(this.byIp, ip, TOO_MANY);
    try {
      await take(this.byAttempt, attempt, TOO_MANY);
    } catch (err) {
      await refund(this.byIp, ip);
      throw err;
    }
    const key = allowanceKey(allowance);
    let locked = false;
    try {
      await this.byAllowance.consume(key);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        await Promise.all([refund(this.byIp, ip), refund(this.byAttempt, attempt)]);
        throw err;
      }
      // Refused takes count nothing: the window is not pushed out by guesses made while locked.
      await refund(this.byAllowance, key);
      locked = true;
    }
    return { allowance: key, ip, attempt, locked };
  }

  /** The password was right: only failures stay counted (the attempt does stay). */
  async succeeded(ticket: Ticket): Promise<void> {
    await Promise.all([refund(this.byAllowance, ticket.allowance), refund(this.byIp, ticket.ip)]);
  }

  /** The check could not be made (the argon2 queue was full): nothing of it counts. */
  async notChecked(ticket: Ticket): Promise<void> {
    await Promise.all([ticket.locked ? undefined : refund(this.byAllowance, ticket.allowance), refund(this.byIp, ticket.ip), refund(this.byAttempt, ticket.attempt)]);
  }
}
