import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type { MessageView } from "../shared/contract/views";
import type { Ack, ResultOf } from "../shared/contract/events";
import { newClientId } from "./client-id";
import { Connection, type RawSocket } from "./connection";
import { Emitter } from "./emitter";
import { SocketError } from "./errors";
import { Rooms } from "./rooms";
import type { TokenKeeper } from "./tokens";
import type { ChatSocket, ChatSocketEvents, EndReason, SocketStatus } from "./types";

/** Sends retried after an answer that never came while connected (a reconnect does not count). */
const SEND_TIMEOUTS = 3;

export interface SocketDeps {
  url: string;
  options: Partial<ManagerOptions & SocketOptions>;
  keeper: TokenKeeper;
  /** The newest message id of a chat (GET /chats/:id/messages?limit=1), null for none, undefined when unknown. */
  latestMessageId(chatId: string): Promise<string | null | undefined>;
  /** Every message of a chat, oldest first (bounded). */
  history(chatId: string): Promise<MessageView[]>;
  /** The session `sessionId` is over: the client ends it everywhere. */
  sessionEnded(sessionId: string | undefined, reason: EndReason): void;
  closed(socket: ChatSocketImpl): void;
}

/** The ChatSocket: a Connection that stays authenticated, and the Rooms it keeps across reconnects. */
export class ChatSocketImpl implements ChatSocket {
  private readonly events = new Emitter<ChatSocketEvents>();
  private readonly connection: Connection;
  private readonly rooms: Rooms;
  private state: "open" | "closed" | "ended" = "open";
  private current: SocketStatus = "connecting";
  /** Whoever waits for a chat to be ready re-checks on every change. */
  private readonly waiters = new Set<() => void>();

  constructor(private readonly deps: SocketDeps) {
    this.connection = new Connection(deps.url, deps.options, deps.keeper, {
      connected: (n) => {
        this.setStatus("connected");
        void this.rooms.syncAll(n);
        this.changed();
      },
      disconnected: (comingBack) => {
        this.rooms.unsync();
        if (comingBack) this.setStatus("reconnecting");
        this.changed();
      },
      refreshed: (expires_at) => this.events.emit("refreshed", { expires_at }),
      error: (err) => this.events.emit("error", err),
      sessionEnded: (sessionId, reason) => deps.sessionEnded(sessionId, reason),
      failed: (err) => {
        this.events.emit("error", err);
        this.stop("closed");
      },
    });
    this.rooms = new Rooms({
      join: (chat_id, after) => this.connection.ask("chat:join", after ? { chat_id, after } : { chat_id }),
      history: (chat_id) => deps.history(chat_id),
      leave: (chat_id) => void this.connection.ask("chat:leave", { chat_id }).catch(() => undefined),
      connection: () => this.connection.current,
      deliver: (m) => this.events.emit("message", m),
      removed: (chat_id) => this.events.emit("chat:removed", { chat_id }),
      error: (err) => this.events.emit("error", err),
      changed: () => this.changed(),
    });
    const raw = this.raw;
    raw.on("message:new", (m) => this.rooms.onMessage(m));
    raw.on("chat:removed", (p) => {
      this.rooms.remove(p.chat_id);
      this.events.emit("chat:removed", p);
    });
    raw.on("typing", (p) => this.events.emit("typing", p));
    raw.on("presence:join", (p) => this.events.emit("presence:join", p));
    raw.on("presence:leave", (p) => this.events.emit("presence:leave", p));
    raw.on("presence:count", (p) => this.events.emit("presence:count", p));
    raw.on("invite:new", (p) => this.events.emit("invite:new", p));
    raw.on("chat:added", (p) => this.events.emit("chat:added", p));
    raw.on("app:event", (p) => this.events.emit("app:event", p));
  }

  get raw(): RawSocket {
    return this.connection.raw;
  }

  get connected(): boolean {
    return this.raw.connected;
  }

  get status(): SocketStatus {
    return this.current;
  }

  on<K extends keyof ChatSocketEvents>(event: K, fn: ChatSocketEvents[K]): () => void {
    return this.events.on(event, fn);
  }

  async join(chatId: string): Promise<void> {
    this.assertOpen();
    if (!this.rooms.has(chatId)) {
      // A first join starts after the newest message: one from before is history (GET
      // messages), one from after arrives even if the connection drops before it is sent.
      const latest = await this.deps.latestMessageId(chatId);
      const n = this.connection.current;
      if (this.rooms.add(chatId, latest) && n !== undefined) void this.rooms.sync(chatId, n);
    }
    await this.ready(chatId);
  }

  async leave(chatId: string): Promise<void> {
    this.rooms.remove(chatId);
    if (!this.connected) return;
    const answer = await this.connection.ask("chat:leave", { chat_id: chatId });
    if (!answer.ok) throw new SocketError(answer.error.code, answer.error.message);
  }

  async send(chatId: string, text: string, clientId: string = newClientId()): Promise<MessageView> {
    for (let timeouts = 0; ; ) {
      await this.ready(chatId);
      try {
        const answer = await this.connection.ask("message:send", { chat_id: chatId, text, client_id: clientId });
        if (answer.ok) return answer.message;
        throw new SocketError(answer.error.code, answer.error.message);
      } catch (err) {
        // The same client_id again: the server stores it once and answers with the stored message.
        const again = err instanceof SocketError && (err.code === "disconnected" || (err.code === "timeout" && ++timeouts < SEND_TIMEOUTS));
        if (!again) throw err;
      }
    }
  }

  async typing(chatId: string): Promise<void> {
    if (!this.connected || !this.rooms.has(chatId)) return;
    let answer: Ack<ResultOf<"chat:typing">>;
    try {
      answer = await this.connection.ask("chat:typing", { chat_id: chatId });
    } catch (err) {
      // A typing hint lost to a drop or a slow answer is not worth an error (callers fire and forget).
      if (err instanceof SocketError && (err.code === "timeout" || err.code === "disconnected")) return;
      throw err;
    }
    if (!answer.ok && answer.error.code !== "rate_limited") throw new SocketError(answer.error.code, answer.error.message);
  }

  async presence(chatId: string): Promise<ResultOf<"chat:presence">> {
    await this.ready(chatId);
    const answer = await this.connection.ask("chat:presence", { chat_id: chatId });
    if (!answer.ok) throw new SocketError(answer.error.code, answer.error.message);
    return { chat_id: answer.chat_id, count: answer.count, users: answer.users };
  }

  close(): void {
    this.stop("closed");
  }

  /** The session is over (the client calls this for each of its sockets). */
  end(reason: EndReason): void {
    if (!this.stop("ended")) return;
    this.setStatus("ended");
    this.events.emit("ended", { reason });
  }

  /** Closes for good; false when it already was. */
  private stop(state: "closed" | "ended"): boolean {
    if (this.state !== "open") return false;
    this.state = state;
    this.connection.stop();
    this.deps.closed(this);
    this.changed();
    return true;
  }

  private setStatus(status: SocketStatus): void {
    if (this.current === status) return;
    this.current = status;
    this.events.emit("status", status);
  }

  private assertOpen(): void {
    if (this.state !== "open") throw new SocketError("closed", `The socket is ${this.state}`);
  }

  /** Resolves once connected with the chat (re-)joined; rejects when the socket closes or the join is refused. */
  private ready(chatId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        try {
          this.assertOpen();
          if (!this.connected || this.rooms.state(chatId) !== "ready") return;
          this.waiters.delete(check);
          resolve();
        } catch (err) {
          this.waiters.delete(check);
          reject(err);
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private changed(): void {
    for (const check of [...this.waiters]) check();
  }
}
