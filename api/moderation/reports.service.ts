import { sql } from "kysely";
import { AppError } from "../../shared/contract/errors";
import type { ReportsQuery } from "../../shared/contract/requests";
import type { ReportView } from "../../shared/contract/views";
import { deleteMessage } from "../../shared/db/changes";
import type { Db } from "../../shared/db/db";
import { type MessageOutlet, publishChange } from "../../shared/delivery/publish";
import { chatKey, emitWebhook } from "../../shared/webhooks/events";

/**
 * Reports of messages (Apple's guideline 1.2: a way to report content and to act on reports). Any
 * member reports a message of its chat with a reason; the chat's owner (and the app's backend,
 * through the server API) lists and resolves them, deleting the message if it must go. Each new
 * report raises `report.created` in the same transaction.
 */

const noSuchReport = () => new AppError("not_found", 404, "No such report");

function reportsOf(db: Db) {
  return db
    .selectFrom("message_reports as r")
    .innerJoin("users as s", "s.id", "r.sender_id")
    .innerJoin("users as p", "p.id", "r.reporter_id")
    .select([
      "r.id",
      "r.chat_id",
      sql<string>`r.message_id::text`.as("message_id"),
      "r.sender_id",
      "s.username as sender_username",
      "r.text",
      "r.reporter_id",
      "p.username as reporter_username",
      "r.reason",
      "r.created_at",
      "r.resolved_at",
      "r.resolution",
    ]);
}
type ReportRow = Awaited<ReturnType<ReturnType<typeof reportsOf>["executeTakeFirstOrThrow"]>>;

const reportView = (r: ReportRow): ReportView => ({
  id: r.id,
  chat_id: r.chat_id,
  message_id: r.message_id,
  sender: { id: r.sender_id, username: r.sender_username },
  text: r.text ?? "",
  reporter: { id: r.reporter_id, username: r.reporter_username },
  reason: r.reason,
  created_at: r.created_at.toISOString(),
  status: r.resolved_at ? "resolved" : "open",
  resolved_at: r.resolved_at ? r.resolved_at.toISOString() : null,
  resolution: r.resolution,
});

/**
 * A member reports a message of its chat (404 when the message is not in it or is deleted). A
 * second report of the same message by the same user returns the first (`created` false).
 */
export async function reportMessage(db: Db, reporterId: string, chatId: string, messageId: string, reason: string): Promise<{ report: ReportView; created: boolean }> {
  const id = await db.transaction().execute(async (trx) => {
    const message = await trx
      .selectFrom("messages")
      .select(["id", "sender_id", "text", "deleted_at"])
      .where("id", "=", sql<string>`${messageId}::bigint`)
      .where("chat_id", "=", chatId)
      .executeTakeFirst();
    if (!message || message.deleted_at) throw new AppError("not_found", 404, "No such message");
    const inserted = await trx
      .insertInto("message_reports")
      .values({ chat_id: chatId, message_id: message.id, sender_id: message.sender_id, text: message.text, reporter_id: reporterId, reason })
      .onConflict((c) => c.columns(["message_id", "reporter_id"]).doNothing())
      .returning("id")
      .executeTakeFirst();
    if (!inserted) {
      const first = await trx.selectFrom("message_reports").select("id").where("message_id", "=", message.id).where("reporter_id", "=", reporterId).executeTakeFirstOrThrow();
      return { id: first.id, created: false };
    }
    const report = reportView(await reportsOf(trx).where("r.id", "=", inserted.id).executeTakeFirstOrThrow());
    await emitWebhook(trx, "report.created", chatKey(chatId), { report });
    return { id: inserted.id, created: true };
  });
  return { report: reportView(await reportsOf(db).where("r.id", "=", id.id).executeTakeFirstOrThrow()), created: id.created };
}

/** Reports, newest first: of one chat (its owner's list), or of every chat (the server API's). */
export async function listReports(db: Db, q: ReportsQuery, chatId?: string): Promise<ReportView[]> {
  let query = reportsOf(db);
  if (chatId !== undefined) query = query.where("r.chat_id", "=", chatId);
  if (q.status === "open") query = query.where("r.resolved_at", "is", null);
  if (q.status === "resolved") query = query.where("r.resolved_at", "is not", null);
  const rows = await query.orderBy("r.created_at", "desc").orderBy("r.id").limit(q.limit).execute();
  return rows.map(reportView);
}

/**
 * Resolves a report (resolving it again keeps the first resolution), deleting the reported message
 * when asked (announced to the room as message:deleted). `chatId` scopes it to one chat (its
 * owner's call); `resolverId` is the owner, or undefined for the server API.
 */
export async function resolveReport(
  deps: { db: Db; outlet: MessageOutlet },
  reportId: string,
  options: { chatId?: string; resolverId?: string; resolution?: string | undefined; deleteMessage: boolean },
): Promise<ReportView> {
  let query = deps.db.selectFrom("message_reports").select(["id", "chat_id", sql<string>`message_id::text`.as("message_id"), "sender_id", "resolved_at"]).where("id", "=", reportId);
  if (options.chatId !== undefined) query = query.where("chat_id", "=", options.chatId);
  const found = await query.executeTakeFirst();
  if (!found) throw noSuchReport();
  if (options.deleteMessage) {
    // As the chat's owner when there is one (the server API acts for the app, whose word is final).
    const owner = await deps.db.selectFrom("chat_members").select("user_id").where("chat_id", "=", found.chat_id).where("role", "=", "owner").executeTakeFirst();
    const actor = options.resolverId ?? owner?.user_id ?? found.sender_id;
    const deleted = await deleteMessage(deps.db, { chatId: found.chat_id, messageId: found.message_id, userId: actor }).catch((err: unknown) => {
      if (err instanceof AppError && err.status === 404) return undefined; // gone already
      throw err;
    });
    if (deleted?.changed) publishChange(deps.outlet, found.chat_id, actor, "message:deleted", { chat_id: found.chat_id, message_id: deleted.message_id });
  }
  await deps.db
    .updateTable("message_reports")
    .set({ resolved_at: sql`now()`, resolved_by: options.resolverId ?? null, resolution: options.resolution ?? null })
    .where("id", "=", reportId)
    .where("resolved_at", "is", null)
    .execute();
  return reportView(await reportsOf(deps.db).where("r.id", "=", reportId).executeTakeFirstOrThrow());
}
