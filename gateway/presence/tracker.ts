import type { Logger } from "pino";
import { GRACE_MS, LEASE_MS, type PresenceStore, type PresenceUser } from "../../shared/presence/presence";
import { rooms } from "../socket/rooms";
import type { GatewayIo } from "../socket/types";
import type { ServerToClientEvents } from "../../shared/contract/events";

type Held =
  | { event: "presence:join"; payload: Parameters<ServerToClientEvents["presence:join"]>[0] }
  | { event: "presence:leave"; payload: Parameters<ServerToClientEvents["presence:leave"]>[0] };

/**
 * How long a chat's announcements are held back so that those of the moment go out together (the
 * contract allows a second): joins and leaves in one write per socket, counts as one.
 */
const HOLD_MS = 500;
/**
 * A large chat's count goes out at most once per this window in the whole cluster (the store
 * decides which gateway tells it): each gateway telling its own changes, every socket of a chat of
 * 10,000 got up to two counts a second from each of 13 gateways.
 */
const COUNT_WINDOW_MS = 1_000;

/**
 * Due leaves claimed per round trip by each gateway (each goes to one). In a kill -9's storm at
 * 250,000 a survivor's round trip took 1–2 s: at 500 a claim, 13 survivors took 11 s to work
 * through 15,000 due at once, and the last leaves went out 25 s after the kill.
 */
const DUE_CLAIM = 2_000;

/**
 * User-level presence (anywhere in the cluster, any chat or none) rides on the same counting as a
 * chat's, under a chat id of its own per user: "u:<user id>" (chat ids are UUIDs, so never this).
 */
const USER_SCOPE = "u:";
const userScope = (userId: string) => USER_SCOPE + userId;

export interface PresenceTrackerOptions {
  io: GatewayIo;
  store: PresenceStore;
  /** This gateway process's id in the store (unique per process start). */
  gateway: string;
  logger: Logger;
  /** Above this many online, a chat's joins and leaves go out as `presence:count` only. */
  countOnlyAbove: number;
  /**
   * Whether users are tracked cluster-wide too (some webhook endpoint wants user.online/offline):
   * asked at each connection. Told once per transition in the whole cluster, a grace after the
   * user's last socket anywhere for `online: false`.
   */
  users?: { wanted(): boolean; changed(userId: string, online: boolean): void };
}

/**
 * This gateway's side of presence. It counts its own sockets per (chat, user) from the adapter's
 * room events, so that a user's second tab costs Redis nothing. Its last socket of a user starts a
 * grace here: a socket of the user back on this gateway meanwhile (a reconnect) costs nothing at
 * all; only when the grace ran out does the leave reach the store. So the store hears one script
 * for a user's first socket here and one for its leave, a grace after its last. It also renews
 * this gateway's lease, sweeps dead gateways' entries and announces their users' leaves. Joins and
 * leaves go to the chat's room through the adapter (every gateway's sockets).
 */
export class PresenceTracker {
  private readonly local = new Map<string, Map<string, number>>();
  /** "chat user" → when its grace ends: this gateway's last socket of the user went (deadline order). */
  private readonly graces = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  /** Closes the connection that tells sweepers this process lives through a stall (the store's stayAlive). */
  private readonly stopStayingAlive: (() => void) | undefined;
  private readonly log: Logger;
  private failing = false;
  private closed = false;
  /** Announcements held back, by chat: its joins and leaves in order. */
  private readonly held = new Map<string, Held[]>();
  /** Large chats whose count changed here since it was last asked whether to tell it. */
  private readonly countsDue = new Set<string>();
  /** Large chats asked again once another gateway's window is over. */
  private readonly countRetries = new Map<string, NodeJS.Timeout>();
  private holdTimer: NodeJS.Timeout | undefined;
  /** Sockets counted in their user's cluster-wide presence (so their end is counted too). */
  private readonly trackedSockets = new WeakSet<object>();

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
      if (o.users?.wanted()) this.trackUser(socket);
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
    this.stopStayingAlive = o.store.stayAlive?.(o.gateway);
    every(LEASE_MS / 4, () => this.renew());
    every(500, () => this.endGraces());
    every(1_000, () => this.announceSwept());
    every(LEASE_MS / 2, () => this.sweep());
  }

  /** Counts a socket in its user's cluster-wide presence, until it disconnects. */
  private trackUser(socket: { data: { userId: string; username: string }; connected: boolean; once(event: "disconnect", fn: () => void): unknown }): void {
    if (this.trackedSockets.has(socket) || !socket.connected) return;
    this.trackedSockets.add(socket);
    const { userId, username } = socket.data;
    this.joined(userScope(userId), { id: userId, username });
    socket.once("disconnect", () => this.left(userScope(userId), userId));
  }

  /** The sockets connected before users were wanted: counted now (a webhook endpoint for user.online appeared). */
  trackAllUsers(): void {
    for (const socket of this.o.io.of("/").sockets.values()) this.trackUser(socket);
  }

  stats() {
    let entries = 0;
    for (const users of this.local.values()) entries += users.size;
    return { presenceChats: this.local.size, presenceEntries: entries, presenceGraces: this.graces.size, presenceStoreChats: this.o.store.localChats() };
  }

  /**
   * Stops renewing and sweeping. The store keeps this gateway's entries (those in their grace too):
   * they lapse with its lease and wait out a grace, so clients that reconnect elsewhere meanwhile
   * cause no leave and no join.
   */
  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.stopStayingAlive?.();
    clearTimeout(this.holdTimer);
    for (const t of this.countRetries.values()) clearTimeout(t);
    this.countRetries.clear();
    this.countsDue.clear();
    this.held.clear();
    this.closed = true;
  }

  /**
   * Renews this gateway's lease. A gateway stalled past its lease (a long pause, a starved CPU) is
   * swept by another as if it had died: its users' leaves fall due a grace after its last renewal.
   * Its users are told to the store again at once, so those leaves find them back and never go out
   * (past the grace, the leave went out and this is their join again).
   */
  private async renew(): Promise<void> {
    if (await this.o.store.renew(this.o.gateway)) return;
    if (this.closed) return;
    // The sweep made their leaves pending already; one who comes back here must be told to the store.
    this.graces.clear();
    if (this.local.size === 0) return;
    const nsp = this.o.io.of("/");
    let users = 0;
    let names: Map<string, string> | undefined;
    for (const [chatId, counted] of this.local) {
      // The names come with the sockets (the count per user here does not keep them).
      const named = new Map<string, string>();
      if (chatId.startsWith(USER_SCOPE)) {
        names ??= new Map([...nsp.sockets.values()].map((s) => [s.data.userId, s.data.username]));
        for (const id of counted.keys()) named.set(id, names.get(id) ?? "");
      }
      for (const id of nsp.adapter.rooms.get(rooms.chat(chatId)) ?? []) {
        const data = nsp.sockets.get(id)?.data;
        if (data && counted.has(data.userId)) named.set(data.userId, data.username);
      }
      for (const [id, username] of named) {
        users += 1;
        this.tellJoin(chatId, { id, username });
      }
    }
    this.log.warn({ users }, "this gateway's presence lease had lapsed (a stall?) and it was swept; its users are registered again");
  }

  private joined(chatId: string, user: PresenceUser): void {
    if (this.closed) return;
    let users = this.local.get(chatId);
    if (!users) this.local.set(chatId, (users = new Map()));
    const n = (users.get(user.id) ?? 0) + 1;
    users.set(user.id, n);
    // Back within its grace here: the store never heard it went.
    if (n > 1 || this.graces.delete(`${chatId} ${user.id}`)) return;
    this.tellJoin(chatId, user);
  }

  /** This gateway has `user` in the chat: the store counts it, and a user new to the chat is announced. */
  private tellJoin(chatId: string, user: PresenceUser): void {
    this.o.store.join(this.o.gateway, chatId, user).then(({ joined, count }) => {
      this.ok();
      if (joined) this.announce(chatId, count, "presence:join", { chat_id: chatId, user });
    }, (err: Error) => this.failed(err));
  }

  private left(chatId: string, userId: string): void {
    // Closing: the sockets drop, the entries stay (see close()).
    if (this.closed) return;
    const users = this.local.get(chatId);
    const n = (users?.get(userId) ?? 0) - 1;
    if (!users || n < 0) return;
    if (n > 0) {
      users.set(userId, n);
      return;
    }
    users.delete(userId);
    if (users.size === 0) this.local.delete(chatId);
    this.graces.set(`${chatId} ${userId}`, Date.now() + GRACE_MS);
  }

  /** Leaves whose grace here ran out (the map is in deadline order): the store decides if the user is gone everywhere. */
  private async endGraces(): Promise<void> {
    const now = Date.now();
    const ended: string[] = [];
    for (const [key, at] of this.graces) {
      if (at > now || ended.length >= 5_000) break;
      ended.push(key);
    }
    for (const key of ended) this.graces.delete(key);
    await Promise.all(
      ended.map(async (key) => {
        const [chatId, userId] = key.split(" ") as [string, string];
        const { left, count } = await this.o.store.leave(this.o.gateway, chatId, userId);
        this.ok();
        if (left) this.announce(chatId, count, "presence:leave", { chat_id: chatId, user_id: userId });
      }),
    );
  }

  /** Dead gateways' entries, when this gateway is the one to sweep them: a warning in the log (a gateway died or stalled past its lease; how many users, how long the sweep took). */
  private async sweep(): Promise<void> {
    const started = Date.now();
    const { gateways, users, pages } = await this.o.store.sweep();
    if (gateways.length > 0) this.log.warn({ gateways, users, ms: Date.now() - started, pages }, "swept dead gateways: their users' leaves fall due a grace after each was last heard of");
  }

  /**
   * Users of dead gateways whose grace ran out, still gone. Claimed DUE_CLAIM at a time while there
   * are more (a full claim: until 2026-12-07 a claim whose users had partly come back was taken for
   * the last, and each survivor announced about 450 a second, however many were due).
   */
  private async announceSwept(): Promise<void> {
    let leaves = 0;
    for (let round = 0; round < 10; round += 1) {
      const due = await this.o.store.dueLeaves(DUE_CLAIM);
      leaves += due.leaves.length;
      for (const { chatId, userId, count } of due.leaves) this.announce(chatId, count, "presence:leave", { chat_id: chatId, user_id: userId });
      if (due.claimed < DUE_CLAIM) break;
    }
    if (leaves > 0) this.log.info({ leaves }, "announcing the leaves of dead gateways' users");
  }

  /**
   * To the chat's room on every gateway, held back for HOLD_MS so that a chat's announcements of the
   * moment go out together: sent one by one, each join of a busy chat cost every socket in it a write
   * of its own. A chat above the size gets its count instead of its joins and leaves, at most once
   * per COUNT_WINDOW_MS in the cluster (see tellCounts).
   */
  private announce<E extends "presence:join" | "presence:leave">(chatId: string, count: number, event: E, payload: Parameters<ServerToClientEvents[E]>[0]): void {
    if (chatId.startsWith(USER_SCOPE)) {
      // A user's own presence goes to no room: it is told (webhooks), once for the whole cluster.
      this.o.users?.changed(chatId.slice(USER_SCOPE.length), event === "presence:join");
      return;
    }
    if (count > this.o.countOnlyAbove) {
      this.held.delete(chatId);
      this.countsDue.add(chatId);
    } else {
      this.countsDue.delete(chatId);
      let events = this.held.get(chatId);
      if (!events) this.held.set(chatId, (events = []));
      events.push({ event, payload } as Held);
    }
    this.holdTimer ??= setTimeout(() => this.sendHeld(), HOLD_MS).unref();
  }

  /** Everything held, in one turn of the event loop (each socket's packets leave in one write); then the counts due. */
  private sendHeld(): void {
    this.holdTimer = undefined;
    for (const [chatId, events] of this.held) {
      const to = this.o.io.to(rooms.chat(chatId));
      for (const e of events) (to.emit as (e: Held["event"], p: Held["payload"]) => boolean)(e.event, e.payload);
    }
    this.held.clear();
    if (this.countsDue.size > 0) void this.tellCounts([...this.countsDue]);
    this.countsDue.clear();
  }

  /**
   * Large chats whose count changed here: the store says whether this gateway tells the count now
   * (read at this moment, the latest), whether another gateway told it within the window (asked
   * again when it ends, since this change may have come after) or whether it was told already.
   */
  private async tellCounts(chatIds: string[]): Promise<void> {
    await Promise.all(
      chatIds.map(async (chatId) => {
        try {
          const { tell, count, retryInMs } = await this.o.store.tellCount(chatId, COUNT_WINDOW_MS);
          this.ok();
          if (this.closed) return;
          if (tell) this.o.io.to(rooms.chat(chatId)).emit("presence:count", { chat_id: chatId, count });
          else if (retryInMs > 0 && !this.countRetries.has(chatId)) {
            const retry = setTimeout(() => {
              this.countRetries.delete(chatId);
              void this.tellCounts([chatId]);
            }, retryInMs + 5);
            retry.unref();
            this.countRetries.set(chatId, retry);
          }
        } catch (err) {
          this.failed(err as Error);
        }
      }),
    );
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
