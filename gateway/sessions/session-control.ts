import type { Logger } from "pino";
import { z } from "zod";
import type { ControlEvent } from "../../shared/control-bus";
import type { Db } from "../../shared/db/db";
import type { SessionEndReason } from "../../shared/socket-events";
import { isUuid } from "../../shared/validation";
import type { GatewayMetrics } from "../gateway.metrics";
import { type GatewayServer, type GatewaySocket, localSocketsIn, rooms } from "../socket/types";
import { RecentKeys } from "./recent";

const uuid = z.string().refine(isUuid);
const controlEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("session_revoked"), user_id: uuid, session_ids: z.array(uuid).max(10_000) }),
  z.object({ type: z.literal("member_removed"), chat_id: uuid, user_id: uuid }),
  z.object({ type: z.literal("message"), message: z.looseObject({ id: z.string(), chat_id: uuid }) }),
]);

/** Rows per `in (…)` list when re-checking, well under PostgreSQL's parameter limit. */
const BATCH = 1_000;

/**
 * Applies session and membership changes to this gateway's own sockets: control-bus events from
 * the api, expiry, and the re-check after the bus link was cut (events published meanwhile are lost).
 */
export class SessionControl {
  private readonly revoked = new RecentKeys();
  private readonly removed = new RecentKeys();
  private readonly log: Logger;

  constructor(
    private readonly io: GatewayServer,
    private readonly db: Db,
    private readonly metrics: GatewayMetrics,
    logger: Logger,
    /** Told of each message delivered to this gateway's sockets (the outage replay skips those). */
    private readonly delivered: (messageId: string) => void = () => undefined,
  ) {
    this.log = logger.child({ module: "gateway:control" });
  }

  /** `session:ended`, then the connection is closed (the client does not reconnect by itself). */
  end(socket: GatewaySocket, reason: SessionEndReason): void {
    if (!socket.connected) return;
    socket.emit("session:ended", { reason });
    socket.disconnect(true);
    this.metrics.sessionsEnded.inc({ reason });
  }

  removeFromChat(socket: GatewaySocket, chatId: string): void {
    void socket.leave(rooms.chat(chatId));
    socket.emit("chat:removed", { chat_id: chatId });
  }

  /** After a socket joined its rooms: was its session revoked while the handshake was checking? */
  revokedMeanwhile(socket: GatewaySocket): boolean {
    return this.revoked.has(socket.data.sessionId);
  }

  removedMeanwhile(chatId: string, userId: string): boolean {
    return this.removed.has(`${chatId}:${userId}`);
  }

  apply(raw: ControlEvent): void {
    const parsed = controlEvent.safeParse(raw);
    if (!parsed.success) {
      this.log.warn("ignored a malformed control event");
      return;
    }
    const event = parsed.data;
    switch (event.type) {
      case "session_revoked":
        for (const sid of event.session_ids) {
          this.revoked.add(sid);
          for (const socket of localSocketsIn(this.io, rooms.session(sid))) this.end(socket, "revoked");
        }
        this.metrics.revocationsApplied.inc();
        return;
      case "member_removed":
        this.removed.add(`${event.chat_id}:${event.user_id}`);
        for (const socket of localSocketsIn(this.io, rooms.user(event.user_id))) this.removeFromChat(socket, event.chat_id);
        return;
      case "message":
        // Posted over HTTP: every gateway got the event, each delivers to its own sockets.
        this.delivered(event.message.id);
        this.io.local.to(rooms.chat(event.message.chat_id)).emit("message:new", (raw as Extract<ControlEvent, { type: "message" }>).message);
        this.metrics.messages.inc({ source: "http" });
        return;
    }
  }

  /**
   * Re-checks every local socket's session and chat memberships in batched queries, ending the
   * revoked or expired ones and removing lost memberships. Run when the bus link comes back.
   */
  async recheck(): Promise<{ checked: number; ended: number; removed: number }> {
    const sockets = [...this.io.of("/").sockets.values()];
    if (sockets.length === 0) return { checked: 0, ended: 0, removed: 0 };
    const sessionIds = [...new Set(sockets.map((s) => s.data.sessionId))];
    const sessions = new Map<string, { user_id: string; revoked_at: Date | null; expires_at: Date }>();
    for (let i = 0; i < sessionIds.length; i += BATCH) {
      const rows = await this.db
        .selectFrom("sessions")
        .select(["id", "user_id", "revoked_at", "expires_at"])
        .where("id", "in", sessionIds.slice(i, i + BATCH))
        .execute();
      for (const row of rows) sessions.set(row.id, row);
    }

    const chatIds = new Set<string>();
    for (const s of sockets) for (const room of s.rooms) if (room.startsWith("chat:")) chatIds.add(room.slice(5));
    const members = new Set<string>();
    const chats = [...chatIds];
    const users = [...new Set(sockets.map((s) => s.data.userId))];
    for (let i = 0; i < chats.length; i += BATCH) {
      for (let j = 0; j < users.length; j += BATCH) {
        const rows = await this.db
          .selectFrom("chat_members")
          .select(["chat_id", "user_id"])
          .where("chat_id", "in", chats.slice(i, i + BATCH))
          .where("user_id", "in", users.slice(j, j + BATCH))
          .execute();
        for (const row of rows) members.add(`${row.chat_id}:${row.user_id}`);
      }
    }

    let ended = 0;
    let removed = 0;
    const now = Date.now();
    for (const socket of sockets) {
      const row = sessions.get(socket.data.sessionId);
      if (!row || row.revoked_at || row.user_id !== socket.data.userId) {
        this.end(socket, "revoked");
        ended += 1;
      } else if (row.expires_at.getTime() <= now) {
        this.end(socket, "expired");
        ended += 1;
      } else {
        for (const room of [...socket.rooms]) {
          if (!room.startsWith("chat:") || members.has(`${room.slice(5)}:${socket.data.userId}`)) continue;
          this.removeFromChat(socket, room.slice(5));
          removed += 1;
        }
      }
    }
    if (ended > 0) this.metrics.revocationsApplied.inc(ended);
    return { checked: sockets.length, ended, removed };
  }

  sizes(): Record<string, number> {
    return { recentRevocations: this.revoked.size, recentRemovals: this.removed.size };
  }

  clear(): void {
    this.revoked.clear();
    this.removed.clear();
  }
}
