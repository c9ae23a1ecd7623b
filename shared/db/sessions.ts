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

/**
 * The facts as select items of a raw statement, for the sessions row `alias` (left-joined: all
 * null when there is no such session). Booleans and numbers, so no timestamp is parsed per row.
 * Read them back with `factsOfColumns`.
 */
export const sessionFactsSql = (alias: string) =>
  `${alias}.user_id::text as session_user, ${alias}.revoked_at is not null as revoked, (extract(epoch from ${alias}.expires_at) * 1000)::float8 as expires_ms`;

/** The columns `sessionFactsSql` selects. */
export interface SessionFactsColumns {
  session_user: string | null;
  revoked: boolean | null;
  expires_ms: number | null;
}

/** The facts of a row read with `sessionFactsSql`; undefined when there was no session. */
export const factsOfColumns = (row: SessionFactsColumns | undefined): SessionFacts | undefined =>
  row?.session_user ? { userId: row.session_user, revoked: row.revoked !== false, expiresAt: row.expires_ms ?? 0 } : undefined;

/**
 * `sessionVerdict`'s "live" in SQL, for the sessions row `alias` and, when given, the user
 * `userIdSql` (a column or a placeholder). Only for statements that must act on the rule inside the
 * statement: the insert of a socket's message must not happen once its session is over
 * (shared/db/messages.ts), and the session list and the session cap select live rows (api/sessions).
 * Whatever only judges one session reads its facts and asks `sessionVerdict`;
 * test/integration/shared/db/session-rule.test.ts checks that the two agree. Null for a missing
 * row of a left join (false in a `where`). Both arguments are SQL written in the code, never input.
 * In kysely: `.where(sql.raw<boolean>(liveSessionSql("sessions")))`.
 */
export const liveSessionSql = (alias: string, userIdSql?: string) =>
  `(${userIdSql === undefined ? "" : `${alias}.user_id = ${userIdSql} and `}${alias}.revoked_at is null and ${alias}.expires_at > now())`;

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
