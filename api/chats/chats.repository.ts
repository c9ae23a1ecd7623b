import type { Db } from "../../shared/db/db";
import type { ChatRole, ChatRow, InviteRow } from "../../shared/db/schema";

export async function insertChat(db: Db, name: string, createdBy: string): Promise<ChatRow> {
  return db.insertInto("chats").values({ name, created_by: createdBy }).returningAll().executeTakeFirstOrThrow();
}

export async function addMember(db: Db, chatId: string, userId: string, role: ChatRole): Promise<void> {
  await db.insertInto("chat_members").values({ chat_id: chatId, user_id: userId, role }).onConflict((oc) => oc.doNothing()).execute();
}

/**
 * Locks the chat's row until the transaction ends: every membership change of one chat takes it,
 * so two at once run one after the other. `for no key update` leaves foreign-key checks (new
 * messages, members, invites) unblocked. False when there is no such chat.
 */
export async function lockChat(trx: Db, chatId: string): Promise<boolean> {
  const row = await trx.selectFrom("chats").select("id").where("id", "=", chatId).forNoKeyUpdate().executeTakeFirst();
  return row !== undefined;
}

export async function findChat(db: Db, chatId: string): Promise<ChatRow | undefined> {
  return db.selectFrom("chats").selectAll().where("id", "=", chatId).executeTakeFirst();
}

export async function findRole(db: Db, chatId: string, userId: string): Promise<ChatRole | undefined> {
  const row = await db.selectFrom("chat_members").select("role").where("chat_id", "=", chatId).where("user_id", "=", userId).executeTakeFirst();
  return row?.role;
}

export async function listChatsOf(db: Db, userId: string): Promise<ChatRow[]> {
  return db
    .selectFrom("chats")
    .innerJoin("chat_members", "chat_members.chat_id", "chats.id")
    .selectAll("chats")
    .where("chat_members.user_id", "=", userId)
    .orderBy("chats.created_at", "desc")
    .orderBy("chats.id")
    .execute();
}

export type MemberRow = { user_id: string; username: string; role: ChatRole; joined_at: Date };

export async function listMembers(db: Db, chatId: string): Promise<MemberRow[]> {
  return db
    .selectFrom("chat_members")
    .innerJoin("users", "users.id", "chat_members.user_id")
    .select(["chat_members.user_id", "users.username", "chat_members.role", "chat_members.joined_at"])
    .where("chat_members.chat_id", "=", chatId)
    .orderBy("chat_members.joined_at")
    .orderBy("users.username")
    .execute();
}

export async function removeMember(db: Db, chatId: string, userId: string): Promise<ChatRole | undefined> {
  const row = await db.deleteFrom("chat_members").where("chat_id", "=", chatId).where("user_id", "=", userId).returning("role").executeTakeFirst();
  return row?.role;
}

/** Hands ownership to the longest-standing remaining member in one statement; returns how many rows became owner (0 or 1). */
export async function promoteOldestMember(db: Db, chatId: string): Promise<number> {
  const result = await db
    .updateTable("chat_members")
    .set({ role: "owner" })
    .where("chat_id", "=", chatId)
    .where("user_id", "=", (eb) =>
      eb.selectFrom("chat_members").select("user_id").where("chat_id", "=", chatId).orderBy("joined_at").orderBy("user_id").limit(1),
    )
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function countMembers(db: Db, chatId: string): Promise<number> {
  const row = await db.selectFrom("chat_members").select((eb) => eb.fn.countAll<string>().as("n")).where("chat_id", "=", chatId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Deletes the chat; its members, invites and messages go with it (foreign keys cascade). */
export async function deleteChat(db: Db, chatId: string): Promise<void> {
  await db.deleteFrom("chats").where("id", "=", chatId).execute();
}

/** An invite is pending only while its inviter is a member: the ones `inviterId` sent to this chat end with it. */
export async function cancelInvitesFrom(db: Db, chatId: string, inviterId: string): Promise<number> {
  const result = await db
    .updateTable("invites")
    .set({ status: "cancelled", responded_at: new Date() })
    .where("chat_id", "=", chatId)
    .where("inviter_id", "=", inviterId)
    .where("status", "=", "pending")
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Creates a pending invite, or returns the one already pending for that user and chat. */
export async function upsertPendingInvite(db: Db, chatId: string, userId: string, inviterId: string): Promise<string> {
  const inserted = await db
    .insertInto("invites")
    .values({ chat_id: chatId, user_id: userId, inviter_id: inviterId })
    .onConflict((oc) => oc.columns(["chat_id", "user_id"]).where("status", "=", "pending").doNothing())
    .returning("id")
    .executeTakeFirst();
  if (inserted) return inserted.id;
  const existing = await db
    .selectFrom("invites")
    .select("id")
    .where("chat_id", "=", chatId)
    .where("user_id", "=", userId)
    .where("status", "=", "pending")
    .executeTakeFirstOrThrow();
  return existing.id;
}

function invitesQuery(db: Db) {
  return db
    .selectFrom("invites")
    .innerJoin("chats", "chats.id", "invites.chat_id")
    .innerJoin("users as inviter", "inviter.id", "invites.inviter_id")
    .innerJoin("users as invitee", "invitee.id", "invites.user_id")
    .select([
      "invites.id",
      "invites.created_at",
      "chats.id as chat_id",
      "chats.name as chat_name",
      "inviter.id as inviter_id",
      "inviter.username as inviter_username",
      "invitee.id as invitee_id",
      "invitee.username as invitee_username",
    ]);
}

export type InviteJoinRow = {
  id: string;
  created_at: Date;
  chat_id: string;
  chat_name: string;
  inviter_id: string;
  inviter_username: string;
  invitee_id: string;
  invitee_username: string;
};

export async function getInvite(db: Db, id: string): Promise<InviteJoinRow> {
  return invitesQuery(db).where("invites.id", "=", id).executeTakeFirstOrThrow();
}

export async function listPendingInvites(db: Db, userId: string): Promise<InviteJoinRow[]> {
  return invitesQuery(db).where("invites.user_id", "=", userId).where("invites.status", "=", "pending").orderBy("invites.created_at", "desc").execute();
}

/** A chat's pending invites, oldest first. */
export async function listChatInvites(db: Db, chatId: string): Promise<InviteJoinRow[]> {
  return invitesQuery(db).where("invites.chat_id", "=", chatId).where("invites.status", "=", "pending").orderBy("invites.created_at").execute();
}

export async function findInvite(db: Db, id: string): Promise<Pick<InviteRow, "id" | "chat_id" | "user_id" | "inviter_id" | "status"> | undefined> {
  return db.selectFrom("invites").select(["id", "chat_id", "user_id", "inviter_id", "status"]).where("id", "=", id).executeTakeFirst();
}

/** Cancels one invite if it is still pending; true when it was. */
export async function cancelInvite(db: Db, id: string): Promise<boolean> {
  const result = await db
    .updateTable("invites")
    .set({ status: "cancelled", responded_at: new Date() })
    .where("id", "=", id)
    .where("status", "=", "pending")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Answers a pending invite of this user; returns it, or undefined when there is none. */
export async function answerInvite(db: Db, id: string, userId: string, status: "accepted" | "declined"): Promise<InviteRow | undefined> {
  return db
    .updateTable("invites")
    .set({ status, responded_at: new Date() })
    .where("id", "=", id)
    .where("user_id", "=", userId)
    .where("status", "=", "pending")
    .returningAll()
    .executeTakeFirst();
}
