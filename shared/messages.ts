import { sql } from "kysely";
import type { MessageView } from "./contracts";
import type { Db } from "./db/db";
import type { MessageRow } from "./db/schema";

/** Stored messages as clients see them, for the api (HTTP) and the gateway (sockets) alike. */

const view = (m: MessageRow & { username: string }): MessageView => ({
  id: String(m.id),
  chat_id: m.chat_id,
  sender: { id: m.sender_id, username: m.username },
  text: m.text,
  client_id: m.client_id,
  created_at: m.created_at.toISOString(),
});

export interface NewMessage {
  chatId: string;
  senderId: string;
  text: string;
  clientId?: string | undefined;
}

/**
 * Stores a message and returns it as clients see it. A repeated `client_id` from the same sender
 * in the same chat returns the message stored the first time (`created: false`): retries after a
 * lost acknowledgement do not duplicate.
 */
export async function storeMessage(db: Db, msg: NewMessage): Promise<{ message: MessageView; created: boolean }> {
  const inserted = await db
    .with("m", (qb) =>
      qb
        .insertInto("messages")
        .values({ chat_id: msg.chatId, sender_id: msg.senderId, text: msg.text, client_id: msg.clientId ?? null })
        .onConflict((oc) => oc.columns(["chat_id", "sender_id", "client_id"]).where("client_id", "is not", null).doNothing())
        .returningAll(),
    )
    .selectFrom("m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .executeTakeFirst();
  if (inserted) return { message: view(inserted), created: true };
  const existing = await db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .where("m.chat_id", "=", msg.chatId)
    .where("m.sender_id", "=", msg.senderId)
    .where("m.client_id", "=", msg.clientId ?? null)
    .executeTakeFirstOrThrow();
  return { message: view(existing), created: false };
}

export interface HistoryQuery {
  before?: string | undefined;
  after?: string | undefined;
  limit: number;
}

/** A page of history: newest first, or oldest first when `after` is given (catch-up order). */
export async function listMessages(db: Db, chatId: string, q: HistoryQuery): Promise<MessageView[]> {
  let query = db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .where("m.chat_id", "=", chatId);
  if (q.before !== undefined) query = query.where("m.id", "<", sql<string>`${q.before}::bigint`);
  if (q.after !== undefined) query = query.where("m.id", ">", sql<string>`${q.after}::bigint`);
  const rows = await query
    .orderBy("m.id", q.after !== undefined ? "asc" : "desc")
    .limit(q.limit)
    .execute();
  return rows.map(view);
}

/** Messages of any of `chatIds` stored since `from`, oldest first (catch-up after a Redis outage). */
export async function messagesSince(db: Db, chatIds: string[], from: Date, limit: number): Promise<MessageView[]> {
  if (chatIds.length === 0 || limit <= 0) return [];
  const rows = await db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .where("m.chat_id", "in", chatIds)
    .where("m.created_at", ">=", from)
    .orderBy("m.id", "asc")
    .limit(limit)
    .execute();
  return rows.map(view);
}
