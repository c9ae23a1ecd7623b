import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { Counter } from "prom-client";
import type { Db } from "../../shared/db/db";
import { isAppError, isUnavailableError } from "../../shared/errors";
import { clientAddress, type TrustProxy } from "../../shared/proxy";
import type { HandshakeErrorCode, HandshakeErrorData } from "../../shared/socket-events";
import type { TokenService } from "../../shared/tokens";
import { isUuid } from "../../shared/validation";
import type { GatewaySocket } from "../socket/types";
import { SessionCheck } from "./session-check";

type Handshake = GatewaySocket["handshake"];

const STATUS: Record<HandshakeErrorCode, number> = {
  missing_token: 401,
  invalid_token: 401,
  token_expired: 401,
  session_revoked: 401,
  invalid_chat_id: 400,
  chat_forbidden: 403,
  rate_limited: 429,
  unavailable: 503,
};

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

export class HandshakeRefused extends Error {
  readonly data: HandshakeErrorData;
  constructor(code: HandshakeErrorCode) {
    super(code);
    this.name = "HandshakeRefused";
    this.data = { code, status: STATUS[code] };
  }
}

export interface HandshakeDeps {
  db: Db;
  tokens: TokenService;
  logger: Logger;
  handshakes: Counter<"result">;
  /** Handshakes per client address per minute (in memory, per gateway). */
  perIpPerMinute: number;
  /** Whose X-Forwarded-For to believe (TRUST_PROXY). */
  trustProxy: TrustProxy;
  /** True once the gateway is closing: new handshakes are refused as `unavailable`. */
  closing: () => boolean;
}

/**
 * The Socket.IO middleware: token (signature with the pinned algorithm, then the session row in
 * PostgreSQL, read on every handshake so a revocation is refused as soon as it committed), then the
 * optional `chat_id` (format, then membership, read in the same query as the session). A refusal
 * reaches the client as `connect_error` with `message` = code and `data` = `{ code, status }`.
 */
export function authenticate(deps: HandshakeDeps) {
  const log = deps.logger.child({ module: "gateway:auth" });
  const limiter = new RateLimiterMemory({ keyPrefix: "handshake", points: deps.perIpPerMinute, duration: 60 });
  const sessions = new SessionCheck(deps.db);

  const check = async (socket: GatewaySocket): Promise<void> => {
    if (deps.closing()) throw new HandshakeRefused("unavailable");
    const address = clientAddress(socket.request, deps.trustProxy);
    try {
      await limiter.consume(address);
    } catch (err) {
      if (err instanceof RateLimiterRes) throw new HandshakeRefused("rate_limited");
      throw err;
    }
    const token = handshakeToken(socket.handshake);
    if (!token) throw new HandshakeRefused("missing_token");
    const claims = deps.tokens.verify(token);
    const chatId = handshakeChatId(socket.handshake);
    if (chatId !== undefined && !isUuid(chatId)) throw new HandshakeRefused("invalid_chat_id");
    const member = await sessions.check(claims, chatId);
    if (chatId !== undefined && !member) throw new HandshakeRefused("chat_forbidden");
    socket.data = { userId: claims.sub, sessionId: claims.sid, exp: claims.exp };
  };

  return (socket: GatewaySocket, next: (err?: Error) => void): void => {
    check(socket).then(
      () => {
        deps.handshakes.inc({ result: "ok" });
        next();
      },
      (err: unknown) => {
        let refusal: HandshakeRefused;
        if (err instanceof HandshakeRefused) refusal = err;
        else if (isAppError(err) && err.code in STATUS) refusal = new HandshakeRefused(err.code as HandshakeErrorCode);
        else {
          if (!isUnavailableError(err)) log.error({ err: err instanceof Error ? err.message : String(err) }, "handshake failed");
          refusal = new HandshakeRefused("unavailable");
        }
        deps.handshakes.inc({ result: refusal.data.code });
        next(refusal);
      },
    );
  };
}
