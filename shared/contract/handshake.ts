/**
 * What a client needs to open a socket, as plain values: no zod and no Node module here (type
 * imports only), so the typed client's browser bundle can import it. events.ts re-exports it
 * beside the event schemas.
 */
import type { ErrorCode } from "./errors";

/** The Engine.IO path every client connects to. */
export const SOCKET_PATH = "/ws";

/** Codes a refused handshake carries in `connect_error` (`err.message` and `err.data.code`), with their statuses. */
export const HANDSHAKE_ERRORS = {
  missing_token: 401,
  invalid_token: 401,
  token_expired: 401,
  session_revoked: 401,
  account_banned: 403,
  invalid_chat_id: 400,
  chat_forbidden: 403,
  rate_limited: 429,
  unavailable: 503,
} as const satisfies Partial<Record<ErrorCode, number>>;
export type HandshakeErrorCode = keyof typeof HANDSHAKE_ERRORS;

export const isHandshakeErrorCode = (code: string): code is HandshakeErrorCode => Object.prototype.hasOwnProperty.call(HANDSHAKE_ERRORS, code);
