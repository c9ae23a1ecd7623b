import { z } from "zod";
import { LIMITS } from "../../shared/contracts";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/errors";
import { isMember, listMessages, storeMessage } from "../../shared/messages";
import { messageId, text, uuid } from "../../shared/validation";
import type { GatewayMetrics } from "../gateway.metrics";
import type { SessionControl } from "../sessions/session-control";
import { TokenBucket, serialQueue } from "../socket/flow";
import { handle, type HandleContext } from "../socket/handle";
import { type GatewayServer, type GatewaySocket, rooms } from "../socket/types";

const joinPayload = z.strictObject({ chat_id: uuid, after: messageId.optional() });
const leavePayload = z.strictObject({ chat_id: uuid });
const sendPayload = z.strictObject({
  chat_id: uuid,
  text: text(1, LIMITS.messageText),
  client_id: text(1, LIMITS.clientId).optional(),
});

export interface ChatHandlerDeps {
  io: GatewayServer;
  db: Db;
  control: SessionControl;
  metrics: GatewayMetrics;
  messageRate: { burst: number; perSecond: number };
  /** Told of each message this gateway broadcast (the outage replay skips those). */
  delivered: (messageId: string) => void;
}

const forbidden = () => new AppError("chat_forbidden", 403, "You are not a member of this chat");
const notInChat = () => new AppError("not_in_chat", 403, "Join the chat (chat:join) before sending to it");

/** `chat:join`, `chat:leave` and `message:send` for one socket. */
export function chatHandlers(socket: GatewaySocket, deps: ChatHandlerDeps, ctx: HandleContext): void {
  const bucket = new TokenBucket(deps.messageRate.burst, deps.messageRate.perSecond);
  const serial = serialQueue();
  const { userId } = socket.data;

  handle(
    socket,
    "chat:join",
    joinPayload,
    async ({ chat_id, after }) => {
      if (!(await isMember(deps.db, chat_id, userId))) throw forbidden();
      // Join before reading the history: a message stored meanwhile may arrive twice (clients
      // de-duplicate by id) but never falls in a gap.
      await socket.join(rooms.chat(chat_id));
      if (deps.control.removedMeanwhile(chat_id, userId)) {
        await socket.leave(rooms.chat(chat_id));
        throw forbidden();
      }
      const missed = after === undefined ? [] : await listMessages(deps.db, chat_id, { after, limit: LIMITS.historyMax });
      return { ok: true, chat_id, missed };
    },
    ctx,
  );

  handle(
    socket,
    "chat:leave",
    leavePayload,
    async ({ chat_id }) => {
      await socket.leave(rooms.chat(chat_id));
      return { ok: true };
    },
    ctx,
  );

  handle(
    socket,
    "message:send",
    sendPayload,
    ({ chat_id, text: body, client_id }) => {
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      if (!bucket.take()) throw new AppError("rate_limited", 429, "Too many messages; slow down");
      return serial(async () => {
        // The room says the socket joined; the database says whether it is still a member.
        if (!(await isMember(deps.db, chat_id, userId))) {
          deps.control.removeFromChat(socket, chat_id);
          throw notInChat();
        }
        const { message, created } = await storeMessage(deps.db, { chatId: chat_id, senderId: userId, text: body, clientId: client_id });
        if (created) {
          // Through the adapter: every gateway's sockets in the room, this one's included.
          deps.delivered(message.id);
          deps.io.to(rooms.chat(chat_id)).emit("message:new", message);
          deps.metrics.messages.inc({ source: "socket" });
        }
        return { ok: true as const, message };
      });
    },
    ctx,
  );
}
