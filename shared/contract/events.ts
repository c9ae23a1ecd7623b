/**
 * The Socket.IO contract (CONTRACT.md section 5), written once as zod schemas: the gateway parses
 * client payloads with them, /asyncapi.json is generated from them, and the TypeScript event maps
 * below are inferred from them for `new Server<ClientToServerEvents, ServerToClientEvents, …>()`,
 * the typed client and the test clients.
 */
import { z } from "zod";
import { LIMITS, messageView, userRef } from "./views";
import type { ErrorCode } from "./errors";
import { messageId, text, uuid } from "./validation";

/** The Engine.IO path every client connects to. */
export const SOCKET_PATH = "/ws";

/** Codes a refused handshake carries in `connect_error` (`err.message` and `err.data.code`), with their statuses. */
export const HANDSHAKE_ERRORS = {
  missing_token: 401,
  invalid_token: 401,
  token_expired: 401,
  session_revoked: 401,
  invalid_chat_id: 400,
  chat_forbidden: 403,
  rate_limited: 429,
  unavailable: 503,
} as const;
export type HandshakeErrorCode = keyof typeof HANDSHAKE_ERRORS;

/** `connect_error.data` of a refused handshake. */
export interface HandshakeErrorData {
  code: HandshakeErrorCode;
  status: number;
}

export interface AckError {
  ok: false;
  error: { code: ErrorCode; message: string };
}

/** Every acknowledgement: `{ ok: true, …result }` or `{ ok: false, error }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | AckError;

const chatOnly = z.strictObject({ chat_id: uuid });
const typingUser = userRef;

/**
 * Client events: the payload schema the gateway parses with, the `ok` answer's other members,
 * and the error codes the answer may carry besides `invalid_payload`, `rate_limited`,
 * `unavailable` and `internal` (any event).
 */
export const clientEvents = {
  "chat:join": {
    summary: "Join a chat's room; with `after`, the answer carries the messages after that id",
    payload: z.strictObject({ chat_id: uuid, after: messageId.optional() }),
    result: z.object({
      chat_id: z.string(),
      missed: z.array(messageView).meta({ description: "Oldest first, at most 100 and about 256 KiB" }),
      has_more: z.boolean().meta({ description: "More follow: ask again with `after` = the last one's id" }),
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
  "chat:presence": {
    summary: "The chat's users online anywhere in the cluster: the count and up to 1000 of them",
    payload: chatOnly,
    result: z.object({ chat_id: z.string(), count: z.number().int().min(0), users: z.array(userRef).max(1000) }),
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
  typing: { summary: "Another member sent chat:typing; show it for a few seconds, stop at that user's next message", payload: z.object({ chat_id: z.string(), user: typingUser }) },
  "presence:join": { summary: "The user's first socket in this chat, anywhere in the cluster (none when it came back within 10 s)", payload: z.object({ chat_id: z.string(), user: userRef }) },
  "presence:leave": { summary: "The user's last socket in this chat is gone (10 s ago: a return meanwhile cancels it)", payload: z.object({ chat_id: z.string(), user_id: z.string() }) },
  "presence:count": { summary: "Instead of joins and leaves, in chats with more users online than the configured size: the latest count, held back by each gateway for up to half a second", payload: z.object({ chat_id: z.string(), count: z.number().int().min(0) }) },
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

export type ServerToClientEvents = {
  [E in keyof ServerEvents]: (payload: z.infer<ServerEvents[E]["payload"]>) => void;
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
