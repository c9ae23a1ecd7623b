import { AppError } from "../../shared/contract/errors";
import type { MessageView, ReactionView } from "../../shared/contract/views";
import { deleteMessage as deleteStored, editMessage as editStored, markRead, react as reactStored, readPosition } from "../../shared/db/changes";
import { publishChange } from "../../shared/delivery/publish";
import { publishReadNotice } from "../../shared/control/bus";
import { type ChatDeps, requireMember } from "./chats.service";

/**
 * The HTTP side of what happens to messages after they are sent (the gateway's socket events do
 * the same through shared/db/changes.ts): each call is checked (member, limits), written with its
 * change row, then published to the chat's room once committed.
 */

/** A chat-forbidden from the shared layer means the caller left meanwhile: to HTTP the chat does not exist. */
const asHttp = (err: unknown): never => {
  if (err instanceof AppError && err.code === "chat_forbidden") throw new AppError("not_found", 404, "No such chat");
  throw err;
};

/** `PUT /chats/:id/read`: the caller's read position moves forward (never back); answered with where it stands now. */
export async function markChatRead(deps: ChatDeps, userId: string, chatId: string, messageId: string): Promise<{ chat_id: string; message_id: string | null }> {
  await requireMember(deps.db, chatId, userId);
  const [result] = await markRead(deps.db, [{ chatId, userId, messageId }]);
  if (!result?.member) throw new AppError("not_found", 404, "No such chat");
  if (result.moved) {
    const payload = { chat_id: chatId, user_id: userId, message_id: result.position };
    publishChange(deps.outlet, chatId, userId, "message:read", payload);
    await publishReadNotice(deps.bus, payload);
  }
  return { chat_id: chatId, message_id: readPosition(result.position) };
}

/** `PATCH /chats/:id/messages/:mid`: the sender edits within the edit window. */
export async function editMessage(deps: ChatDeps, userId: string, chatId: string, messageId: string, text: string): Promise<MessageView> {
  await requireMember(deps.db, chatId, userId);
  await deps.changeLimit.take(userId);
  const { message, broadcast } = await editStored(deps.db, { chatId, messageId, userId, text, windowSeconds: deps.editWindow }).catch(asHttp);
  publishChange(deps.outlet, chatId, userId, "message:updated", broadcast);
  return message;
}

/** `DELETE /chats/:id/messages/:mid`: the sender or the chat's owner; a tombstone stays. */
export async function deleteMessage(deps: ChatDeps, userId: string, chatId: string, messageId: string): Promise<void> {
  await requireMember(deps.db, chatId, userId);
  await deps.changeLimit.take(userId);
  const deleted = await deleteStored(deps.db, { chatId, messageId, userId }).catch(asHttp);
  if (deleted.changed) publishChange(deps.outlet, chatId, userId, "message:deleted", { chat_id: chatId, message_id: deleted.message_id });
}

/** `POST /chats/:id/messages/:mid/reactions`: an emoji on or off; answered with the message's reactions as the caller sees them. */
export async function reactToMessage(
  deps: ChatDeps,
  userId: string,
  chatId: string,
  messageId: string,
  emoji: string,
  on: boolean,
): Promise<{ chat_id: string; message_id: string; reactions: ReactionView[] }> {
  await requireMember(deps.db, chatId, userId);
  await deps.changeLimit.take(userId);
  const { reactions, broadcast, changed } = await reactStored(deps.db, { chatId, messageId, userId, emoji, on }).catch(asHttp);
  if (changed) publishChange(deps.outlet, chatId, userId, "message:reactions", { chat_id: chatId, message_id: messageId, reactions: broadcast, user_id: userId });
  return { chat_id: chatId, message_id: messageId, reactions };
}
