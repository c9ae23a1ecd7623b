/**
 * The Socket.IO contract (CONTRACT.md section 5), typed once for the gateway and its clients:
 * `new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>()` and
 * `io(url) as Socket<ServerToClientEvents, ClientToServerEvents>` in socket.io-client.
 */
import type { MessageView } from "./contracts";
import type { ErrorCode } from "./errors";

/** The Engine.IO path every client connects to. */
export const SOCKET_PATH = "/ws";

/** Codes a refused handshake carries in `connect_error` (`err.message` and `err.data.code`). */
export type HandshakeErrorCode =
  | "missing_token"
  | "invalid_token"
  | "token_expired"
  | "session_revoked"
  | "invalid_chat_id"
  | "chat_forbidden"
  | "rate_limited"
  | "unavailable";

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

export interface ChatJoinPayload {
  chat_id: string;
  /** A message id: the answer carries the messages after it (oldest first, at most 100). */
  after?: string;
}

export interface ChatLeavePayload {
  chat_id: string;
}

export interface MessageSendPayload {
  chat_id: string;
  text: string;
  /** Idempotency key chosen by the client: a retry with the same id returns the stored message. */
  client_id?: string;
}

export interface ChatTypingPayload {
  chat_id: string;
}

export interface AuthRefreshPayload {
  token: string;
}

export interface ClientToServerEvents {
  /**
   * `missed`: the messages after `after`, oldest first, at most 100 and at most about 256 KiB;
   * `has_more` is true when more follow (ask again with `after` = the last one's id).
   */
  "chat:join": (payload: ChatJoinPayload, ack: (res: Ack<{ chat_id: string; missed: MessageView[]; has_more: boolean }>) => void) => void;
  "chat:leave": (payload: ChatLeavePayload, ack: (res: Ack) => void) => void;
  "message:send": (payload: MessageSendPayload, ack: (res: Ack<{ message: MessageView }>) => void) => void;
  "auth:refresh": (payload: AuthRefreshPayload, ack: (res: Ack<{ expires_at: string }>) => void) => void;
  /** Relayed as `typing` to the chat room's other sockets, never stored; at most one every 2 s per socket. */
  "chat:typing": (payload: ChatTypingPayload, ack: (res: Ack) => void) => void;
  /** The chat's users online anywhere in the cluster: the count and up to 1000 of them. */
  "chat:presence": (payload: ChatTypingPayload, ack: (res: Ack<{ chat_id: string; count: number; users: { id: string; username: string }[] }>) => void) => void;
}

export type SessionEndReason = "revoked" | "expired";

export interface ServerToClientEvents {
  "message:new": (message: MessageView) => void;
  "session:expiring": (payload: { expires_at: string }) => void;
  "session:ended": (payload: { reason: SessionEndReason }) => void;
  "chat:removed": (payload: { chat_id: string }) => void;
  /**
   * Another socket in the chat sent `chat:typing`. Clients show it for a few seconds, and stop at
   * that user's next `message:new` in the chat (or its `presence:leave`).
   */
  typing: (payload: { chat_id: string; user: { id: string; username: string } }) => void;
  /** The user's first socket in this chat, anywhere in the cluster (not sent when it came back within 10 s). */
  "presence:join": (payload: { chat_id: string; user: { id: string; username: string } }) => void;
  /** The user's last socket in this chat is gone (10 s ago: a return meanwhile cancels it). */
  "presence:leave": (payload: { chat_id: string; user_id: string }) => void;
  /** Instead of joins and leaves, in chats with more users online than the configured size. */
  "presence:count": (payload: { chat_id: string; count: number }) => void;
}

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
