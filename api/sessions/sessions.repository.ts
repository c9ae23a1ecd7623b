import type { Db } from "../../shared/db/db";
import type { SessionRow } from "../../shared/db/schema";

/**
 * A new session and its first refresh token in one statement: one round trip and one commit
 * instead of a four-statement transaction (the commit's fsync was most of login's own cost).
 */
export async function insertSessionWithRefreshToken(
  db: Db,
  s: { user_id: string; user_agent: string | null; ip: string | null; expires_at: Date },
  tokenHash: string,
): Promise<SessionRow> {
  return db
    .with("s", (qb) => qb.insertInto("sessions").values(s).returningAll())
    .with("r", (qb) =>
      qb
        .insertInto("refresh_tokens")
        .columns(["token_hash", "session_id"])
        .expression((eb) => eb.selectFrom("s").select([eb.val(tokenHash).as("token_hash"), "s.id"])),
    )
    .selectFrom("s")
    .selectAll()
    .executeTakeFirstOrThrow();
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
    .where("revoked_at", "is", null)
    .where("expires_at", ">", new Date())
    .orderBy("created_at", "desc")
    .execute();
}

/** Revokes the user's sessions (all, or the listed ones) that are still live; returns their ids. */
export async function revokeSessions(db: Db, userId: string, reason: string, ids?: string[]): Promise<string[]> {
  let q = db
    .updateTable("sessions")
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where("user_id", "=", userId)
    .where("revoked_at", "is", null);
  if (ids) {
    if (ids.length === 0) return [];
    q = q.where("id", "in", ids);
  }
  const rows = await q.returning("id").execute();
  return rows.map((r) => r.id);
}
