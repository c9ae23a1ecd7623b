/**
 * The Socket.IO events of the contract, written once as zod schemas: the gateway parses client
 * payloads with them, /asyncapi.json is generated from them, and the TypeScript event maps below
 * are inferred from them for `new Server<ClientToServerEvents, ServerToClientEvents, …>()`, the
 * typed client and the test clients. What a schema cannot say (ordering, timing) is in docs/contract.md.
 */
import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "./errors";
import { HANDSHAKE_ERRORS, type HandshakeErrorCode } from "./handshake";
import { changeView, chatView, inviteClosedView, inviteView, LIMITS, messageDeletedView, messageReactionsView, messageReadView, messageView, presenceView, reactionView, userRef } from "./views";
import { cursor, emoji, messageId, text, uuid } from "./validation";

export { HANDSHAKE_ERRORS, type HandshakeErrorCode, isHandshakeErrorCode, SOCKET_PATH } from "./handshake";

const handshakeCodes = Object.keys(HANDSHAKE_ERRORS) as [HandshakeErrorCode, ...HandshakeErrorCode[]];
const handshakeStatuses = [...new Set(Object.values(HANDSHAKE_ERRORS))];

/** `connect_error.data` of a refused handshake (its `message` is the code too). */
export const handshakeErrorData = z
  .object({ code: z.enum(handshakeCodes), status: z.literal(handshakeStatuses) })
  .meta({ id: "ConnectError", description: "A refused handshake: socket.io-client's `connect_error`, whose `message` is the code and `data` this object." });
export type HandshakeErrorData = z.infer<typeof handshakeErrorData>;

/** A refused client event's acknowledgement. */
export const ackError = z
  .object({ ok: z.literal(false), error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }) })
  .meta({ id: "AckError" });
export type AckError = z.infer<typeof ackError>;

/** Every acknowledgement: `{ ok: true, …result }` or `{ ok: false, error }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | AckError;

/** Codes any client event may answer with, besides its own `errors`. */
export const ANY_EVENT_ERRORS = ["invalid_payload", "rate_limited", "unavailable", "internal"] as const satisfies readonly ErrorCode[];

const chatOnly = z.strictObject({ chat_id: uuid });

/**
 * Client events: the payload schema the gateway parses with, the `ok` answer's other members,
 * and the error codes the answer may carry besides ANY_EVENT_ERRORS.
 */
export const clientEvents = {
  "chat:join": {
    summary:
      "Join a chat's room; with `cursor`, the answer carries the messages and the changes since that cursor (with `after`, the messages after that id; with both, the messages after the later of the two)",
    payload: z.strictObject({ chat_id: uuid, after: messageId.optional(), cursor: cursor.optional() }),
    result: z.object({
      chat_id: z.string(),
      missed: z.array(messageView).meta({ description: `Oldest first, at most ${LIMITS.historyMax} and about 256 KiB` }),
      changes: z.array(changeView).meta({
        description: `With \`cursor\`: edits, deletions, reactions and read positions since it, oldest first, each change once (repeats merged into the latest), at most ${LIMITS.changesMax}`,
      }),
      cursor: cursor.meta({ description: "Opaque: where this answer leaves off; the next catch-up passes it" }),
      has_more: z.boolean().meta({ description: "More follow: ask again with this answer's `cursor` (or `after` = the last message's id)" }),
    }),
    errors: ["chat_forbidden"],
  },
  "chat:leave": { summary: "Leave a chat's room", payload: chatOnly, result: z.object({}), errors: [] },
  "message:send": {
    summary: "Store a message and deliver it to the chat's room; answered once stored",
    payload: z.strictObject({
      chat_id: uuid,
      text: text(1, LIMITS.messageText),
      client_id: text(1, LIMITS.clientId).optional().meta({ description: "Idempotency key: a retry with the same id returns the stored message" }),
    }),
    result: z.object({ message: messageView }),
    errors: ["not_in_chat"],
  },
  "auth:refresh": {
    summary: "Move the socket's expiry with a newer access token of the same session",
    payload: z.strictObject({ token: z.string().min(1).max(8192) }),
    result: z.object({ expires_at: z.string().meta({ format: "date-time" }) }),
    errors: ["invalid_token", "token_expired", "session_revoked"],
  },
  "chat:typing": {
    summary: "Tell the chat's other sockets that this user is typing (never stored; at most one every 2 s)",
    payload: chatOnly,
    result: z.object({}),
    errors: ["not_in_chat"],
  },
  "chat:read": {
    summary: "Move the caller's read position in the chat forward to this message; the room (and the caller's other sockets) get message:read, coalesced",
    payload: z.strictObject({ chat_id: uuid, message_id: messageId }),
    result: z.object({ chat_id: z.string(), message_id: messageId.nullable().meta({ description: "The read position now (never behind what it was); null in a chat with no message yet" }) }),
    errors: ["not_in_chat", "not_found"],
  },
  "message:edit": {
    summary: "Edit your own message's text (within the edit window); the room gets message:updated",
    payload: z.strictObject({ chat_id: uuid, message_id: messageId, text: text(1, LIMITS.messageText) }),
    result: z.object({ message: messageView }),
    errors: ["not_in_chat", "not_found", "forbidden"],
  },
  "message:delete": {
    summary: "Delete a message (its sender, or the chat's owner): it stays as a tombstone; the room gets message:deleted",
    payload: z.strictObject({ chat_id: uuid, message_id: messageId }),
    result: z.object({}),
    errors: ["not_in_chat", "not_found", "forbidden"],
  },
  "message:react": {
    summary: `Put an emoji on a message (\`on\`, default true) or take it off; at most ${LIMITS.reactionsPerMessage} different emoji per message and ${LIMITS.reactionsPerUser} per user; the room gets message:reactions`,
    payload: z.strictObject({ chat_id: uuid, message_id: messageId, emoji: emoji(LIMITS.emojiBytes), on: z.boolean().default(true) }),
    result: z.object({ chat_id: z.string(), message_id: messageId, reactions: z.array(reactionView) }),
    errors: ["not_in_chat", "not_found", "forbidden"],
  },
  "chat:presence": {
    summary: `The chat's users online anywhere in the cluster: the count and up to ${LIMITS.presenceList} of them (as GET /chats/:id/presence)`,
    payload: chatOnly,
    result: presenceView,
    errors: ["not_in_chat"],
  },
} as const satisfies Record<string, { summary: string; payload: z.ZodType; result: z.ZodObject; errors: readonly ErrorCode[] }>;

export const sessionEndReason = z.enum(["revoked", "expired"]);
export type SessionEndReason = z.infer<typeof sessionEndReason>;

/** Server events and when they are sent. */
export const serverEvents = {
  "message:new": { summary: "A message in a joined chat, to every socket in its room (the sender's own included), in send order per sender", payload: messageView },
  "session:expiring": { summary: "The access token expires soon (30 s before by default): refresh it with auth:refresh", payload: z.object({ expires_at: z.string().meta({ format: "date-time" }) }) },
  "session:ended": { summary: "Sent just before the server disconnects the socket: the session was revoked or its token expired", payload: z.object({ reason: sessionEndReason }) },
  "chat:removed": { summary: "The user was removed from the chat; the socket has left its room", payload: z.object({ chat_id: z.string() }) },
  typing: { summary: "Another member sent chat:typing; show it for a few seconds, stop at that user's next message", payload: z.object({ chat_id: z.string(), user: userRef }) },
  "presence:join": { summary: "The user's first socket in this chat, anywhere in the cluster (none when it came back within 10 s)", payload: z.object({ chat_id: z.string(), user: userRef }) },
  "presence:leave": { summary: "The user's last socket in this chat is gone (10 s ago: a return meanwhile cancels it)", payload: z.object({ chat_id: z.string(), user_id: z.string() }) },
  "invite:new": { summary: "A new pending invite for this user (as GET /invites lists it), to every socket of the user", payload: inviteView },
  "invite:closed": { summary: "One of the user's pending invites is no longer pending (answered on any device, withdrawn, or cancelled as its inviter left), to every socket of the user", payload: inviteClosedView },
  "chat:added": { summary: "The user is now a member of this chat (it created the chat, accepted an invite, or the app's backend added it), to every socket of the user; chat:join it to receive its messages", payload: chatView },
  "app:event": {
    summary: "An event the app's own backend published to the chat's room (server API): never stored, not replayed after an outage",
    payload: z.object({ chat_id: z.string(), event: z.string(), data: z.unknown() }).meta({ id: "AppEvent" }),
  },
  "message:updated": { summary: "A message of a joined chat was edited: the message as it is now", payload: messageView },
  "message:deleted": { summary: "A message of a joined chat was deleted: show it as a tombstone", payload: messageDeletedView },
  "message:reactions": { summary: "A message's reactions changed: the counts now; `me` is the reacting user's (`user_id`), so other clients keep their own", payload: messageReactionsView },
  "message:read": { summary: "A member's read position moved (coalesced: at most about one a second per member and chat); also to the member's own other sockets", payload: messageReadView },
  "presence:count": { summary: "Instead of joins and leaves, in chats with more users online than the configured size: the latest count, at most one a second per chat across the cluster", payload: z.object({ chat_id: z.string(), count: z.number().int().min(0) }) },
} as const satisfies Record<string, { summary: string; payload: z.ZodType }>;

type ClientEvents = typeof clientEvents;
type ServerEvents = typeof serverEvents;

export type ClientEventName = keyof ClientEvents;
/** What a client sends with an event (before the gateway's parsing). */
export type PayloadOf<E extends ClientEventName> = z.input<ClientEvents[E]["payload"]>;
/** The `ok` answer's members of an event. */
export type ResultOf<E extends ClientEventName> = z.infer<ClientEvents[E]["result"]> extends Record<string, never> ? object : z.infer<ClientEvents[E]["result"]>;

export type ChatJoinPayload = PayloadOf<"chat:join">;
export type ChatLeavePayload = PayloadOf<"chat:leave">;
export type MessageSendPayload = PayloadOf<"message:send">;
export type ChatTypingPayload = PayloadOf<"chat:typing">;
export type AuthRefreshPayload = PayloadOf<"auth:refresh">;

export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: PayloadOf<E>, ack: (res: Ack<ResultOf<E>>) => void) => void;
};

export type ServerEventName = keyof ServerEvents;
/** What the server sends with an event. */
export type ServerPayload<E extends ServerEventName> = z.infer<ServerEvents[E]["payload"]>;

export type ServerToClientEvents = {
  [E in ServerEventName]: (payload: ServerPayload<E>) => void;
};

/** Gateways talk to each other only through rooms and the control bus. */
export interface InterServerEvents {}

/** What the handshake established; plain data (an adapter may serialise it). */
export interface SocketData {
  userId: string;
  sessionId: string;
  /** Access token expiry, seconds since the epoch; moved by `auth:refresh`. */
  exp: number;
  /** The user's name, read with the session at the handshake (presence and typing show it). */
  username: string;
}
