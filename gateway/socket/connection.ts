import type { Db } from "../../shared/db/db";
import type { TokenService } from "../../shared/tokens";
import { isUuid } from "../../shared/validation";
import { authHandlers } from "../auth/auth.handlers";
import { handshakeChatId } from "../auth/handshake";
import { chatHandlers, type ChatHandlerDeps } from "../chats/chats.handlers";
import type { GatewayMetrics } from "../gateway.metrics";
import type { ExpiryWheel } from "../sessions/expiry-wheel";
import type { SessionControl } from "../sessions/session-control";
import { ackError, type EventListener, type HandleContext } from "./handle";
import { type GatewayServer, type GatewaySocket, rooms } from "./types";

export interface ConnectionDeps {
  io: GatewayServer;
  db: Db;
  tokens: TokenService;
  control: SessionControl;
  wheel: ExpiryWheel;
  metrics: GatewayMetrics;
  ctx: HandleContext;
  messageRate: ChatHandlerDeps["messageRate"];
  delivered: ChatHandlerDeps["delivered"];
}

/**
 * A socket that passed the handshake: its rooms, its expiry, its event handlers. The listeners
 * are made once and shared by every socket (one `onAny` dispatcher and one `disconnect`
 * listener per socket, no closures): an idle connection costs little more than Socket.IO's own.
 */
export function onConnection(deps: ConnectionDeps) {
  const { control, wheel, metrics, ctx } = deps;
  const listeners = new Map<string, EventListener>([...chatHandlers(deps, ctx), ...authHandlers(deps, ctx)]);

  // Socket.IO calls both with the socket as `this`.
  function dispatch(this: GatewaySocket, event: string, ...args: unknown[]): void {
    const listener = listeners.get(event);
    if (listener) return listener(this, args);
    metrics.events.inc({ event: "unknown", result: "invalid_payload" });
    const ack = args.at(-1);
    if (typeof ack === "function") (ack as (res: unknown) => void)(ackError("invalid_payload", "Unknown event"));
  }
  function disconnected(this: GatewaySocket): void {
    metrics.connected.dec();
    wheel.untrack(this);
  }

  return (socket: GatewaySocket): void => {
    const { userId, sessionId } = socket.data;
    const chatId = handshakeChatId(socket.handshake);
    void socket.join([rooms.user(userId), rooms.session(sessionId), ...(isUuid(chatId) ? [rooms.chat(chatId)] : [])]);
    metrics.connected.inc();
    socket.on("disconnect", disconnected);
    // A revocation or a removal that went by while the handshake was reading the database.
    if (control.revokedMeanwhile(socket)) return control.end(socket, "revoked");
    if (isUuid(chatId) && control.removedMeanwhile(chatId, userId)) control.removeFromChat(socket, chatId);
    wheel.track(socket);
    socket.onAny(dispatch);
  };
}
