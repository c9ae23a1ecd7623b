import { sql } from "kysely";
import type { Db } from "../../shared/db/db";

/** What one query says about a socket acting in a chat: is its session still live, is its user a member. */
export type ChatAccess = "member" | "not_member" | "session_revoked" | "session_expired";

/**
 * Membership and the session's liveness in one round trip, so that a socket whose session was
 * revoked while this gateway missed the control event (Redis cut off) can no longer act: every
 * `chat:join` and `message:send` asks this anyway.
 */
export async function chatAccess(db: Db, chatId: string, userId: string, sessionId: string): Promise<ChatAccess> {
  const row = await db
    .selectFrom("sessions as s")
    .select([
      sql<boolean>`s.user_id = ${userId} and s.revoked_at is null`.as("live"),
      sql<boolean>`s.expires_at <= now()`.as("expired"),
      (eb) => eb.exists(eb.selectFrom("chat_members as m").select(sql`1`.as("one")).where("m.chat_id", "=", chatId).where("m.user_id", "=", userId)).as("member"),
    ])
    .where("s.id", "=", sessionId)
    .executeTakeFirst();
  if (!row || !row.live) return "session_revoked";
  if (row.expired) return "session_expired";
  return row.member ? "member" : "not_member";
}
