import { sql } from "kysely";
import type { Db } from "../../shared/db/db";
import type { ChatRole, ChatRow, InviteRow } from "../../shared/db/schema";
import { LIMITS, type ReactionView } from "../../shared/contract/views";
import { blockedSenderSql, reactionsSql } from "../../shared/db/messages";

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

/** A chat as `GET /chats` lists it: the caller's read position, unread count and the chat's last message (`m_*`, null without one). */
export interface ChatSummaryRow extends ChatRow {
  read_id: string;
  unread_count: number;
  m_id: string | null;
  m_sender_id: string;
  m_username: string;
  m_text: string | null;
  m_client_id: string | null;
  m_created_at: Date;
  m_edited_at: Date | null;
  m_deleted_at: Date | null;
  m_reactions: ReactionView[] | null;
}

/**
 * Every chat of the user with its unread count and last message, in one statement however many
 * chats (a lateral read per chat through the (chat_id, id) index, not one query per chat). Unread:
 * other users' messages after the user's read position, not deleted, not from users the user
 * blocks, counted up to LIMITS.unreadCap. The last message comes as plain columns (only its
 * reactions as JSON): with 500 chats, parsing a JSON document per chat was most of the api's CPU.
 */
export async function listChatSummaries(db: Db, userId: string): Promise<ChatSummaryRow[]> {
  const { rows } = await sql<ChatSummaryRow>`
    select c.*, cm.read_id::text as read_id,
      (select count(*)::int from (
         select 1 from messages x
         where x.chat_id = c.id and x.id > cm.read_id and x.sender_id <> ${userId} and x.deleted_at is null
           and not ${blockedSenderSql(userId, "x.sender_id")}
         limit ${LIMITS.unreadCap}) u) as unread_count,
      l.id::text as m_id, l.sender_id as m_sender_id, u.username as m_username, l.text as m_text, l.client_id as m_client_id,
      l.created_at as m_created_at, l.edited_at as m_edited_at, l.deleted_at as m_deleted_at,
      case when l.id is not null and l.deleted_at is null and exists (select 1 from message_reactions r where r.message_id = l.id)
           then ${reactionsSql(userId, "l.id")} end as m_reactions
    from chat_members cm
    join chats c on c.id = cm.chat_id
    left join lateral (
      select m.id, m.sender_id, m.text, m.client_id, m.created_at, m.edited_at, m.deleted_at from messages m
      where m.chat_id = c.id and not ${blockedSenderSql(userId)}
      order by m.id desc limit 1) l on true
    left join users u on u.id = l.sender_id
    where cm.user_id = ${userId}
    order by c.created_at desc, c.id`.execute(db);
  return rows;
}

export type MemberRow = { user_id: string; username: string; role: ChatRole; joined_at: Date; read_id: string };

export async function listMembers(db: Db, chatId: string): Promise<MemberRow[]> {
  return db
    .selectFrom("chat_members")
    .innerJoin("users", "users.id", "chat_members.user_id")
    .select(["chat_members.user_id", "users.username", "chat_members.role", "chat_members.joined_at", sql<string>`chat_members.read_id::text`.as("read_id")])
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

/** An invite is pending only while its inviter is a member: the ones `inviterId` sent to this chat end with it (answered, for their invitees). */
export async function cancelInvitesFrom(db: Db, chatId: string, inviterId: string): Promise<{ id: string; user_id: string }[]> {
  return db
    .updateTable("invites")
    .set({ status: "cancelled", responded_at: new Date() })
    .where("chat_id", "=", chatId)
    .where("inviter_id", "=", inviterId)
    .where("status", "=", "pending")
    .returning(["id", "user_id"])
    .execute();
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

/**
 * Serialises invites per invitee until the transaction ends, so that counting a user's pending
 * invites and adding one cannot interleave with another inviter doing the same (the cap holds
 * under concurrency). Transaction-scoped advisory locks, taken in sorted id order in one statement
 * (PostgreSQL evaluates volatile output functions after the ORDER BY), so two callers locking
 * overlapping sets never deadlock. Not the users' rows: logins lock those FOR UPDATE.
 */
export async function lockInvitees(trx: Db, userIds: string[]): Promise<void> {
  if (userIds.length === 0) return;
  const sorted = [...new Set(userIds)].sort();
  await sql`select pg_advisory_xact_lock(hashtextextended('wsac:invitee:' || k.id, 0))
    from unnest(${sorted}::text[]) with ordinality as k(id, n) order by k.n`.execute(trx);
}

/** How many pending invites each of `userIds` holds (absent: none). */
export async function countPendingInvites(db: Db, userIds: string[]): Promise<Map<string, number>> {
  if (userIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("invites")
    .select(["user_id", (eb) => eb.fn.countAll<string>().as("n")])
    .where("user_id", "in", userIds)
    .where("status", "=", "pending")
    .groupBy("user_id")
    .execute();
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
}

export async function findPendingInvite(db: Db, chatId: string, userId: string): Promise<string | undefined> {
  const row = await db.selectFrom("invites").select("id").where("chat_id", "=", chatId).where("user_id", "=", userId).where("status", "=", "pending").executeTakeFirst();
  return row?.id;
}

/**
 * Seconds until `inviterId` may invite `userId` to `chatId` again, when that user declined one of
 * its invites to the chat less than `cooldown` seconds ago; undefined otherwise. By the database's
 * clock, as `responded_at` was written.
 */
export async function declineCooldownLeft(db: Db, chatId: string, userId: string, inviterId: string, cooldown: number): Promise<number | undefined> {
  const row = await db
    .selectFrom("invites")
    .select(sql<string | null>`ceil(extract(epoch from max(responded_at) + make_interval(secs => ${cooldown}) - now()))`.as("left"))
    .where("chat_id", "=", chatId)
    .where("user_id", "=", userId)
    .where("inviter_id", "=", inviterId)
    .where("status", "=", "declined")
    .where("responded_at", ">", sql<Date>`now() - make_interval(secs => ${cooldown})`)
    .executeTakeFirst();
  return row?.left == null ? undefined : Math.max(1, Number(row.left));
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

/** Whose invites a list holds: an invitee's, or a chat's. */
export type InviteScope = { user_id: string } | { chat_id: string };
/** A page: up to `limit` invites after the invite `after` (in created_at, id order). */
export type InvitePageQuery = { after?: string | undefined; limit: number };

const scopeColumn = (scope: InviteScope) => ("user_id" in scope ? (["invites.user_id", scope.user_id] as const) : (["invites.chat_id", scope.chat_id] as const));

/** True when `inviteId` is an invite of the list (pending or answered since): a cursor that can be continued from. */
export async function isInviteOf(db: Db, inviteId: string, scope: InviteScope): Promise<boolean> {
  const [column, value] = scopeColumn(scope);
  const row = await db.selectFrom("invites").select("id").where("invites.id", "=", inviteId).where(column, "=", value).executeTakeFirst();
  return row !== undefined;
}

/**
 * Pending invites of the list, oldest first (created_at, then id: a new chat's invites share one
 * created_at), after the cursor invite's own (created_at, id), compared in the database so no
 * precision is lost. Up to `limit` + 1 rows: the extra one tells the caller that more follow.
 */
export async function listPendingInvites(db: Db, scope: InviteScope, page: InvitePageQuery): Promise<InviteJoinRow[]> {
  const [column, value] = scopeColumn(scope);
  let query = invitesQuery(db).where(column, "=", value).where("invites.status", "=", "pending");
  if (page.after !== undefined) {
    query = query.where(sql<boolean>`(invites.created_at, invites.id) > (select c.created_at, c.id from invites as c where c.id = ${page.after})`);
  }
  return query.orderBy("invites.created_at").orderBy("invites.id").limit(page.limit + 1).execute();
}

export async function findInvite(db: Db, id: string): Promise<Pick<InviteRow, "id" | "chat_id" | "user_id" | "inviter_id" | "status"> | undefined> {
  return db.selectFrom("invites").select(["id", "chat_id", "user_id", "inviter_id", "status"]).where("id", "=", id).executeTakeFirst();
}

/** Cancels one invite if it is still pending; answers it (its invitee) when it was. */
export async function cancelInvite(db: Db, id: string): Promise<{ id: string; user_id: string } | undefined> {
  return db
    .updateTable("invites")
    .set({ status: "cancelled", responded_at: new Date() })
    .where("id", "=", id)
    .where("status", "=", "pending")
    .returning(["id", "user_id"])
    .executeTakeFirst();
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
