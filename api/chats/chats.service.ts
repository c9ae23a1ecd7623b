import { type MessageOutlet, publishMessage } from "../../shared/delivery/publish";
import type { ChatSummaryView, ChatView, InvitePage, InviteView, MemberView, MessageView, PresenceView } from "../../shared/contract/views";
import { type ControlBus, publishUserNotice } from "../../shared/control/bus";
import type { Db } from "../../shared/db/db";
import type { ChatRole } from "../../shared/db/schema";
import { AppError } from "../../shared/contract/errors";
import type { MessageLimit } from "../../shared/limits/message-limit";
import type { ChangeLimit } from "../../shared/limits/change-limit";
import type { PresenceSnapshots } from "../../shared/presence/snapshots";
import { listMessages, storeMessage } from "../../shared/db/messages";
import type { HistoryQuery } from "../../shared/contract/requests";
import { findByUsernames } from "../accounts/accounts.repository";
import type { ChatLimits } from "./chats.limits";
import * as repo from "./chats.repository";
import { blockersAmong } from "../moderation/blocks.service";
import { chatSummaryView, chatView, inviteView, memberView } from "./chats.views";
import { inviteCreated, memberAdded, memberRemoved } from "../../shared/webhooks/events";

export interface ChatDeps {
  db: Db;
  bus: ControlBus;
  /** Where stored messages go to the chats' sockets (publishMessage): the adapter's Redis, or npm start's own gateway. */
  outlet: MessageOutlet;
  /** Messages per user, shared with the gateways' `message:send`. */
  messageLimit: MessageLimit;
  /** Chats and invites per user (across the cluster), and the per-invitee bounds. */
  limits: ChatLimits;
  /** Who is online in which chat (the gateways write it), read through this process's snapshots. */
  presence: PresenceSnapshots;
  /** Edits, deletions, reactions and reports per user, shared with the gateways. */
  changeLimit: ChangeLimit;
  /** Seconds after sending during which a message's sender may edit it. */
  editWindow: number;
}

const chatNotFound = () => new AppError("not_found", 404, "No such chat");
const noPendingInvite = () => new AppError("not_found", 404, "No such pending invite");

/** Only members see a chat; to anyone else it does not exist. */
export async function requireMember(db: Db, chatId: string, userId: string): Promise<ChatRole> {
  const role = await repo.findRole(db, chatId, userId);
  if (!role) throw chatNotFound();
  return role;
}

/**
 * Runs a membership change of one chat in a transaction that holds the chat's row lock: changes
 * of one chat are serialised (two at once never leave it without an owner, an invite is never
 * accepted after its inviter left). 404 when the chat is gone.
 */
function underChatLock<T>(db: Db, chatId: string, change: (trx: Db) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    if (!(await repo.lockChat(trx, chatId))) throw chatNotFound();
    return change(trx);
  });
}

const tooManyInvites = (usernames: string[]) =>
  new AppError("too_many_invites", 409, usernames.length === 1 ? "That user has too many pending invites" : "Some members have too many pending invites", {
    errors: usernames.map((u) => ({ field: "members", message: `${u} has too many pending invites` })),
  });

/**
 * Holds the invitees' locks (until the transaction ends) and refuses the whole call when one of
 * them already holds the most pending invites allowed.
 */
async function reserveInvitees(deps: ChatDeps, trx: Db, invitees: { id: string; username: string }[]): Promise<void> {
  const ids = invitees.map((u) => u.id);
  await repo.lockInvitees(trx, ids);
  const pending = await repo.countPendingInvites(trx, ids);
  const full = invitees.filter((u) => (pending.get(u.id) ?? 0) >= deps.limits.maxPendingPerInvitee);
  if (full.length > 0) throw tooManyInvites(full.map((u) => u.username));
}

/**
 * A new chat, owned by the caller, with a pending invite for each listed user: one chat and one
 * invite per invited user counted against the caller's limits, and refused as a whole (nothing
 * created, nothing counted) when a member is unknown or holds too many pending invites.
 */
export async function createChat(deps: ChatDeps, userId: string, name: string, members: string[]): Promise<ChatView> {
  const wanted = [...new Map(members.map((m) => [m.toLowerCase(), m])).values()];
  const users = await findByUsernames(deps.db, wanted);
  const found = new Set(users.map((u) => u.username.toLowerCase()));
  const unknown = wanted.filter((m) => !found.has(m.toLowerCase()));
  if (unknown.length > 0) {
    throw new AppError("invalid_body", 400, "Some members do not exist", {
      errors: unknown.map((u) => ({ field: "members", message: `no user named ${u}` })),
    });
  }
  const invitees = users.filter((u) => u.id !== userId);
  const blockers = await blockersAmong(deps.db, userId, invitees.map((u) => u.id));
  if (blockers.size > 0) {
    throw new AppError("forbidden", 403, "Some members do not accept invites from you", {
      errors: invitees.filter((u) => blockers.has(u.id)).map((u) => ({ field: "members", message: `${u.username} does not accept invites from you` })),
    });
  }
  const invites: { id: string; userId: string }[] = [];
  const chat = await deps.limits.spend(userId, { chats: 1, invites: invitees.length }, () =>
    deps.db.transaction().execute(async (trx) => {
      await reserveInvitees(deps, trx, invitees);
      const row = await repo.insertChat(trx, name, userId);
      await repo.addMember(trx, row.id, userId, "owner");
      await memberAdded(trx, row.id, userId, "owner");
      for (const u of invitees) {
        const inviteId = await repo.upsertPendingInvite(trx, row.id, u.id, userId);
        await inviteCreated(trx, { id: inviteId, chatId: row.id, userId: u.id, inviterId: userId });
        invites.push({ id: inviteId, userId: u.id });
      }
      return row;
    }),
  );
  for (const i of invites) await tellInvitee(deps, i.userId, i.id);
  // The creator's other devices list the new chat at once.
  await publishUserNotice(deps.bus, userId, { event: "chat:added", payload: chatView(chat) });
  return chatView(chat);
}

/** `GET /chats`: every chat of the caller with its unread count and last message, in one query. */
export async function listChats(deps: ChatDeps, userId: string): Promise<ChatSummaryView[]> {
  return (await repo.listChatSummaries(deps.db, userId)).map(chatSummaryView);
}

/** The chat's users online anywhere in the cluster: the count and up to 1000 of them (members only). */
export async function presence(deps: ChatDeps, userId: string, chatId: string): Promise<PresenceView> {
  // Both at once (the list is not sent unless the caller is a member): one round trip less.
  const [, list] = await Promise.all([requireMember(deps.db, chatId, userId), deps.presence.list(chatId)]);
  return { chat_id: chatId, ...list };
}

export async function getChat(deps: ChatDeps, userId: string, chatId: string): Promise<{ chat: ChatView; members: MemberView[] }> {
  await requireMember(deps.db, chatId, userId);
  const chat = await repo.findChat(deps.db, chatId);
  if (!chat) throw chatNotFound();
  return { chat: chatView(chat), members: (await repo.listMembers(deps.db, chatId)).map(memberView) };
}

/**
 * Any member invites; under the chat's lock, so an inviter being removed meanwhile leaves no
 * pending invite behind. One invite counted against the caller's limit (given back when refused).
 * Inviting a user who has a pending invite to the chat returns that invite. Refused: 429 while the
 * user's decline of this inviter's invite to this chat is recent, 409 `too_many_invites` when the
 * user holds the most pending invites allowed.
 */
export async function invite(deps: ChatDeps, userId: string, chatId: string, username: string): Promise<InviteView> {
  const [target] = await findByUsernames(deps.db, [username]);
  let created = false;
  const id = await deps.limits.spend(userId, { invites: 1 }, () =>
    underChatLock(deps.db, chatId, async (trx) => {
      await requireMember(trx, chatId, userId);
      if (!target) throw new AppError("not_found", 404, "No such user");
      if ((await blockersAmong(trx, userId, [target.id])).size > 0) throw new AppError("forbidden", 403, "That user does not accept invites from you");
      if (await repo.findRole(trx, chatId, target.id)) throw new AppError("already_member", 409, "That user is already a member");
      const wait = await repo.declineCooldownLeft(trx, chatId, target.id, userId, deps.limits.declineCooldown);
      if (wait !== undefined) throw new AppError("rate_limited", 429, "That user declined your invite to this chat; you may invite them again later", {}, wait);
      const pending = await repo.findPendingInvite(trx, chatId, target.id);
      if (pending) return pending;
      await reserveInvitees(deps, trx, [target]);
      const inviteId = await repo.upsertPendingInvite(trx, chatId, target.id, userId);
      await inviteCreated(trx, { id: inviteId, chatId, userId: target.id, inviterId: userId });
      created = true;
      return inviteId;
    }),
  );
  const view = inviteView(await repo.getInvite(deps.db, id));
  if (created && target) await publishUserNotice(deps.bus, target.id, { event: "invite:new", payload: view });
  return view;
}

export type { InvitePage };

/** One page of a list of pending invites, oldest first; 400 when `after` is not an invite of that list. */
async function invitePage(deps: ChatDeps, scope: repo.InviteScope, page: repo.InvitePageQuery): Promise<InvitePage> {
  if (page.after !== undefined && !(await repo.isInviteOf(deps.db, page.after, scope))) {
    throw new AppError("invalid_body", 400, "The query is invalid", { errors: [{ field: "after", message: "must be the id of an invite of this list" }] });
  }
  const rows = await repo.listPendingInvites(deps.db, scope, page);
  return { invites: rows.slice(0, page.limit).map(inviteView), has_more: rows.length > page.limit };
}

/** `GET /invites`: the caller's pending invites. */
export async function listInvites(deps: ChatDeps, userId: string, page: repo.InvitePageQuery): Promise<InvitePage> {
  return invitePage(deps, { user_id: userId }, page);
}

/** `GET /chats/:id/invites`: the chat's pending invites, for its members. */
export async function listChatInvites(deps: ChatDeps, userId: string, chatId: string, page: repo.InvitePageQuery): Promise<InvitePage> {
  await requireMember(deps.db, chatId, userId);
  return invitePage(deps, { chat_id: chatId }, page);
}

/** Accepting needs the invite to be pending when the chat's lock is held (its inviter may have left meanwhile: 404). */
export async function acceptInvite(deps: ChatDeps, userId: string, inviteId: string): Promise<ChatView> {
  const found = await repo.findInvite(deps.db, inviteId);
  if (!found || found.user_id !== userId || found.status !== "pending") throw noPendingInvite();
  const chat = await underChatLock(deps.db, found.chat_id, async (trx) => {
    const answered = await repo.answerInvite(trx, inviteId, userId, "accepted");
    if (!answered) throw noPendingInvite();
    await repo.addMember(trx, answered.chat_id, userId, "member");
    await memberAdded(trx, answered.chat_id, userId, "member");
    return repo.findChat(trx, answered.chat_id);
  }).catch((err: unknown) => {
    // The chat was deleted (its last member left) after the invite was read.
    if (err instanceof AppError && err.code === "not_found") throw noPendingInvite();
    throw err;
  });
  if (!chat) throw noPendingInvite();
  // The user's other devices list the chat at once, and drop the invite.
  await publishUserNotice(deps.bus, userId, { event: "chat:added", payload: chatView(chat) });
  await inviteClosed(deps.bus, [{ id: inviteId, user_id: userId }], chat.id, "accepted");
  return chatView(chat);
}

/**
 * `invite:closed` to every socket of each invitee (after the change committed), so that a list of
 * pending invites on any device drops them without a reload.
 */
export async function inviteClosed(bus: ControlBus, invites: readonly { id: string; user_id: string }[], chatId: string, status: "accepted" | "declined" | "cancelled"): Promise<void> {
  await Promise.all(invites.map((i) => publishUserNotice(bus, i.user_id, { event: "invite:closed", payload: { id: i.id, chat_id: chatId, status } })));
}

/** `invite:new` to every socket of the invitee (after the invite committed). */
async function tellInvitee(deps: ChatDeps, inviteeId: string, inviteId: string): Promise<void> {
  await publishUserNotice(deps.bus, inviteeId, { event: "invite:new", payload: inviteView(await repo.getInvite(deps.db, inviteId)) });
}

export async function declineInvite(deps: ChatDeps, userId: string, inviteId: string): Promise<void> {
  const declined = await repo.answerInvite(deps.db, inviteId, userId, "declined");
  if (!declined) throw noPendingInvite();
  await inviteClosed(deps.bus, [{ id: inviteId, user_id: userId }], declined.chat_id, "declined");
}

/** `DELETE /invites/:id`: its inviter or the chat's owner withdraws a pending invite; 404 for anyone else. */
export async function withdrawInvite(deps: ChatDeps, userId: string, inviteId: string): Promise<void> {
  const found = await repo.findInvite(deps.db, inviteId);
  if (!found || found.status !== "pending") throw noPendingInvite();
  const allowed = found.inviter_id === userId || (await repo.findRole(deps.db, found.chat_id, userId)) === "owner";
  const cancelled = allowed ? await repo.cancelInvite(deps.db, inviteId) : undefined;
  if (!cancelled) throw noPendingInvite();
  await inviteClosed(deps.bus, [cancelled], found.chat_id, "cancelled");
}

/**
 * The owner removes anyone (itself included: ownership passes to the longest-standing member); a
 * member removes only itself. The invites the removed member sent are cancelled; when nobody is
 * left the chat is deleted with its invites and messages. All under the chat's lock.
 */
export async function removeMember(deps: ChatDeps, userId: string, chatId: string, targetId: string): Promise<void> {
  let cancelled: { id: string; user_id: string }[] = [];
  await underChatLock(deps.db, chatId, async (trx) => {
    const role = await requireMember(trx, chatId, userId);
    if (targetId !== userId && role !== "owner") throw new AppError("forbidden", 403, "Only the owner can remove other members");
    const removedRole = await repo.removeMember(trx, chatId, targetId);
    if (!removedRole) throw new AppError("not_found", 404, "That user is not a member");
    await memberRemoved(trx, chatId, targetId);
    cancelled = await repo.cancelInvitesFrom(trx, chatId, targetId);
    if ((await repo.countMembers(trx, chatId)) === 0) return repo.deleteChat(trx, chatId);
    // Never leave a chat without an owner: the promotion must have found its member, or nothing commits.
    if (removedRole === "owner" && (await repo.promoteOldestMember(trx, chatId)) !== 1) {
      throw new Error(`chat ${chatId} would be left without an owner`);
    }
  });
  await deps.bus.publish({ type: "member_removed", chat_id: chatId, user_id: targetId });
  await inviteClosed(deps.bus, cancelled, chatId, "cancelled");
}

export async function history(deps: ChatDeps, userId: string, chatId: string, q: HistoryQuery): Promise<MessageView[]> {
  await requireMember(deps.db, chatId, userId);
  return listMessages(deps.db, chatId, q, userId);
}

export async function postMessage(deps: ChatDeps, userId: string, chatId: string, text: string, clientId?: string): Promise<MessageView> {
  await requireMember(deps.db, chatId, userId);
  await deps.messageLimit.take(userId);
  const { message, created } = await storeMessage(deps.db, { chatId, senderId: userId, text, clientId });
  if (created) publishMessage(deps.outlet, message);
  return message;
}
