import type { ChatView, InviteView, MemberView, MessageView } from "../../shared/contracts";
import type { ControlBus } from "../../shared/control-bus";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/errors";
import { type HistoryQuery, listMessages, storeMessage } from "../../shared/messages";
import { findByUsernames } from "../accounts/accounts.repository";
import * as repo from "./chats.repository";

export interface ChatDeps {
  db: Db;
  bus: ControlBus;
}

const chatNotFound = () => new AppError("not_found", 404, "No such chat");

/** Only members see a chat; to anyone else it does not exist. */
async function requireMember(db: Db, chatId: string, userId: string) {
  const role = await repo.findRole(db, chatId, userId);
  if (!role) throw chatNotFound();
  return role;
}

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
  const chat = await deps.db.transaction().execute(async (trx) => {
    const row = await repo.insertChat(trx, name, userId);
    await repo.addMember(trx, row.id, userId, "owner");
    for (const u of users) if (u.id !== userId) await repo.upsertPendingInvite(trx, row.id, u.id, userId);
    return row;
  });
  return repo.chatView(chat);
}

export async function listChats(deps: ChatDeps, userId: string): Promise<ChatView[]> {
  return (await repo.listChatsOf(deps.db, userId)).map(repo.chatView);
}

export async function getChat(deps: ChatDeps, userId: string, chatId: string): Promise<{ chat: ChatView; members: MemberView[] }> {
  await requireMember(deps.db, chatId, userId);
  const chat = await repo.findChat(deps.db, chatId);
  if (!chat) throw chatNotFound();
  return { chat: repo.chatView(chat), members: await repo.listMembers(deps.db, chatId) };
}

export async function invite(deps: ChatDeps, userId: string, chatId: string, username: string): Promise<InviteView> {
  await requireMember(deps.db, chatId, userId);
  const [target] = await findByUsernames(deps.db, [username]);
  if (!target) throw new AppError("not_found", 404, "No such user");
  if (await repo.findRole(deps.db, chatId, target.id)) throw new AppError("already_member", 409, "That user is already a member");
  const id = await repo.upsertPendingInvite(deps.db, chatId, target.id, userId);
  return repo.getInvite(deps.db, id);
}

export async function listInvites(deps: ChatDeps, userId: string): Promise<InviteView[]> {
  return repo.listPendingInvites(deps.db, userId);
}

export async function acceptInvite(deps: ChatDeps, userId: string, inviteId: string): Promise<ChatView> {
  const chat = await deps.db.transaction().execute(async (trx) => {
    const answered = await repo.answerInvite(trx, inviteId, userId, "accepted");
    if (!answered) return undefined;
    await repo.addMember(trx, answered.chat_id, userId, "member");
    return repo.findChat(trx, answered.chat_id);
  });
  if (!chat) throw new AppError("not_found", 404, "No such pending invite");
  return repo.chatView(chat);
}

export async function declineInvite(deps: ChatDeps, userId: string, inviteId: string): Promise<void> {
  if (!(await repo.answerInvite(deps.db, inviteId, userId, "declined"))) throw new AppError("not_found", 404, "No such pending invite");
}

/** The owner removes anyone (itself included: ownership passes on); a member removes only itself. */
export async function removeMember(deps: ChatDeps, userId: string, chatId: string, targetId: string): Promise<void> {
  const role = await requireMember(deps.db, chatId, userId);
  if (targetId !== userId && role !== "owner") throw new AppError("forbidden", 403, "Only the owner can remove other members");
  const removed = await deps.db.transaction().execute(async (trx) => {
    const removedRole = await repo.removeMember(trx, chatId, targetId);
    if (removedRole === "owner") await repo.promoteOldestMember(trx, chatId);
    return removedRole;
  });
  if (!removed) throw new AppError("not_found", 404, "That user is not a member");
  await deps.bus.publish({ type: "member_removed", chat_id: chatId, user_id: targetId });
}

export async function history(deps: ChatDeps, userId: string, chatId: string, q: HistoryQuery): Promise<MessageView[]> {
  await requireMember(deps.db, chatId, userId);
  return listMessages(deps.db, chatId, q);
}

export async function postMessage(deps: ChatDeps, userId: string, chatId: string, text: string, clientId?: string): Promise<MessageView> {
  await requireMember(deps.db, chatId, userId);
  const { message, created } = await storeMessage(deps.db, { chatId, senderId: userId, text, clientId });
  if (created) await deps.bus.publish({ type: "message", message });
  return message;
}
