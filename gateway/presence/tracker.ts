import type { Logger } from "pino";
import { LEASE_MS, type PresenceStore, type PresenceUser } from "../../shared/presence/presence";
import { rooms } from "../socket/rooms";
import type { GatewayServer } from "../socket/types";

export interface PresenceTrackerOptions {
  io: GatewayServer;
  store: PresenceStore;
  /** This gateway process's id in the store (unique per process start). */
  gateway: string;
  logger: Logger;
  /** Above this many online, a chat's joins and leaves go out as `presence:count` only. */
  countOnlyAbove: number;
}

/**
 * This gateway's side of presence. It counts its own sockets per (chat, user) from the adapter's
 * room events, so that a user's second tab, or its socket's rejoin, costs Redis nothing; only the
 * first socket (`join`) and the last (`leave`) reach the store, one script each. It renews this
 * gateway's lease, sweeps dead gateways' entries, and announces the leaves whose grace ran out.
 * Joins and leaves go to the chat's room through the adapter (every gateway's sockets).
 */
export class PresenceTracker {
  private readonly local = new Map<string, Map<string, number>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly log: Logger;
  private failing = false;

  constructor(private readonly o: PresenceTrackerOptions) {
    this.log = o.logger.child({ module: "gateway:presence" });
    const nsp = o.io.of("/");
    // A room joined by a connected socket (chat:join). The handshake's chat_id room is joined
    // before the socket is connected (and counted here when it connects, below).
    nsp.adapter.on("join-room", (room: string, id: string) => {
      const chatId = rooms.chatIdOf(room);
      const socket = chatId === undefined ? undefined : nsp.sockets.get(id);
      if (chatId !== undefined && socket) this.joined(chatId, { id: socket.data.userId, username: socket.data.username });
    });
    nsp.on("connection", (socket) => {
      if (!socket.connected) return;
      for (const room of socket.rooms) {
        const chatId = rooms.chatIdOf(room);
        if (chatId !== undefined) this.joined(chatId, { id: socket.data.userId, username: socket.data.username });
      }
    });
    nsp.adapter.on("leave-room", (room: string, id: string) => {
      const chatId = rooms.chatIdOf(room);
      // Leaving rooms comes before the socket leaves the namespace, on disconnect too.
      const socket = chatId === undefined ? undefined : nsp.sockets.get(id);
      if (chatId !== undefined && socket) this.left(chatId, socket.data.userId);
    });
    const every = (ms: number, fn: () => Promise<unknown>) => {
      const timer = setInterval(() => void fn().catch((err: Error) => this.failed(err)), ms);
      timer.unref();
      this.timers.push(timer);
    };
    void o.store.renew(o.gateway).catch((err: Error) => this.failed(err));
    every(LEASE_MS / 4, () => o.store.renew(o.gateway));
    every(1_000, () => this.announceLeaves());
    every(LEASE_MS / 2, () => o.store.sweep());
  }

  /** The sockets of `userId` in `chatId` on this gateway. */
  here(chatId: string, userId: string): number {
    return this.local.get(chatId)?.get(userId) ?? 0;
  }

  stats() {
    let entries = 0;
    for (const users of this.local.values()) entries += users.size;
    return { presenceChats: this.local.size, presenceEntries: entries };
  }

  /**
   * Stops renewing and sweeping. The store keeps this gateway's entries: they lapse with its lease
   * and wait out the grace, so clients that reconnect elsewhere meanwhile cause no leave and join.
   */
  close(): void {
    for (const t of this.timers) clearInterval(t);
  }

  private joined(chatId: string, user: PresenceUser): void {
    let users = this.local.get(chatId);
    if (!users) this.local.set(chatId, (users = new Map()));
    const n = (users.get(user.id) ?? 0) + 1;
    users.set(user.id, n);
    if (n > 1) return;
    this.o.store.join(this.o.gateway, chatId, user).then(({ joined, count }) => {
      this.ok();
      if (!joined) return;
      const to = this.o.io.to(rooms.chat(chatId));
      if (count > this.o.countOnlyAbove) to.emit("presence:count", { chat_id: chatId, count });
      else to.emit("presence:join", { chat_id: chatId, user });
    }, (err: Error) => this.failed(err));
  }

  private left(chatId: string, userId: string): void {
    const users = this.local.get(chatId);
    const n = (users?.get(userId) ?? 0) - 1;
    if (!users || n < 0) return;
    if (n > 0) {
      users.set(userId, n);
      return;
    }
    users.delete(userId);
    if (users.size === 0) this.local.delete(chatId);
    this.o.store.leave(this.o.gateway, chatId, userId).then(() => this.ok(), (err: Error) => this.failed(err));
  }

  private async announceLeaves(): Promise<void> {
    for (let round = 0; round < 10; round += 1) {
      const due = await this.o.store.dueLeaves(500);
      for (const { chatId, userId, count } of due) {
        const to = this.o.io.to(rooms.chat(chatId));
        if (count >= this.o.countOnlyAbove) to.emit("presence:count", { chat_id: chatId, count });
        else to.emit("presence:leave", { chat_id: chatId, user_id: userId });
      }
      if (due.length < 500) return;
    }
  }

  private ok(): void {
    if (this.failing) this.log.info("presence store reachable again");
    this.failing = false;
  }

  /** One line per outage: presence is best effort while Redis is away (joins and leaves then are missed). */
  private failed(err: Error): void {
    if (!this.failing) this.log.warn({ err: err.message }, "presence store unreachable; joins and leaves are not announced meanwhile");
    this.failing = true;
  }
}
