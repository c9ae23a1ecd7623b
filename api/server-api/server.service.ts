import { createHash } from "node:crypto";
import { sql } from "kysely";
import type { ServerAnswer } from "../../shared/contract/server";
import { SERVER_LIMITS } from "../../shared/contract/server";
import type { ChatView, LoginResult, MemberView, MessageView, PresenceView } from "../../shared/contract/views";
import { AppError } from "../../shared/contract/errors";
import { type ControlBus, publishUserNotice } from "../../shared/control/bus";
import { askGateways, type QueryReplies } from "../../shared/control/queries";
import type { Db } from "../../shared/db/db";
import { findMessage, storeMessage } from "../../shared/db/messages";
import type { UserRow } from "../../shared/db/schema";
import { banHolds, bannedError } from "../../shared/db/sessions";
import { type MessageOutlet, publishAppEvent, publishMessage } from "../../shared/delivery/publish";
import type { PresenceSnapshots } from "../../shared/presence/snapshots";
import { findById } from "../accounts/accounts.repository";
import * as chatsRepo from "../chats/chats.repository";
import { inviteClosed } from "../chats/chats.service";
import { chatView, memberView } from "../chats/chats.views";
import { endEverySession, openSession, type SessionDeps } from "../sessions/sessions.service";
import { memberAdded, memberRemoved, userRegistered } from "../../shared/webhooks/events";

/** The sender of server messages that name no bot (made by the server API's migration). */
export const SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000";
/** A ban without an end: stored as a date no one reaches (a plain timestamp, unlike 'infinity'). */
const FOREVER = new Date("9999-12-31T00:00:00Z");

export interface ServerDeps {
  db: Db;
  bus: ControlBus;
  outlet: MessageOutlet;
  presence: PresenceSnapshots;
  replies: QueryReplies;
  sessions: SessionDeps;
  /** WEBHOOK_ALLOW_PRIVATE: endpoints may point at internal addresses. */
  allowPrivateWebhooks: boolean;
}

const noChat = () => new AppError("not_found", 404, "No such chat");
const noUser = () => new AppError("not_found", 404, "No such user");

async function requireUser(db: Db, id: string): Promise<UserRow> {
  const user = id === SYSTEM_USER_ID ? undefined : await findById(db, id);
  if (!user) throw noUser();
  return user;
}

export const serverUserView = (u: UserRow): ServerAnswer<"user">["user"] => ({
  id: u.id,
  username: u.username,
  email: u.email,
  created_at: u.created_at.toISOString(),
  external_id: u.external_id,
  banned_until: u.banned_until && banHolds(u) ? u.banned_until.toISOString() : null,
  banned: banHolds(u),
});

const requestHash = (value: unknown) => createHash("sha256").update(JSON.stringify(value)).digest("hex");

/**
 * A stored message from a bot (`sender`: any user but the system one) or the system user, delivered
 * like any message. With an idempotency key, the first call stores and delivers; a retry within
 * 24 h with the same body returns that message (`replayed`) and delivers nothing; with another
 * body it is 409 `idempotency_conflict`. Concurrent retries wait on the first one's row.
 */
export async function postServerMessage(
  deps: ServerDeps,
  chatId: string,
  body: { text: string; sender?: string | undefined; idempotency_key?: string | undefined },
): Promise<{ message: MessageView; replayed: boolean }> {
  const senderId = body.sender ?? SYSTEM_USER_ID;
  if (body.sender !== undefined) await requireUser(deps.db, body.sender);
  if (body.idempotency_key === undefined) {
    // One statement: it checks that the chat exists (404 otherwise) and raises message.created itself.
    const { message } = await storeMessage(deps.db, { chatId, senderId, text: body.text });
    publishMessage(deps.outlet, message);
    return { message, replayed: false };
  }
  const hash = requestHash({ text: body.text, sender: senderId });
  const outcome = await deps.db.transaction().execute(async (trx) => {
    if (!(await chatsRepo.findChat(trx, chatId))) throw noChat();
    const key = body.idempotency_key;
    if (key !== undefined) {
      // A key older than its 24 h is forgotten: the call is a new one.
      await trx.deleteFrom("server_idempotency").where("chat_id", "=", chatId).where("key", "=", key)
        .where("created_at", "<", sql<Date>`now() - make_interval(hours => ${SERVER_LIMITS.idempotencyHours})`).execute();
      const claimed = await trx.insertInto("server_idempotency").values({ chat_id: chatId, key, request_hash: hash }).onConflict((oc) => oc.doNothing()).returning("key").executeTakeFirst();
      if (!claimed) {
        const first = await trx.selectFrom("server_idempotency").selectAll().where("chat_id", "=", chatId).where("key", "=", key).executeTakeFirstOrThrow();
        if (first.request_hash !== hash) throw new AppError("idempotency_conflict", 409, "This idempotency key was used with another body");
        const kept = first.message_id ? await findMessage(trx, first.message_id) : undefined;
        if (!kept) throw new AppError("idempotency_conflict", 409, "The message of this idempotency key is gone");
        return { replayed: true as const, message: kept };
      }
    }
    const { message } = await storeMessage(trx, { chatId, senderId, text: body.text });
    if (key !== undefined) await trx.updateTable("server_idempotency").set({ message_id: message.id }).where("chat_id", "=", chatId).where("key", "=", key).execute();
    return { replayed: false as const, message };
  });
  if (!outcome.replayed) publishMessage(deps.outlet, outcome.message);
  return outcome;
}

/** An app event to the chat's room: not stored, at most 16 KiB of data. */
export async function publishServerEvent(deps: ServerDeps, chatId: string, body: { event: string; data?: unknown }): Promise<void> {
  const size = Buffer.byteLength(JSON.stringify(body.data ?? null));
  if (size > SERVER_LIMITS.appEventBytes) throw new AppError("payload_too_large", 413, `An app event's data is limited to ${SERVER_LIMITS.appEventBytes} bytes`);
  if (!(await chatsRepo.findChat(deps.db, chatId))) throw noChat();
  publishAppEvent(deps.outlet, chatId, body.event, body.data ?? null);
}

/**
 * Creates or updates the user the app knows by `externalId`. Such users have no password (they
 * cannot use /login): the app opens their sessions (`openUserSession`). A username or email of
 * another account is 409 `username_taken` / `email_taken`.
 */
export async function upsertUser(deps: ServerDeps, externalId: string, body: { username: string; email?: string | undefined }): Promise<{ user: UserRow; created: boolean }> {
  const attempt = () =>
    deps.db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom("users").selectAll().where("external_id", "=", externalId).forUpdate().executeTakeFirst();
      if (existing) {
        const user = await trx.updateTable("users").set({ username: body.username, ...(body.email !== undefined ? { email: body.email } : {}) }).where("id", "=", existing.id).returningAll().executeTakeFirstOrThrow();
        return { user, created: false };
      }
      const user = await trx.insertInto("users").values({ username: body.username, email: body.email ?? null, password_hash: null, external_id: externalId }).returningAll().executeTakeFirstOrThrow();
      await userRegistered(trx, user);
      return { user, created: true };
    });
  const constraintOf = (err: unknown) => (err as { constraint?: string }).constraint;
  try {
    // Two first calls for one id at once: the one that lost the insert finds the other's row.
    return await attempt().catch((err: unknown) => (constraintOf(err) === "users_external_id_key" ? attempt() : Promise.reject(err)));
  } catch (err) {
    if (constraintOf(err) === "users_username_lower_key") throw new AppError("username_taken", 409, "That username belongs to another account");
    if (constraintOf(err) === "users_email_lower_key") throw new AppError("email_taken", 409, "That email belongs to another account");
    throw err;
  }
}

/** A session of any user but the system one, answered like /login; 403 `account_banned` while a ban holds. */
export async function openUserSession(deps: ServerDeps, userId: string, body: { user_agent?: string | undefined; ttl?: number | undefined }, ip: string | null): Promise<LoginResult> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const user = await requireUser(deps.db, userId);
    if (banHolds(user)) throw bannedError();
    const result = await openSession(deps.sessions, user, { userAgent: body.user_agent ?? null, ip, ttlSeconds: body.ttl });
    if (result) return result;
    // The user's epoch moved (a ban, a disconnect) while the session was being made: read again.
  }
  throw new AppError("unavailable", 503, "The user's sessions kept changing; retry");
}

/** Every session of the user revoked and every socket ended, as for a revocation (§3 of the contract). */
export async function disconnectUser(deps: ServerDeps, userId: string): Promise<void> {
  await requireUser(deps.db, userId);
  await endEverySession(deps.sessions, userId, "disconnected_by_server");
}

/** A ban until `until` (or until lifted): every session ends, and login, refresh, sessions and handshakes are refused meanwhile. */
export async function banUser(deps: ServerDeps, userId: string, body: { until?: string | undefined; reason?: string | undefined }): Promise<UserRow> {
  await requireUser(deps.db, userId);
  const until = body.until ? new Date(body.until) : FOREVER;
  if (until.getTime() <= Date.now()) throw new AppError("invalid_body", 400, "The body is invalid", { errors: [{ field: "until", message: "must be in the future" }] });
  await endEverySession(deps.sessions, userId, "banned", { ban: { until, reason: body.reason ?? null } });
  return requireUser(deps.db, userId);
}

export async function unbanUser(deps: ServerDeps, userId: string): Promise<UserRow> {
  await requireUser(deps.db, userId);
  await deps.db.updateTable("users").set({ banned_until: null, ban_reason: null }).where("id", "=", userId).execute();
  return requireUser(deps.db, userId);
}

async function chatAnswer(db: Db, chatId: string): Promise<{ chat: ChatView; members: MemberView[] }> {
  const chat = await chatsRepo.findChat(db, chatId);
  if (!chat) throw noChat();
  return { chat: chatView(chat), members: (await chatsRepo.listMembers(db, chatId)).map(memberView) };
}

const unknownUsers = (ids: string[]) =>
  new AppError("invalid_body", 400, "Some users do not exist", { errors: ids.map((id) => ({ field: "members", message: `no user ${id}` })) });

/** A chat the app manages: its members are added at once (no invites); the owner is `owner`, else the first member, else the system user. */
export async function createServerChat(deps: ServerDeps, body: { name: string; members: string[]; owner?: string | undefined }): Promise<{ chat: ChatView; members: MemberView[] }> {
  const members = [...new Set(body.members.map((m) => m.toLowerCase()))].filter((m) => m !== SYSTEM_USER_ID);
  const owner = body.owner?.toLowerCase() ?? members[0] ?? SYSTEM_USER_ID;
  const wanted = [...new Set([owner, ...members])].filter((m) => m !== SYSTEM_USER_ID);
  const found = wanted.length === 0 ? [] : await deps.db.selectFrom("users").select("id").where("id", "in", wanted).execute();
  const missing = wanted.filter((id) => !found.some((f) => f.id === id));
  if (missing.length > 0) throw unknownUsers(missing);
  const chatId = await deps.db.transaction().execute(async (trx) => {
    const chat = await chatsRepo.insertChat(trx, body.name, owner);
    await chatsRepo.addMember(trx, chat.id, owner, "owner");
    if (owner !== SYSTEM_USER_ID) await memberAdded(trx, chat.id, owner, "owner");
    for (const m of members) {
      if (m === owner) continue;
      await chatsRepo.addMember(trx, chat.id, m, "member");
      await memberAdded(trx, chat.id, m, "member");
    }
    return chat.id;
  });
  const answer = await chatAnswer(deps.db, chatId);
  for (const m of answer.members) await publishUserNotice(deps.bus, m.user_id, { event: "chat:added", payload: answer.chat });
  return answer;
}

/** Adds a member at once (a pending invite of the user to the chat is answered by it); 409 `already_member`. */
export async function addServerMember(deps: ServerDeps, chatId: string, userId: string): Promise<MemberView> {
  await requireUser(deps.db, userId);
  await deps.db.transaction().execute(async (trx) => {
    if (!(await chatsRepo.lockChat(trx, chatId))) throw noChat();
    if (await chatsRepo.findRole(trx, chatId, userId)) throw new AppError("already_member", 409, "That user is already a member");
    await chatsRepo.addMember(trx, chatId, userId, "member");
    await memberAdded(trx, chatId, userId, "member");
    await trx.updateTable("invites").set({ status: "accepted", responded_at: new Date() }).where("chat_id", "=", chatId).where("user_id", "=", userId).where("status", "=", "pending").execute();
  });
  const member = (await chatsRepo.listMembers(deps.db, chatId)).find((m) => m.user_id === userId);
  const chat = await chatsRepo.findChat(deps.db, chatId);
  if (!member || !chat) throw noChat();
  await publishUserNotice(deps.bus, userId, { event: "chat:added", payload: chatView(chat) });
  return memberView(member);
}

/**
 * Removes a member, with the live effects of the user call: its sockets leave the room on every
 * gateway and get `chat:removed`; its invites are cancelled; an owner's role passes on; the last
 * member's leaving deletes the chat.
 */
export async function removeServerMember(deps: ServerDeps, chatId: string, userId: string): Promise<void> {
  let cancelled: { id: string; user_id: string }[] = [];
  await deps.db.transaction().execute(async (trx) => {
    if (!(await chatsRepo.lockChat(trx, chatId))) throw noChat();
    const removedRole = await chatsRepo.removeMember(trx, chatId, userId);
    if (!removedRole) throw new AppError("not_found", 404, "That user is not a member");
    await memberRemoved(trx, chatId, userId);
    cancelled = await chatsRepo.cancelInvitesFrom(trx, chatId, userId);
    if ((await chatsRepo.countMembers(trx, chatId)) === 0) return chatsRepo.deleteChat(trx, chatId);
    if (removedRole === "owner" && (await chatsRepo.promoteOldestMember(trx, chatId)) !== 1) throw new Error(`chat ${chatId} would be left without an owner`);
  });
  await deps.bus.publish({ type: "member_removed", chat_id: chatId, user_id: userId });
  await inviteClosed(deps.bus, cancelled, chatId, "cancelled");
}

export async function serverChatPresence(deps: ServerDeps, chatId: string): Promise<PresenceView> {
  const [chat, list] = await Promise.all([chatsRepo.findChat(deps.db, chatId), deps.presence.list(chatId)]);
  if (!chat) throw noChat();
  return { chat_id: chatId, ...list };
}

/** Where the user is connected now: every gateway answers about its own sockets. */
export async function userPresence(deps: ServerDeps, userId: string): Promise<ServerAnswer<"userPresence">> {
  await requireUser(deps.db, userId);
  const replies = await askGateways(deps.bus, deps.replies, { kind: "user", user_id: userId });
  const sockets = replies.reduce((n, r) => n + r.sockets, 0);
  return { user_id: userId, online: sockets > 0, sockets, chats: [...new Set(replies.flatMap((r) => r.chats))].sort(), gateways_answered: replies.length };
}

export async function clusterStats(deps: ServerDeps): Promise<ServerAnswer<"stats">> {
  const replies = await askGateways(deps.bus, deps.replies, { kind: "stats" });
  const gateways = replies
    .map((r) => ({ id: r.gateway, connections: r.connections, chats: r.chat_count, messages_per_second: r.messages_per_second }))
    .sort((a, b) => a.id.localeCompare(b.id));
  return {
    gateways,
    connections: gateways.reduce((n, g) => n + g.connections, 0),
    chats_online: gateways.reduce((n, g) => n + g.chats, 0),
    messages_per_second: Math.round(gateways.reduce((n, g) => n + g.messages_per_second, 0) * 100) / 100,
  };
}
