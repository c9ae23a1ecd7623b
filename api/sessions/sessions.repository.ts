import { sql } from "kysely";
import type { Db } from "../../shared/db/db";
import type { SessionRow } from "../../shared/db/schema";
import { liveSessionSql } from "../../shared/db/sessions";
import { emitWebhook, inTransaction, userKey } from "../../shared/webhooks/events";

/**
 * A new session and its first refresh token, created only while the user's session epoch is
 * still `epoch` (the one its password was checked against): a password change or "log out
 * everywhere" that committed meanwhile bumped it, and the login leaves nothing (undefined).
 *
 * The user's row is locked first, so logins of one user on any replica take turns here: the
 * second statement, which revokes the user's oldest active sessions beyond the newest
 * `maxActive - 1` (with the new one, `maxActive` stay; their ids come back in `trimmed`), then
 * sees every session committed before it. In one statement its snapshot would predate the lock
 * wait, and simultaneous logins could pass the cap.
 */
export async function insertSessionWithRefreshToken(
  db: Db,
  s: { user_id: string; user_agent: string | null; ip: string | null; expires_at: Date },
  tokenHash: string,
  maxActive: number,
  epoch: number,
): Promise<(SessionRow & { trimmed: string[] }) | undefined> {
  return db.transaction().execute(async (trx) => {
    const user = await trx.selectFrom("users").select("id").where("id", "=", s.user_id).where("session_epoch", "=", epoch).forUpdate().executeTakeFirst();
    if (!user) return undefined;
    const row = await trx
      .with("s", (qb) => qb.insertInto("sessions").values(s).returningAll())
      .with("r", (qb) =>
        qb
          .insertInto("refresh_tokens")
          .columns(["token_hash", "session_id"])
          .expression((eb) => eb.selectFrom("s").select([eb.val(tokenHash).as("token_hash"), "s.id"])),
      )
      // The statement's snapshot does not hold the new row yet: the older ones are all it sees.
      .with("old", (qb) =>
        qb
          .updateTable("sessions")
          .set({ revoked_at: sql`now()`, revoked_reason: "session_limit" })
          .where("id", "in", (eb) =>
            eb
              .selectFrom("sessions")
              .select("id")
              .where("user_id", "=", s.user_id)
              .where(sql.raw<boolean>(liveSessionSql("sessions")))
              .orderBy("created_at", "desc")
              .orderBy("id", "desc")
              .offset(maxActive - 1),
          )
          .returning("id"),
      )
      .selectFrom("s")
      .selectAll()
      .select((eb) => eb.fn.coalesce(eb.selectFrom("old").select(sql<string[]>`array_agg(old.id)`.as("ids")), sql<string[]>`'{}'::uuid[]`).as("trimmed"))
      .executeTakeFirstOrThrow();
    await sessionsRevoked(trx, s.user_id, row.trimmed, "session_limit");
    return row as SessionRow & { trimmed: string[] };
  });
}

export async function insertRefreshToken(db: Db, sessionId: string, tokenHash: string): Promise<void> {
  await db.insertInto("refresh_tokens").values({ token_hash: tokenHash, session_id: sessionId }).execute();
}

/** Marks an unspent token spent, atomically: of two concurrent refreshes with one token, one wins. */
export async function spendRefreshToken(db: Db, tokenHash: string): Promise<string | undefined> {
  const row = await db
    .updateTable("refresh_tokens")
    .set({ spent_at: new Date() })
    .where("token_hash", "=", tokenHash)
    .where("spent_at", "is", null)
    .returning("session_id")
    .executeTakeFirst();
  return row?.session_id;
}

export async function findRefreshTokenSession(db: Db, tokenHash: string): Promise<string | undefined> {
  const row = await db.selectFrom("refresh_tokens").select("session_id").where("token_hash", "=", tokenHash).executeTakeFirst();
  return row?.session_id;
}

export async function findSession(db: Db, id: string): Promise<SessionRow | undefined> {
  return db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function touchSession(db: Db, id: string): Promise<void> {
  await db.updateTable("sessions").set({ last_seen_at: new Date() }).where("id", "=", id).execute();
}

export async function listActiveSessions(db: Db, userId: string): Promise<SessionRow[]> {
  return db
    .selectFrom("sessions")
    .selectAll()
    .where("user_id", "=", userId)
    .where(sql.raw<boolean>(liveSessionSql("sessions")))
    .orderBy("created_at", "desc")
    .execute();
}

/**
 * Revokes the user's sessions that are still live: all of them, only the listed ones (`ids`), or
 * all but one (`except`); returns their ids.
 */
export interface RevokeWhich {
  ids?: string[];
  except?: string;
}

export async function revokeSessions(db: Db, userId: string, reason: string, which: RevokeWhich = {}): Promise<string[]> {
  if (which.ids?.length === 0) return [];
  return inTransaction(db, async (trx) => {
    let q = trx
      .updateTable("sessions")
      .set({ revoked_at: new Date(), revoked_reason: reason })
      .where("user_id", "=", userId)
      .where("revoked_at", "is", null);
    if (which.ids) q = q.where("id", "in", which.ids);
    if (which.except) q = q.where("id", "!=", which.except);
    const ids = (await q.returning("id").execute()).map((r) => r.id);
    await sessionsRevoked(trx, userId, ids, reason);
    return ids;
  });
}

/** `session.revoked` for the sessions a statement of the caller's transaction just revoked. */
export async function sessionsRevoked(trx: Db, userId: string, sessionIds: string[], reason: string): Promise<void> {
  if (sessionIds.length > 0) await emitWebhook(trx, "session.revoked", userKey(userId), { user_id: userId, session_ids: sessionIds, reason });
}

/**
 * Ends every session of the user (but `except`) and bumps its session epoch in one transaction,
 * so that no login checked before it can create a session after it. With `expectEpoch`, only
 * if the epoch is still that one (a password change checked against it); with `passwordHash`,
 * the user's password becomes that; with `ban`, the user is banned until then. Returns the revoked ids, or undefined when the epoch had
 * moved (nothing was changed).
 */
export async function endEverySession(
  db: Db,
  userId: string,
  reason: string,
  options: { except?: string; expectEpoch?: number; passwordHash?: string; ban?: { until: Date; reason: string | null } } = {},
): Promise<string[] | undefined> {
  return db.transaction().execute(async (trx) => {
    let bump = trx
      .updateTable("users")
      .set((eb) => ({
        session_epoch: eb("session_epoch", "+", 1),
        ...(options.passwordHash ? { password_hash: options.passwordHash } : {}),
        ...(options.ban ? { banned_until: options.ban.until, ban_reason: options.ban.reason } : {}),
      }))
      .where("id", "=", userId);
    if (options.expectEpoch !== undefined) bump = bump.where("session_epoch", "=", options.expectEpoch);
    const user = await bump.returning("id").executeTakeFirst();
    if (!user) return undefined;
    return revokeSessions(trx, userId, reason, options.except ? { except: options.except } : {});
  });
}
