import { z } from "zod";
import { LIMITS } from "../../shared/contracts";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/errors";
import { isMember, listMessages, storeMessage } from "../../shared/messages";
import { messageId, text, uuid } from "../../shared/validation";
import type { GatewayMetrics } from "../gateway.metrics";
import type { SessionControl } from "../sessions/session-control";
import { TokenBucket, serialQueue } from "../socket/flow";
import { type EventListener, type HandleContext, listener } from "../socket/handle";
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

/**
 * `chat:join`, `chat:leave` and `message:send`, shared by every socket. A socket's send state
 * (rate bucket, ordering queue) is made at its first send: idle sockets carry none.
 */
export function chatHandlers(deps: ChatHandlerDeps, ctx: HandleContext): [string, EventListener][] {
  const senders = new WeakMap<GatewaySocket, { bucket: TokenBucket; serial: ReturnType<typeof serialQueue> }>();
  const sendState = (socket: GatewaySocket) => {
    let state = senders.get(socket);
    if (!state) {
      state = { bucket: new TokenBucket(deps.messageRate.burst, deps.messageRate.perSecond), serial: serialQueue() };
      senders.set(socket, state);
    }
    return state;
  };

  const join = listener(
    "chat:join",
    joinPayload,
    async (socket, { chat_id, after }) => {
      const { userId } = socket.data;
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

  const leave = listener(
    "chat:leave",
    leavePayload,
    async (socket, { chat_id }) => {
      await socket.leave(rooms.chat(chat_id));
      return { ok: true };
    },
    ctx,
  );

  const send = listener(
    "message:send",
    sendPayload,
    (socket, { chat_id, text: body, client_id }) => {
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      const { bucket, serial } = sendState(socket);
      const { userId } = socket.data;
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
  return [join, leave, send];
}
