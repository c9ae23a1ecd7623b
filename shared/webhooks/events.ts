import { sql } from "kysely";
import type { Db } from "../db/db";

import type { WebhookEventType } from "../contract/server";

export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../contract/server";

/** Deliveries of one endpoint with the same key go out in order: a chat's events share the chat's key, a user's the user's. */
export const chatKey = (chatId: string) => `chat:${chatId}`;
export const userKey = (userId: string) => `user:${userId}`;

/**
 * SQL true while an enabled endpoint wants events of `typeSql` (SQL text written in the code, a
 * literal or a column): producers insert an event only then, so without endpoints an event costs
 * one look at a table of a few rows.
 */
export const wantedSql = (typeSql: string) =>
  `exists (select 1 from webhook_endpoints e where e.disabled_at is null and (cardinality(e.events) = 0 or ${typeSql} = any(e.events)))`;

/**
 * Raises a webhook event inside the caller's transaction (or statement): it exists if and only if
 * the change that caused it commits. The fan-out to endpoints and the worker's wake-up are the
 * insert trigger's (migrations/20261207130000_webhooks.ts).
 */
export async function emitWebhook(db: Db, type: WebhookEventType, orderKey: string, data: unknown): Promise<void> {
  await sql`
    insert into webhook_events (type, order_key, data)
    select ${type}, ${orderKey}, ${JSON.stringify(data)}::jsonb
    where ${sql.raw(wantedSql(`'${type}'`))}`.execute(db);
}

/** Runs `work` in the caller's transaction when `db` is one, else in a new one. */
export function inTransaction<T>(db: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}

/** `member.added`: the user is a member of the chat now (an accepted invite, a new chat's owner, the server API). */
export const memberAdded = (trx: Db, chatId: string, userId: string, role: "owner" | "member") =>
  emitWebhook(trx, "member.added", chatKey(chatId), { chat_id: chatId, user_id: userId, role });

/** `member.removed`: the user left or was removed (the chat may be gone with its last member). */
export const memberRemoved = (trx: Db, chatId: string, userId: string) => emitWebhook(trx, "member.removed", chatKey(chatId), { chat_id: chatId, user_id: userId });

/** `invite.created`: a new pending invite. */
export const inviteCreated = (trx: Db, invite: { id: string; chatId: string; userId: string; inviterId: string }) =>
  emitWebhook(trx, "invite.created", chatKey(invite.chatId), { invite_id: invite.id, chat_id: invite.chatId, user_id: invite.userId, inviter_id: invite.inviterId });

/** `user.registered`: a new account (POST /register, or the server API's first PUT of an external id). */
export const userRegistered = (trx: Db, user: { id: string; username: string; external_id: string | null; created_at: Date }) =>
  emitWebhook(trx, "user.registered", userKey(user.id), { user: { id: user.id, username: user.username, external_id: user.external_id, created_at: user.created_at.toISOString() } });
