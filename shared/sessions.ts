import type { Db } from "./db/db";
import { AppError } from "./errors";
import type { AccessClaims } from "./tokens";

export interface ActiveSession {
  id: string;
  userId: string;
  expiresAt: Date;
  lastSeenAt: Date;
}

/**
 * The one check every protected call and every handshake makes after the signature: the session
 * exists, belongs to the token's user, is not revoked and has not expired. It reads PostgreSQL
 * each time, so a revocation is seen by the next request on any replica (no cache window).
 * Throws AppError `session_revoked` or `token_expired`.
 */
export async function requireActiveSession(db: Db, claims: AccessClaims): Promise<ActiveSession> {
  const row = await db
    .selectFrom("sessions")
    .select(["id", "user_id", "expires_at", "revoked_at", "last_seen_at"])
    .where("id", "=", claims.sid)
    .executeTakeFirst();
  if (!row || row.user_id !== claims.sub || row.revoked_at) {
    throw new AppError("session_revoked", 401, "The session has been revoked");
  }
  if (row.expires_at.getTime() <= Date.now()) throw new AppError("token_expired", 401, "The session has expired");
  return { id: row.id, userId: row.user_id, expiresAt: row.expires_at, lastSeenAt: row.last_seen_at };
}
