import type { Db } from "./db";
import { AppError } from "../contract/errors";
import type { AccessClaims } from "../auth/tokens";

/** What the rule needs to know of a session row (however it was read). */
export interface SessionFacts {
  userId: string;
  revoked: boolean;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

export type SessionVerdict = "live" | "revoked" | "expired";

/**
 * The one rule for "may this session act": it exists, belongs to `userId`, is not revoked and has
 * not expired. Used by every protected HTTP call, the handshake check (batched), the gateways'
 * re-check after a Redis cut, refresh, and the socket events that confirm their session.
 */
export function sessionVerdict(facts: SessionFacts | undefined, userId: string, now = Date.now()): SessionVerdict {
  if (!facts || facts.userId !== userId || facts.revoked) return "revoked";
  return facts.expiresAt <= now ? "expired" : "live";
}

/** The contract's error for a verdict that is not "live". */
export function sessionError(verdict: Exclude<SessionVerdict, "live">): AppError {
  return verdict === "revoked" ? new AppError("session_revoked", 401, "The session has been revoked") : new AppError("token_expired", 401, "The session has expired");
}

/** Facts of a `sessions` row as kysely reads it. */
export const factsOf = (row: { user_id: string; revoked_at: Date | null; expires_at: Date }): SessionFacts => ({
  userId: row.user_id,
  revoked: row.revoked_at !== null,
  expiresAt: row.expires_at.getTime(),
});

export interface ActiveSession {
  id: string;
  userId: string;
  expiresAt: Date;
  lastSeenAt: Date;
}

/**
 * The check every protected HTTP call makes after the signature. It reads PostgreSQL each time,
 * so a revocation is seen by the next request on any replica (no cache window). Throws AppError
 * `session_revoked` or `token_expired`.
 */
export async function requireActiveSession(db: Db, claims: AccessClaims): Promise<ActiveSession> {
  const row = await db
    .selectFrom("sessions")
    .select(["id", "user_id", "expires_at", "revoked_at", "last_seen_at"])
    .where("id", "=", claims.sid)
    .executeTakeFirst();
  const verdict = sessionVerdict(row && factsOf(row), claims.sub);
  if (verdict !== "live") throw sessionError(verdict);
  const live = row!;
  return { id: live.id, userId: live.user_id, expiresAt: live.expires_at, lastSeenAt: live.last_seen_at };
}
