import { mutedRoom } from "../../shared/delivery/publish";
import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { Counter } from "prom-client";
import { AppError, isAppError, isUnavailableError } from "../../shared/contract/errors";
import { clientAddress, type TrustProxy } from "../../shared/proxy";
import { HANDSHAKE_ERRORS, type HandshakeErrorData, isHandshakeErrorCode } from "../../shared/contract/events";
import { isUuid } from "../../shared/contract/validation";
import { rooms } from "../socket/rooms";
import type { GatewaySocket } from "../socket/types";
import type { SessionCheck } from "./session-check";
import type { VerifiedTokens } from "./verified-tokens";

type Handshake = GatewaySocket["handshake"];

const BEARER = /^Bearer\s+(\S+)\s*$/i;

const nonEmpty = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** The token from `auth.token`, else `Authorization: Bearer`, else `?token=` (the contract's order). */
export function handshakeToken(handshake: Handshake): string | undefined {
  const auth = handshake.auth as Record<string, unknown> | undefined;
  if (nonEmpty(auth?.token)) return auth.token;
  const header = handshake.headers.authorization;
  const bearer = typeof header === "string" ? BEARER.exec(header)?.[1] : undefined;
  if (bearer) return bearer;
  const query = handshake.query.token;
  return nonEmpty(query) ? query : undefined;
}

/** `chat_id` from `auth`, else the query: undefined when absent, else the value to validate (strings lower-cased: ids name rooms). */
export function handshakeChatId(handshake: Handshake): unknown {
  const auth = handshake.auth as Record<string, unknown> | undefined;
  const value: unknown = auth?.chat_id ?? handshake.query.chat_id;
  return typeof value === "string" ? value.toLowerCase() : value;
}

/**
 * The one place a refusal becomes what the client sees: `connect_error` with `message` = the code
 * and `data` = `{ code, status }`, the status the contract's table gives that code. An AppError of
 * a handshake code keeps it; anything else (a database outage, a bug) is `unavailable` 503.
 */
export function connectError(err: unknown): Error & { data: HandshakeErrorData } {
  const code = isAppError(err) && isHandshakeErrorCode(err.code) ? err.code : "unavailable";
  const data: HandshakeErrorData = { code, status: HANDSHAKE_ERRORS[code] };
  return Object.assign(new Error(code), { data });
}

export interface HandshakeDeps {
  /** The session-and-membership check (batched; shared with the chat events). */
  sessions: SessionCheck;
  logger: Logger;
  handshakes: Counter<"result">;
  /** Handshakes per client address per minute (in memory, per gateway). */
  perIpPerMinute: number;
  /** Handshakes worked on at once; past it one is refused `unavailable` before any work (HANDSHAKE_MAX_PENDING). */
  maxPending: number;
  /** Whose X-Forwarded-For to believe (TRUST_PROXY). */
  trustProxy: TrustProxy;
  /** Told of every handshake request (warns once of an undeclared proxy). */
  seeRequest?: (req: GatewaySocket["request"]) => void;
  /** True once the gateway is closing: new handshakes are refused as `unavailable`. */
  closing: () => boolean;
  /** Resolves once Redis confirmed the room's subscription here. */
  roomSubscribed: (room: string) => Promise<void>;
  /** Reconnects present the same token again: its signature is checked once (the session every time). */
  verified: VerifiedTokens;
}

/**
 * The Socket.IO middleware: token (signature with the pinned algorithm, then the session row in
 * PostgreSQL, read on every handshake so a revocation is refused as soon as it committed), then the
 * optional `chat_id` (format, then membership, read in the same query as the session). A refusal
 * reaches the client as `connect_error` with `message` = code and `data` = `{ code, status }`.
 */
export function authenticate(deps: HandshakeDeps) {
  const log = deps.logger.child({ module: "gateway:auth" });
  const { verified } = deps;
  const limiter = new RateLimiterMemory({ keyPrefix: "handshake", points: deps.perIpPerMinute, duration: 60 });

  const check = async (socket: GatewaySocket): Promise<void> => {
    if (deps.closing()) throw new AppError("unavailable", 503, "The gateway is stopping");
    // A connect again on a transport whose first socket connected and left: its request was released (transport/release-request.ts).
    if (!socket.request) throw new AppError("unavailable", 503, "Open a new connection for another handshake");
    deps.seeRequest?.(socket.request);
    const address = clientAddress(socket.request, deps.trustProxy);
    try {
      await limiter.consume(address);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new AppError("rate_limited", 429, "Too many handshakes from this address");
      throw err;
    }
    const token = handshakeToken(socket.handshake);
    if (!token) throw new AppError("missing_token", 401, "A token is required");
    const claims = await verified.verify(token);
    const chatId = handshakeChatId(socket.handshake);
    if (chatId !== undefined && !isUuid(chatId)) throw new AppError("invalid_chat_id", 400, "chat_id must be a UUID");
    const { member, username, blocked } = await deps.sessions.check(claims, chatId, { blocks: true });
    if (chatId !== undefined && !member) throw new AppError("chat_forbidden", 403, "Not a member of this chat");
    socket.data = { userId: claims.sub, sessionId: claims.sid, exp: claims.exp, username };
    // What the users this one blocks do goes to every room except theirs (shared/delivery/publish.ts).
    if (blocked.length > 0) socket.join(blocked.map(mutedRoom));
    if (chatId !== undefined) {
      // In the room, and subscribed to it through Redis, before the client hears it is connected.
      await socket.join(rooms.chat(chatId));
      await deps.roomSubscribed(rooms.chat(chatId));
    }
  };

  /**
   * Handshakes between the middleware's start and its answer. Without a bound a gateway takes every
   * one on: under a burst each waits behind the others (a token verification, a session read, a
   * join), and past the client's connect time-out (socket.io-client's 20 s) the work is wasted and
   * the client tries again. Refused at once instead, a client waits its back-off and comes back when
   * there is room. (The scale run's storm at 150,000 did not reach this bound: its connects waited
   * before the middleware; docs/scale.md.)
   */
  let pending = 0;

  return (socket: GatewaySocket, next: (err?: Error) => void): void => {
    if (pending >= deps.maxPending) {
      deps.handshakes.inc({ result: "busy" });
      next(connectError(new AppError("unavailable", 503, "The gateway is busy; retry after a back-off")));
      return;
    }
    pending += 1;
    check(socket).then(
      () => {
        pending -= 1;
        deps.handshakes.inc({ result: "ok" });
        next();
      },
      (err: unknown) => {
        pending -= 1;
        if (!isAppError(err) && !isUnavailableError(err)) log.error({ err: err instanceof Error ? err.message : String(err) }, "handshake failed");
        const refusal = connectError(err);
        deps.handshakes.inc({ result: refusal.data.code });
        next(refusal);
      },
    );
  };
}
