import { CompiledQuery, sql } from "kysely";
import type { Pool } from "pg";
import type { MessageView, ReactionView } from "../contract/views";
import type { Db } from "./db";
import { AppError } from "../contract/errors";
import type { MessageRow } from "./schema";
import type { HistoryQuery } from "../contract/requests";
import { wantedSql } from "../webhooks/events";
import { factsOfColumns, liveSessionSql, type SessionFactsColumns, sessionError, sessionFactsSql, sessionVerdict } from "./sessions";

/** Stored messages as clients see them, for the api (HTTP) and the gateway (sockets) alike. */

/** A stored row as read for a view: the message, its sender's name and, when read for a viewer, its reactions. */
type ViewRow = Pick<MessageRow, "id" | "chat_id" | "sender_id" | "text" | "client_id" | "created_at"> &
  Partial<Pick<MessageRow, "edited_at" | "deleted_at">> & { username: string; reactions?: ReactionView[] | null };

/** A row as clients see it: a deleted message keeps its id and place, with no text and no reactions. */
export const messageViewOf = (m: ViewRow): MessageView => ({
  id: String(m.id),
  chat_id: m.chat_id,
  sender: { id: m.sender_id, username: m.username },
  text: m.deleted_at ? "" : (m.text ?? ""),
  client_id: m.client_id,
  created_at: m.created_at.toISOString(),
  edited_at: m.edited_at ? m.edited_at.toISOString() : null,
  deleted: Boolean(m.deleted_at),
  reactions: m.deleted_at ? [] : (m.reactions ?? []),
});
const view = messageViewOf;

/**
 * A message's reactions as `viewer` sees them, as a JSON array in a select: per emoji (in the order
 * first used) the count, leaving out users the viewer blocks, and whether the viewer is among them.
 * Without a viewer (a webhook, a replay to a room), nobody is left out and `me` is false. With
 * `blocks: false`, nobody is left out and `me` is the viewer's (a live event, told as its actor sees it).
 */
export function reactionsSql(viewer: string | undefined, messageIdColumn = "m.id", options: { blocks?: boolean } = {}) {
  const v = viewer ?? null;
  // A broadcast's counts (options.blocks false) leave nobody out: the room's members block different users.
  const blocker = options.blocks === false ? null : v;
  return sql<ReactionView[]>`coalesce((
    select json_agg(json_build_object('emoji', r.emoji, 'count', r.n, 'me', r.me) order by r.first, r.emoji)
    from (
      select x.emoji, count(*)::int as n, coalesce(bool_or(x.user_id = ${v}::uuid), false) as me, min(x.created_at) as first
      from message_reactions x
      where x.message_id = ${sql.ref(messageIdColumn)}
        and not exists (select 1 from user_blocks b where b.blocker_id = ${blocker}::uuid and b.blocked_id = x.user_id)
      group by x.emoji
    ) r), '[]'::json)`;
}

/** SQL true when `viewer` blocks the sender of the message in `senderColumn` (their messages are left out of what the viewer reads). */
export const blockedSenderSql = (viewer: string, senderColumn = "m.sender_id") =>
  sql<boolean>`exists (select 1 from user_blocks b where b.blocker_id = ${viewer}::uuid and b.blocked_id = ${sql.ref(senderColumn)})`;

export interface NewMessage {
  chatId: string;
  senderId: string;
  text: string;
  clientId?: string | undefined;
  /**
   * The sender's session (a socket's): the message is then stored only if, in the same statement,
   * the session is live for `senderId` and the sender is a member of the chat. Otherwise it is
   * answered with AppError `session_revoked` / `token_expired` or `chat_forbidden`, and nothing is
   * stored. Without it (the api, whose request was checked already) neither is asked.
   */
  sessionId?: string | undefined;
}

export interface Stored {
  message: MessageView;
  /** False when the sender's `client_id` was already stored in this chat: `message` is that first one. */
  created: boolean;
}

interface StoredRow extends SessionFactsColumns {
  i: number;
  chat_exists: boolean;
  /** Stored (or found stored) only when allowed: the chat exists, and the sender's session and membership (when asked for) hold. */
  allowed: boolean;
  member: boolean;
  live: boolean;
  /** Null for an allowed duplicate whose first copy was not committed yet; read only when allowed. */
  id: string | null;
  created: boolean;
  chat_id: string;
  sender_id: string;
  username: string;
  text: string;
  client_id: string | null;
  created_at: Date;
}

/**
 * Stores messages, many in one statement (one round trip and one commit), and returns each as
 * clients see it, in the order given. Ids are drawn in that order, so messages of one sender given
 * in order are stored in order. A repeated `client_id` from the same sender in the same chat
 * returns the message stored the first time (`created: false`): retries after a lost
 * acknowledgement do not duplicate, within a batch or across batches. A message to a chat that no
 * longer exists is answered with AppError `not_found` (the others are stored). Given `pool` (the
 * one under `db`), the statement is a named one on it. A message that carries
 * its `sessionId` is checked in the same statement (see NewMessage): the gateway's send is one round
 * trip, and no message lands after its session was revoked or its sender removed.
 */
export async function storeMessages(db: Db, msgs: readonly NewMessage[], pool?: Pool): Promise<(Stored | AppError)[]> {
  // A client_id given twice in one batch is stored once; the later ones get the first back.
  const firstOf = new Map<string, number>();
  const unique: NewMessage[] = [];
  const slot = msgs.map((m) => {
    const key = m.clientId === undefined ? undefined : `${m.chatId} ${m.senderId} ${m.clientId}`;
    const first = key === undefined ? undefined : firstOf.get(key);
    if (first !== undefined) return first;
    if (key !== undefined) firstOf.set(key, unique.length);
    unique.push(m);
    return unique.length - 1;
  });
  const stored = unique.length === 0 ? [] : await insertMessages(db, unique, pool);
  // A duplicate whose first copy was still uncommitted when the insert began: read it now.
  for (const [k, m] of unique.entries()) if (stored[k] === undefined) stored[k] = { message: await storedCopy(db, m), created: false };
  const answered = new Set<number>();
  return slot.map((k) => {
    const s = stored[k]!;
    if (answered.has(k) && !(s instanceof AppError)) return { message: s.message, created: false };
    answered.add(k);
    return s;
  });
}

/**
 * The insert (see insertMessages): $1 chat ids, $2 sender ids, $3 texts, $4 client ids or nulls,
 * $5 session ids or nulls, in the order given. A duplicate's first copy is looked up row by row
 * through the `client_id` index, and only for rows not inserted: as a plain left join the planner
 * sorted and merged the whole messages table into every statement, a cost that grew with the table
 * (the bench row "stored messages/s"; docs/benchmark-notes.md, "Stored messages"). Each new
 * message raises `message.created` in the same statement while a webhook endpoint wants it (the
 * worker completes the event with the message and its offline members). Exported for the plan's test.
 */
export const INSERT_SQL = `
    with r as (
      select r.i::int as i, nextval(pg_get_serial_sequence('messages', 'id')) as id, r.chat_id, r.sender_id, r.text, r.client_id,
             exists (select 1 from chats c where c.id = r.chat_id) as chat_exists,
             r.sid is null or exists (select 1 from chat_members m where m.chat_id = r.chat_id and m.user_id = r.sender_id) as member,
             ${sessionFactsSql("s")},
             r.sid is null or ${liveSessionSql("s", "r.sender_id")} as live
      from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[]) with ordinality as r(chat_id, sender_id, text, client_id, sid, i)
      left join sessions s on s.id = r.sid
      order by r.i
    ), ins as (
      insert into messages (id, chat_id, sender_id, text, client_id) overriding system value
      select id, chat_id, sender_id, text, client_id from r where chat_exists and member and live order by i
      on conflict (chat_id, sender_id, client_id) where client_id is not null do nothing
      returning id, created_at
    ), wh as (
      insert into webhook_events (type, order_key, data, completed)
      select 'message.created', 'chat:' || r.chat_id, jsonb_build_object('message_id', ins.id::text, 'chat_id', r.chat_id), false
      from ins join r on r.id = ins.id
      where ${wantedSql("'message.created'")}
      order by ins.id
    )
    select r.i, r.chat_exists, (r.chat_exists and r.member and r.live) as allowed, r.member, r.live, r.session_user, r.revoked, r.expires_ms,
           coalesce(ins.id, old.id)::text as id,
           ins.id is not null as created, r.chat_id, r.sender_id, u.username,
           coalesce(old.text, r.text) as text, r.client_id, coalesce(ins.created_at, old.created_at) as created_at
    from r
    join users u on u.id = r.sender_id
    left join ins on ins.id = r.id
    left join lateral (
      select o.id, o.text, o.created_at from messages o
      where ins.id is null and o.chat_id = r.chat_id and o.sender_id = r.sender_id and o.client_id = r.client_id
      limit 1
    ) old on true`;

/** One statement: the new rows inserted (ids drawn in order), duplicates answered with the committed first copy. */
async function insertMessages(db: Db, msgs: readonly NewMessage[], pool: Pool | undefined): Promise<(Stored | AppError | undefined)[]> {
  // `allowed` reads the session rule of `sessionVerdict` in SQL (same user, not revoked, not yet
  // expired) because the insert itself must not happen otherwise; the answer of a refused row is
  // still that function's verdict on the facts read here.
  const values = [msgs.map((m) => m.chatId), msgs.map((m) => m.senderId), msgs.map((m) => m.text), msgs.map((m) => m.clientId ?? null), msgs.map((m) => m.sessionId ?? null)];
  // On the gateway's pool a named statement: parsed once per connection.
  const { rows } = pool
    ? await pool.query<StoredRow>({ name: "wsac_store_messages", text: INSERT_SQL, values })
    : await db.executeQuery<StoredRow>(CompiledQuery.raw(INSERT_SQL, values));
  const out = new Array<Stored | AppError | undefined>(msgs.length);
  const now = Date.now();
  for (const row of rows) {
    const k = row.i - 1;
    if (row.allowed) {
      if (row.id !== null) out[k] = { created: row.created, message: view(row as StoredRow & { id: string }) };
      continue;
    }
    if (!row.live) {
      const verdict = sessionVerdict(factsOfColumns(row), msgs[k]!.senderId, now);
      // "live" by this clock but not by the database's: it expired between the two readings.
      out[k] = sessionError(verdict === "live" ? "expired" : verdict);
      continue;
    }
    out[k] = !row.chat_exists ? new AppError("not_found", 404, "No such chat") : new AppError("chat_forbidden", 403, "You are not a member of this chat");
  }
  return out;
}

/** The stored message a duplicate `client_id` stands for. */
async function storedCopy(db: Db, msg: NewMessage): Promise<MessageView> {
  const row = await db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .where("m.chat_id", "=", msg.chatId)
    .where("m.sender_id", "=", msg.senderId)
    .where("m.client_id", "=", msg.clientId ?? null)
    .executeTakeFirstOrThrow();
  return view(row);
}

/** One stored message as clients see it (as `viewer` sees its reactions, when given), by id; undefined when it is gone. */
export async function findMessage(db: Db, id: string, viewer?: string, options: { blocks?: boolean } = {}): Promise<MessageView | undefined> {
  const row = await db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .select(reactionsSql(viewer, "m.id", options).as("reactions"))
    .where("m.id", "=", sql<string>`${id}::bigint`)
    .executeTakeFirst();
  return row && view(row);
}

/** Stores one message (see `storeMessages`); throws AppError `not_found` when the chat is gone. */
export async function storeMessage(db: Db, msg: NewMessage): Promise<Stored> {
  const [stored] = await storeMessages(db, [msg]);
  if (stored instanceof AppError) throw stored;
  return stored!;
}

/**
 * A page of history as `viewer` sees it: newest first, or oldest first when `after` is given
 * (catch-up order). Messages of senders the viewer blocks are left out; tombstones stay.
 */
export async function listMessages(db: Db, chatId: string, q: HistoryQuery, viewer?: string): Promise<MessageView[]> {
  let query = db
    .selectFrom("messages as m")
    .innerJoin("users", "users.id", "m.sender_id")
    .selectAll("m")
    .select("users.username")
    .select(reactionsSql(viewer).as("reactions"))
    .where("m.chat_id", "=", chatId);
  if (viewer !== undefined) query = query.where(sql<boolean>`not ${blockedSenderSql(viewer)}`);
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
