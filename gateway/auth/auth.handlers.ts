import type { Db } from "../../shared/db/db";
import { AppError, isAppError } from "../../shared/contract/errors";
import { requireActiveSession } from "../../shared/db/sessions";
import type { VerifiedTokens } from "./verified-tokens";
import type { Revocations } from "../sessions/revocations";
import type { ExpiryWheel } from "../sessions/expiry-wheel";
import { defineEvent, type EventContext, type EventDefinition } from "../socket/define-event";
import type { GatewaySocket } from "../socket/types";

export interface AuthHandlerDeps {
  db: Db;
  /** The gateway's token verifier (with its cache of verified tokens). */
  verified: VerifiedTokens;
  wheel: ExpiryWheel;
  revocations: Revocations;
}

/**
 * `auth:refresh`: a newer access token of the same user and the same session moves the socket's
 * expiry. A token of the session that turns out revoked ends the socket (after the answer).
 */
export function authHandlers(deps: AuthHandlerDeps, ctx: EventContext): EventDefinition[] {
  const refresh = defineEvent(
    "auth:refresh",
    async (socket: GatewaySocket, { token }) => {
      const claims = await deps.verified.verify(token);
      if (claims.sub !== socket.data.userId || claims.sid !== socket.data.sessionId) {
        throw new AppError("invalid_token", 401, "The token belongs to another user or session");
      }
      try {
        await requireActiveSession(deps.db, claims);
      } catch (err) {
        if (isAppError(err) && (err.code === "session_revoked" || err.code === "account_banned")) {
          // Answer first, then end: the acknowledgement is queued before the disconnect.
          setImmediate(() => deps.revocations.end(socket, "revoked"));
        }
        throw err;
      }
      if (!socket.connected) throw new AppError("session_revoked", 401, "The socket has been disconnected");
      socket.data.exp = Math.max(socket.data.exp, claims.exp);
      deps.wheel.track(socket);
      return { ok: true, expires_at: new Date(socket.data.exp * 1000).toISOString() };
    },
    ctx,
  );
  return [refresh];
}
