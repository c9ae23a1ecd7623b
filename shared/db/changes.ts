import { CompiledQuery, sql } from "kysely";
import { AppError } from "../contract/errors";
import type { CatchUpPosition } from "../contract/validation";
import { type ChangeView, LIMITS, type MessageView, type ReactionView } from "../contract/views";
import { chatKey, emitWebhook } from "../webhooks/events";
import type { Db } from "./db";
import { findMessage, listMessages, messageViewOf, reactionsSql } from "./messages";
import type { ChangeType } from "./schema";

/**
 * What happens to stored messages after they are sent, for the api (HTTP) and the gateway
 * (sockets) alike: edits, deletions, reactions and read positions. Each change is written with a
 * row in `chat_changes` in the same transaction, so a reconnecting client catches up on it from
 * its cursor (`catchUp`), and the caller publishes the live event once it has committed.
 */

/** "48 h", "90 s": a window as people read it. */
const spokenDuration = (seconds: number) => (seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`);

const noSuchMessage = () => new AppError("not_found", 404, "No such message");
const notAMember = () => new AppError("chat_forbidden", 403, "You are not a member of this chat");

export interface MessageRef {
  chatId: string;
  messageId: string;
  /** Who acts: the editor, deleter, reactor. */
  userId: string;
}

interface Target {
  id: string;
  sender_id: string;
  created_at: Date;
  deleted_at: Date | null;
  role: "owner" | "member" | null;
}

/** The message (locked until the transaction ends) and the actor's role in its chat; 404 when it is not in that chat. */
async function lockTarget(trx: Db, ref: MessageRef): Promise<Target> {
  const row = await trx
    .selectFrom("messages as m")
    .leftJoin("chat_members as cm", (j) => j.onRef("cm.chat_id", "=", "m.chat_id").on("cm.user_id", "=", ref.userId))
    .select(["m.id", "m.sender_id", "m.created_at", "m.deleted_at", "cm.role"])
    .where("m.id", "=", sql<string>`${ref.messageId}::bigint`)
    .where("m.chat_id", "=", ref.chatId)
    .forUpdate("m")
    .executeTakeFirst();
  if (!row) throw noSuchMessage();
  if (row.role === null) throw notAMember();
  return row;
}

/**
 * Records a change of a message, in place of the row it supersedes: the message's earlier row of
 * the same type, or, for a deletion, all of its rows (a deletion ends its edits and reactions).
 * One row per message and type stays, as a catch-up's merge would keep (the cursor still works:
 * the new row has a later sequence number). Callers hold the message's row lock.
 */
async function recordChange(trx: Db, chatId: string, type: Exclude<ChangeType, "message:read">, messageId: string, userId: string): Promise<void> {
  // `type <> 'message:read'` in both cases: the partial index chat_changes_message_idx.
  let superseded = trx.deleteFrom("chat_changes").where("message_id", "=", sql<string>`${messageId}::bigint`).where("type", "<>", "message:read");
  if (type !== "message:deleted") superseded = superseded.where("type", "=", type);
  await superseded.execute();
  await trx.insertInto("chat_changes").values({ chat_id: chatId, type, message_id: messageId, user_id: userId }).execute();
}

/**
 * The sender edits its message's text within `windowSeconds` of sending it. Answers the message as
 * it is now (as the editor sees it). 403 `forbidden` for anyone else or after the window, 404 for a
 * deleted message.
 */
export async function editMessage(db: Db, ref: MessageRef & { text: string; windowSeconds: number }): Promise<Edited> {
  const id = await db.transaction().execute(async (trx) => {
    const target = await lockTarget(trx, ref);
    if (target.deleted_at) throw noSuchMessage();
    if (target.sender_id !== ref.userId) throw new AppError("forbidden", 403, "Only its sender may edit a message");
    if (Date.now() - target.created_at.getTime() > ref.windowSeconds * 1000) {
      throw new AppError("forbidden", 403, `A message may be edited for ${spokenDuration(ref.windowSeconds)} after it was sent`);
    }
    await trx.updateTable("messages").set({ text: ref.text, edited_at: sql`now()` }).where("id", "=", target.id).execute();
    await recordChange(trx, ref.chatId, "message:updated", target.id, ref.userId);
    const message = await findMessage(trx, target.id);
    await emitWebhook(trx, "message.updated", chatKey(ref.chatId), { message });
    return target.id;
  });
  const [message, broadcast] = await Promise.all([findMessage(db, id, ref.userId), findMessage(db, id, ref.userId, { blocks: false })]);
  return { message: message!, broadcast: broadcast! };
}

export interface Edited {
  /** The message now, as the editor sees it (its answer). */
  message: MessageView;
  /** The same for the room's `message:updated`: reactions counted for everyone, `me` the editor's. */
  broadcast: MessageView;
}

export interface Deleted {
  chat_id: string;
  message_id: string;
  /** False when it was deleted already (nothing changed, nothing to announce). */
  changed: boolean;
}

/**
 * Its sender or the chat's owner deletes a message: a tombstone (text and reactions gone, id and
 * place kept). Deleting a deleted message changes nothing. 403 `forbidden` for anyone else.
 */
export async function deleteMessage(db: Db, ref: MessageRef): Promise<Deleted> {
  return db.transaction().execute(async (trx) => {
    const target = await lockTarget(trx, ref);
    if (target.sender_id !== ref.userId && target.role !== "owner") throw new AppError("forbidden", 403, "Only its sender or the chat's owner may delete a message");
    const done = { chat_id: ref.chatId, message_id: target.id };
    if (target.deleted_at) return { ...done, changed: false };
    await trx.updateTable("messages").set({ text: null, deleted_at: sql`now()` }).where("id", "=", target.id).execute();
    await trx.deleteFrom("message_reactions").where("message_id", "=", target.id).execute();
    await recordChange(trx, ref.chatId, "message:deleted", target.id, ref.userId);
    await emitWebhook(trx, "message.deleted", chatKey(ref.chatId), { ...done, deleted_by: ref.userId });
    return { ...done, changed: true };
  });
}

export interface Reacted {
  /** The message's reactions now, as the reactor sees them. */
  reactions: ReactionView[];
  /** The same for the room's `message:reactions`: counted for everyone, `me` the reactor's. */
  broadcast: ReactionView[];
  /** False when the reaction was already there (or already gone): nothing to announce. */
  changed: boolean;
}

/**
 * Puts `emoji` on a message for the user (`on`) or takes it off. Bounded: at most
 * LIMITS.reactionsPerMessage different emoji on a message and LIMITS.reactionsPerUser of one user
 * (403 `forbidden` beyond); the message's row lock makes the bounds exact under concurrency.
 */
export async function react(db: Db, ref: MessageRef & { emoji: string; on: boolean }): Promise<Reacted> {
  return db.transaction().execute(async (trx) => {
    const target = await lockTarget(trx, ref);
    if (target.deleted_at) throw noSuchMessage();
    let changed: boolean;
    if (ref.on) {
      const counts = await trx
        .selectFrom("message_reactions")
        .select([
          sql<number>`count(distinct emoji)::int`.as("emoji"),
          sql<number>`count(*) filter (where user_id = ${ref.userId})::int`.as("mine"),
          sql<boolean>`coalesce(bool_or(emoji = ${ref.emoji}), false)`.as("present"),
          sql<boolean>`coalesce(bool_or(emoji = ${ref.emoji} and user_id = ${ref.userId}), false)`.as("already"),
        ])
        .where("message_id", "=", target.id)
        .executeTakeFirstOrThrow();
      if (!counts.already) {
        if (!counts.present && counts.emoji >= LIMITS.reactionsPerMessage) throw new AppError("forbidden", 403, `A message carries at most ${LIMITS.reactionsPerMessage} different emoji`);
        if (counts.mine >= LIMITS.reactionsPerUser) throw new AppError("forbidden", 403, `You may put at most ${LIMITS.reactionsPerUser} emoji on one message`);
      }
      const inserted = await trx.insertInto("message_reactions").values({ message_id: target.id, user_id: ref.userId, emoji: ref.emoji }).onConflict((c) => c.doNothing()).executeTakeFirst();
      changed = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0;
    } else {
      const deleted = await trx.deleteFrom("message_reactions").where("message_id", "=", target.id).where("user_id", "=", ref.userId).where("emoji", "=", ref.emoji).executeTakeFirst();
      changed = Number(deleted.numDeletedRows) > 0;
    }
    if (changed) await recordChange(trx, ref.chatId, "message:reactions", target.id, ref.userId);
    const { rows } = await sql<{ reactions: ReactionView[]; broadcast: ReactionView[] }>`
      select ${reactionsSql(ref.userId, "t.id")} as reactions, ${reactionsSql(ref.userId, "t.id", { blocks: false })} as broadcast
      from (select ${target.id}::bigint as id) t`.execute(trx);
    return { reactions: rows[0]?.reactions ?? [], broadcast: rows[0]?.broadcast ?? [], changed };
  });
}

export interface ReadMark {
  chatId: string;
  userId: string;
  messageId: string;
}

/** A read position as clients see it: a message id, or null before any ("0" in the table). */
export const readPosition = (readId: string): string | null => (readId === "0" ? null : readId);

export interface ReadResult extends ReadMark {
  /** The read position now (a message id, or "0" before any): never behind what it was. */
  position: string;
  /** The position moved: announce it. */
  moved: boolean;
  /** False when the user is no member of the chat (nothing was written). */
  member: boolean;
}

/**
 * $1 chat ids, $2 user ids, $3 message ids (one entry per chat and user). A position past the
 * chat's last message counts as its last message; a position behind the stored one changes nothing.
 */
const READ_SQL = `
  with r as (
    select r.chat_id, r.user_id, least(r.message_id, coalesce((select max(m.id) from messages m where m.chat_id = r.chat_id), 0)) as pos
    from unnest($1::uuid[], $2::uuid[], $3::bigint[]) as r(chat_id, user_id, message_id)
  ), upd as (
    update chat_members cm set read_id = r.pos from r
    where cm.chat_id = r.chat_id and cm.user_id = r.user_id and r.pos > cm.read_id
    returning cm.chat_id, cm.user_id, cm.read_id
  ), superseded as (
    delete from chat_changes c using upd
    where c.type = 'message:read' and c.chat_id = upd.chat_id and c.user_id = upd.user_id
  ), ch as (
    insert into chat_changes (chat_id, type, message_id, user_id)
    select chat_id, 'message:read', read_id, user_id from upd
  )
  select r.chat_id, r.user_id, coalesce(upd.read_id, cm.read_id)::text as position, upd.read_id is not null as moved, cm.user_id is not null as member
  from r
  left join upd on upd.chat_id = r.chat_id and upd.user_id = r.user_id
  left join chat_members cm on cm.chat_id = r.chat_id and cm.user_id = r.user_id`;

/**
 * Moves read positions forward, many in one statement (the gateway coalesces `chat:read`s into
 * one call a second); each move is recorded as a change, in place of the member's previous one.
 * Entries must name each (chat, user) once.
 */
export async function markRead(db: Db, marks: readonly ReadMark[]): Promise<ReadResult[]> {
  if (marks.length === 0) return [];
  const values = [marks.map((m) => m.chatId), marks.map((m) => m.userId), marks.map((m) => m.messageId)];
  const { rows } = await db.executeQuery<{ chat_id: string; user_id: string; position: string; moved: boolean; member: boolean }>(CompiledQuery.raw(READ_SQL, values));
  const byKey = new Map(rows.map((r) => [`${r.chat_id} ${r.user_id}`, r]));
  return marks.map((m) => {
    const row = byKey.get(`${m.chatId} ${m.userId}`);
    return { ...m, position: row?.position ?? "0", moved: row?.moved ?? false, member: row?.member ?? false };
  });
}

/** Where a chat stands now: its last message id and its last change (the cursor of an answer that carries nothing). */
export async function chatHeads(db: Db, chatId: string): Promise<CatchUpPosition> {
  const row = await sql<{ message: string; change: string }>`
    select coalesce((select max(id) from messages where chat_id = ${chatId}), 0)::text as message,
           coalesce((select max(seq) from chat_changes where chat_id = ${chatId}), 0)::text as change`.execute(db);
  return row.rows[0]!;
}

export interface CatchUp {
  missed: MessageView[];
  changes: ChangeView[];
  position: CatchUpPosition;
  /** Either list was cut short: ask again from `position`. */
  more: boolean;
}

/** Raw change rows read per catch-up before merging repeats (a bound on its work). */
const RAW_CHANGES = LIMITS.changesMax * 4;

interface ChangeRow {
  seq: string;
  type: ChangeType;
  message_id: string;
  user_id: string;
}

/** About what one message weighs in an answer: its text, plus ids, names, times and reactions. */
export const messageBytes = (m: MessageView) => Buffer.byteLength(m.text) + (m.client_id?.length ?? 0) + 320 + m.reactions.length * 48;

/** The first messages of `rows` that fit in `maxBytes` (at least one), at most `maxRows`, and whether any were left out. */
export function fitMessages(rows: MessageView[], maxRows: number, maxBytes: number): { missed: MessageView[]; more: boolean; bytes: number } {
  const missed: MessageView[] = [];
  let bytes = 0;
  for (const m of rows.slice(0, maxRows)) {
    if (bytes + messageBytes(m) > maxBytes && missed.length > 0) return { missed, more: true, bytes };
    bytes += messageBytes(m);
    missed.push(m);
  }
  return { missed, more: rows.length > maxRows, bytes };
}

const changeBytes = (c: ChangeView) => (c.type === "message:updated" ? messageBytes(c.data) : 160 + (c.type === "message:reactions" ? c.data.reactions.length * 48 : 0));

/**
 * What `viewer` missed in a chat since `from`: the new messages (oldest first, at most
 * `maxMessages`) and every change since, oldest first, each change once: repeats of the same change
 * (a message edited twice, one member's read position moved ten times) are merged into the latest,
 * rendered as things are now. Messages, reactions and changes by users the viewer blocks are left
 * out, as they are live. Both lists together stop short of `maxBytes` (about).
 */
export async function catchUp(db: Db, chatId: string, viewer: string, from: CatchUpPosition, limits: { maxMessages: number; maxBytes: number }): Promise<CatchUp> {
  const [rows, raw, blocked] = await Promise.all([
    listMessages(db, chatId, { after: from.message, limit: limits.maxMessages + 1 }, viewer),
    db
      .selectFrom("chat_changes")
      .select([sql<string>`seq::text`.as("seq"), "type", sql<string>`message_id::text`.as("message_id"), "user_id"])
      .where("chat_id", "=", chatId)
      .where("seq", ">", sql<string>`${from.change}::bigint`)
      .orderBy("chat_changes.seq")
      .limit(RAW_CHANGES)
      .execute() as Promise<ChangeRow[]>,
    db.selectFrom("user_blocks").select("blocked_id").where("blocker_id", "=", viewer).execute(),
  ]);
  const fit = fitMessages(rows, limits.maxMessages, limits.maxBytes);
  // The latest row of each change: a message's edits merge, as do its reaction changes and each member's reads.
  const latest = new Map<string, ChangeRow>();
  for (const row of raw) {
    const key = row.type === "message:read" ? `read ${row.user_id}` : `${row.type} ${row.message_id}`;
    latest.delete(key);
    latest.set(key, row);
  }
  const merged = [...latest.values()].slice(0, LIMITS.changesMax);
  const rendered = await renderChanges(db, chatId, viewer, merged, new Set(blocked.map((b) => b.blocked_id)));
  // Cut where the bytes run out; the cursor then stands at the last change kept, so the next call resumes there.
  const changes: ChangeView[] = [];
  let bytes = fit.bytes;
  let end = raw.length > 0 && merged.length === latest.size ? raw[raw.length - 1]!.seq : from.change;
  let cut = merged.length < latest.size;
  if (cut) end = merged[merged.length - 1]!.seq;
  for (const [k, r] of rendered.entries()) {
    if (bytes + changeBytes(r.change) > limits.maxBytes && (changes.length > 0 || fit.missed.length > 0)) {
      cut = true;
      end = k > 0 ? rendered[k - 1]!.seq : from.change;
      break;
    }
    bytes += changeBytes(r.change);
    changes.push(r.change);
  }
  return {
    missed: fit.missed,
    changes,
    position: { message: fit.missed.length > 0 ? fit.missed[fit.missed.length - 1]!.id : from.message, change: end },
    more: fit.more || raw.length === RAW_CHANGES || cut,
  };
}

/** Change rows as the live events they stand for, with things as they are now. */
async function renderChanges(db: Db, chatId: string, viewer: string, rows: ChangeRow[], blocked: Set<string>): Promise<{ seq: string; change: ChangeView }[]> {
  const messageIds = [...new Set(rows.filter((r) => r.type !== "message:read").map((r) => r.message_id))];
  const readers = [...new Set(rows.filter((r) => r.type === "message:read").map((r) => r.user_id))];
  const [messages, reads] = await Promise.all([
    messageIds.length === 0
      ? []
      : db
          .selectFrom("messages as m")
          .innerJoin("users", "users.id", "m.sender_id")
          .selectAll("m")
          .select("users.username")
          .select(reactionsSql(viewer).as("reactions"))
          .where("m.id", "in", messageIds.map((id) => sql<string>`${id}::bigint`))
          .where("m.chat_id", "=", chatId)
          .execute(),
    readers.length === 0
      ? []
      : db.selectFrom("chat_members").select(["user_id", sql<string>`read_id::text`.as("read_id")]).where("chat_id", "=", chatId).where("user_id", "in", readers).execute(),
  ]);
  const byId = new Map(messages.map((m) => [String(m.id), messageViewOf(m)]));
  const readOf = new Map(reads.map((r) => [r.user_id, r.read_id]));
  const out: { seq: string; change: ChangeView }[] = [];
  const push = (seq: string, change: ChangeView) => out.push({ seq, change });
  for (const row of rows) {
    if (blocked.has(row.user_id)) continue;
    if (row.type === "message:read") {
      const position = readOf.get(row.user_id);
      if (position !== undefined && position !== "0") push(row.seq, { type: "message:read", data: { chat_id: chatId, user_id: row.user_id, message_id: position } });
      continue;
    }
    const message = byId.get(row.message_id);
    if (!message || blocked.has(message.sender.id)) continue;
    // A deleted message is one deletion, told at its deletion's place: its earlier edits and reactions
    // are left out (the deletion row comes later, in this page or the next, as nothing follows a deletion).
    if (message.deleted) {
      if (row.type === "message:deleted") push(row.seq, { type: "message:deleted", data: { chat_id: chatId, message_id: message.id } });
      continue;
    }
    if (row.type === "message:updated") push(row.seq, { type: "message:updated", data: message });
    else if (row.type === "message:reactions") push(row.seq, { type: "message:reactions", data: { chat_id: chatId, message_id: message.id, reactions: message.reactions, user_id: viewer } });
  }
  return out;
}

/** A change as its live event, with who made it (the room gets it except for users who block them). */
export interface ReplayedChange {
  chatId: string;
  actorId: string;
  change: ChangeView;
}

/**
 * The changes of any of `chatIds` made since `from`, merged as in a catch-up (the latest of each)
 * and rendered as the live events they stand for, oldest first, at most `limit`: what a gateway cut
 * off from Redis sends its own sockets when it is back (the outage replay). Reactions carry the
 * reacting user's `me`, as live.
 */
export async function changesSince(db: Db, chatIds: string[], from: Date, limit: number): Promise<ReplayedChange[]> {
  if (chatIds.length === 0 || limit <= 0) return [];
  const raw = await db
    .selectFrom("chat_changes")
    .select(["chat_id", sql<string>`seq::text`.as("seq"), "type", sql<string>`message_id::text`.as("message_id"), "user_id"])
    .where("chat_id", "in", chatIds)
    .where("created_at", ">=", from)
    .orderBy("chat_changes.seq")
    .limit(limit)
    .execute();
  const latest = new Map<string, (typeof raw)[number]>();
  for (const row of raw) {
    const key = row.type === "message:read" ? `${row.chat_id} read ${row.user_id}` : `${row.type} ${row.message_id}`;
    latest.delete(key);
    latest.set(key, row);
  }
  const rows = [...latest.values()];
  if (rows.length === 0) return [];
  const { rows: states } = await sql<{ k: number; message: (MessageRowView & { reactions: ReactionView[] }) | null; actor_reactions: ReactionView[]; read_id: string | null }>`
    select r.k::int as k,
      (select to_json(v) from (
         select m.id::text as id, m.chat_id, m.sender_id, m.text, m.client_id, m.created_at, m.edited_at, m.deleted_at, u.username,
                ${reactionsSql(undefined)} as reactions
         from messages m join users u on u.id = m.sender_id where m.id = r.message_id) v) as message,
      coalesce((select json_agg(json_build_object('emoji', x.emoji, 'count', x.n, 'me', x.me) order by x.first, x.emoji) from (
         select e.emoji, count(*)::int as n, bool_or(e.user_id = r.user_id) as me, min(e.created_at) as first
         from message_reactions e where e.message_id = r.message_id group by e.emoji) x), '[]'::json) as actor_reactions,
      (select cm.read_id::text from chat_members cm where cm.chat_id = r.chat_id and cm.user_id = r.user_id) as read_id
    from unnest(${rows.map((r) => r.chat_id)}::uuid[], ${rows.map((r) => r.message_id)}::bigint[], ${rows.map((r) => r.user_id)}::uuid[]) with ordinality as r(chat_id, message_id, user_id, k)`.execute(db);
  const out: ReplayedChange[] = [];
  for (const state of states) {
    const row = rows[state.k - 1]!;
    const base = { chatId: row.chat_id, actorId: row.user_id };
    if (row.type === "message:read") {
      if (state.read_id && state.read_id !== "0") out.push({ ...base, change: { type: "message:read", data: { chat_id: row.chat_id, user_id: row.user_id, message_id: state.read_id } } });
      continue;
    }
    const m = state.message;
    if (!m) continue;
    const message = messageViewOf({ ...m, created_at: new Date(m.created_at), edited_at: m.edited_at ? new Date(m.edited_at) : null, deleted_at: m.deleted_at ? new Date(m.deleted_at) : null });
    if (message.deleted) {
      if (row.type === "message:deleted") out.push({ ...base, change: { type: "message:deleted", data: { chat_id: row.chat_id, message_id: message.id } } });
    } else if (row.type === "message:updated") out.push({ ...base, change: { type: "message:updated", data: message } });
    else if (row.type === "message:reactions") {
      out.push({ ...base, change: { type: "message:reactions", data: { chat_id: row.chat_id, message_id: message.id, reactions: state.actor_reactions, user_id: row.user_id } } });
    }
  }
  return out;
}

/** A message row as `to_json` gives it (times as strings). */
type MessageRowView = { id: string; chat_id: string; sender_id: string; text: string | null; client_id: string | null; created_at: string; edited_at: string | null; deleted_at: string | null; username: string };
