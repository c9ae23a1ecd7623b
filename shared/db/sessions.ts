import type { Db } from "./db";
import { AppError } from "../contract/errors";
import type { AccessClaims } from "../auth/tokens";

/** What the rule needs to know of a session row (however it was read). */
export interface SessionFacts {
  userId: string;
  revoked: boolean;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The user's ban holds now (server API); unknown (undefined) where the statement did not read it. */
  banned?: boolean | undefined;
}

export type SessionVerdict = "live" | "revoked" | "expired" | "banned";

/**
 * The one rule for "may this session act": it exists, belongs to `userId`, its user is not banned,
 * it is not revoked and has not expired. A ban revokes the user's sessions too; "banned" says why. Used by every protected HTTP call, the handshake check (batched), the gateways'
 * re-check after a Redis cut, refresh, and the socket events that confirm their session.
 */
export function sessionVerdict(facts: SessionFacts | undefined, userId: string, now = Date.now()): SessionVerdict {
  if (!facts || facts.userId !== userId) return "revoked";
  if (facts.banned) return "banned";
  if (facts.revoked) return "revoked";
  return facts.expiresAt <= now ? "expired" : "live";
}

/** The contract's error for a verdict that is not "live". */
export function sessionError(verdict: Exclude<SessionVerdict, "live">): AppError {
  if (verdict === "banned") return bannedError();
  return verdict === "revoked" ? new AppError("session_revoked", 401, "The session has been revoked") : new AppError("token_expired", 401, "The session has expired");
}

/** 403 `account_banned`: at login, refresh, new sessions, handshakes and `auth:refresh` while a ban holds. */
export const bannedError = () => new AppError("account_banned", 403, "The account is banned");

/** Whether a user row's ban holds at `now`. */
export const banHolds = (user: { banned_until: Date | null }, now = Date.now()): boolean => user.banned_until !== null && user.banned_until.getTime() > now;

/** The `session:ended` reason a socket is told when its verdict ends it: a ban is a revocation. */
export const endReason = (verdict: Exclude<SessionVerdict, "live">): "revoked" | "expired" => (verdict === "expired" ? "expired" : "revoked");

/** Facts of a `sessions` row as kysely reads it. */
export const factsOf = (row: { user_id: string; revoked_at: Date | null; expires_at: Date; banned_until?: Date | null }): SessionFacts => ({
  userId: row.user_id,
  revoked: row.revoked_at !== null,
  expiresAt: row.expires_at.getTime(),
  banned: row.banned_until === undefined ? undefined : banHolds({ banned_until: row.banned_until }),
});

/**
 * The facts as select items of a raw statement, for the sessions row `alias` (left-joined: all
 * null when there is no such session) and, when the statement joins it, the session's users row
 * `usersAlias` (for the ban). Booleans and numbers, so no timestamp is parsed per row.
 * Read them back with `factsOfColumns`.
 */
export const sessionFactsSql = (alias: string, usersAlias?: string) =>
  `${alias}.user_id::text as session_user, ${alias}.revoked_at is not null as revoked, (extract(epoch from ${alias}.expires_at) * 1000)::float8 as expires_ms` +
  (usersAlias ? `, coalesce(${usersAlias}.banned_until > now(), false) as banned` : "");

/** The columns `sessionFactsSql` selects. */
export interface SessionFactsColumns {
  session_user: string | null;
  revoked: boolean | null;
  expires_ms: number | null;
  /** Only when `sessionFactsSql` was given the users row. */
  banned?: boolean | null;
}

/** The facts of a row read with `sessionFactsSql`; undefined when there was no session. */
export const factsOfColumns = (row: SessionFactsColumns | undefined): SessionFacts | undefined =>
  row?.session_user ? { userId: row.session_user, revoked: row.revoked !== false, expiresAt: row.expires_ms ?? 0, banned: row.banned ?? undefined } : undefined;

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
 * `session_revoked`, `token_expired` or `account_banned`.
 */
export async function requireActiveSession(db: Db, claims: AccessClaims): Promise<ActiveSession> {
  const row = await db
    .selectFrom("sessions")
    .innerJoin("users", "users.id", "sessions.user_id")
    .select(["sessions.id", "sessions.user_id", "sessions.expires_at", "sessions.revoked_at", "sessions.last_seen_at", "users.banned_until"])
    .where("sessions.id", "=", claims.sid)
    .executeTakeFirst();
  const verdict = sessionVerdict(row && factsOf(row), claims.sub);
  if (verdict !== "live") throw sessionError(verdict);
  const live = row!;
  return { id: live.id, userId: live.user_id, expiresAt: live.expires_at, lastSeenAt: live.last_seen_at };
}
