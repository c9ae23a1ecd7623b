import { sql } from "kysely";
import type { Db } from "../../shared/db/db";
import { sessionVerdict } from "../../shared/sessions";

/** What one query says about a socket acting in a chat: is its session still live, is its user a member. */
export type ChatAccess = "member" | "not_member" | "session_revoked" | "session_expired";

/**
 * Membership and the session's liveness in one round trip, so that a socket whose session was
 * revoked while this gateway missed the control event (Redis cut off) can no longer act: every
 * `chat:join` and `message:send` asks this anyway. The session is judged by the one rule, `sessionVerdict`.
 */
export async function chatAccess(db: Db, chatId: string, userId: string, sessionId: string): Promise<ChatAccess> {
  const row = await db
    .selectFrom("sessions as s")
    .select([
      "s.user_id",
      sql<boolean>`s.revoked_at is not null`.as("revoked"),
      sql<number>`(extract(epoch from s.expires_at) * 1000)::float8`.as("expires_ms"),
      (eb) => eb.exists(eb.selectFrom("chat_members as m").select(sql`1`.as("one")).where("m.chat_id", "=", chatId).where("m.user_id", "=", userId)).as("member"),
    ])
    .where("s.id", "=", sessionId)
    .executeTakeFirst();
  const verdict = sessionVerdict(row && { userId: row.user_id, revoked: row.revoked, expiresAt: row.expires_ms }, userId);
  if (verdict !== "live") return verdict === "revoked" ? "session_revoked" : "session_expired";
  return row!.member ? "member" : "not_member";
}
