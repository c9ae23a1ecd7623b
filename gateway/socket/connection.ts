import type { Logger } from "pino";
import type { Db } from "../../shared/db/db";
import { isUuid } from "../../shared/contract/validation";
import { authHandlers } from "../auth/auth.handlers";
import type { VerifiedTokens } from "../auth/verified-tokens";
import { handshakeChatId } from "../auth/handshake";
import { chatHandlers, type ChatHandlerDeps } from "../chats/chats.handlers";
import type { Membership } from "../chats/membership";
import type { Revocations } from "../sessions/revocations";
import type { GatewayMetrics } from "../gateway.metrics";
import type { ExpiryWheel } from "../sessions/expiry-wheel";
import { ackError, type EventContext, type EventListener } from "./define-event";
import type { EventBudget } from "./event-budget";
import type { LocalSockets } from "./local-sockets";
import { dropConnection, sendBufferGuard } from "../transport/send-buffer";
import type { WriteBatching } from "../transport/write-batching";
import type { RequestRelease } from "../transport/release-request";
import type { GatewayIo, GatewaySocket } from "./types";

export interface ConnectionDeps extends ChatHandlerDeps {
  io: GatewayIo;
  db: Db;
  verified: VerifiedTokens;
  revocations: Revocations;
  membership: Membership;
  wheel: ExpiryWheel;
  metrics: GatewayMetrics;
  ctx: EventContext;
  budget: EventBudget;
  /** This gateway's sockets by user and session. */
  local: LocalSockets;
  /** Bytes that may wait to be sent to one socket before it is cut off. */
  maxBufferedBytes: number;
  /** The gateway's write batching (one writev per socket per turn). */
  writes: WriteBatching;
  /** Lets go of each socket's handshake request once it is connected. */
  requests: RequestRelease;
  log: Logger;
}

const answer = (ack: unknown, res: unknown) => {
  if (typeof ack !== "function") return;
  try {
    (ack as (res: unknown) => void)(res);
  } catch {
    // The socket went away meanwhile.
  }
};

/**
 * A socket that passed the handshake: its rooms, its expiry, its send-buffer bound and its event
 * handlers. The listeners are made once and shared by every socket (one `onAny` dispatcher and
 * one `disconnect` listener per socket, no closures): an idle connection costs little more than
 * Socket.IO's own. Every event, known or not, first spends from the socket's event budget.
 */
export function onConnection(deps: ConnectionDeps) {
  const { revocations, membership, wheel, metrics, ctx, budget, log, local } = deps;
  const listeners = new Map<string, EventListener>([...chatHandlers(deps, ctx), ...authHandlers(deps, ctx)].map((d) => [d.event, d.listener]));
  const guard = sendBufferGuard({
    maxBytes: deps.maxBufferedBytes,
    onExceeded(socket, bytes) {
      metrics.slowConsumers.inc();
      log.warn({ userId: socket.data.userId, socketId: socket.id, bytes }, "disconnected a client that stopped reading: its send buffer passed the limit");
    },
  });

  // Socket.IO calls both with the socket as `this`.
  function dispatch(this: GatewaySocket, event: string, ...args: unknown[]): void {
    // Packets read in the same chunk as the one that ended the socket still arrive here.
    if (!this.connected) return;
    const listener = listeners.get(event);
    const verdict = budget.take(this);
    // Events read in the same chunk as the one that flooded: the connection is already being dropped.
    if (verdict === "dropped") return;
    if (verdict !== "ok") {
      metrics.events.inc({ event: listener ? event : "unknown", result: "rate_limited" });
      if (verdict === "flooding") {
        metrics.eventFloods.inc();
        log.warn({ userId: this.data.userId, socketId: this.id }, "disconnected a client that kept sending events after rate_limited answers");
        dropConnection(this);
        return;
      }
      return answer(args.at(-1), ackError("rate_limited", "Too many events; slow down"));
    }
    if (listener) return listener(this, args);
    metrics.events.inc({ event: "unknown", result: "invalid_payload" });
    answer(args.at(-1), ackError("invalid_payload", "Unknown event"));
  }
  function disconnected(this: GatewaySocket): void {
    metrics.connected.dec();
    wheel.untrack(this);
    local.remove(this);
  }

  return (socket: GatewaySocket): void => {
    const { userId } = socket.data;
    // The handshake's chat_id room was joined by the handshake itself (see auth/handshake.ts).
    const chatId = handshakeChatId(socket.handshake);
    local.add(socket);
    metrics.connected.inc();
    socket.on("disconnect", disconnected);
    guard.watch(socket);
    deps.writes.watch(socket);
    // A revocation or a removal that went by while the handshake was reading the database.
    if (revocations.revokedMeanwhile(socket)) return revocations.end(socket, "revoked");
    if (isUuid(chatId) && membership.removedMeanwhile(chatId, userId)) membership.removeFromChat(socket, chatId);
    wheel.track(socket);
    socket.onAny(dispatch);
    deps.requests.release(socket);
  };
}
