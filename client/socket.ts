import type { ManagerOptions, SocketOptions } from "socket.io-client";
import type { ChangeView, MessageView } from "../shared/contract/views";
import type { Ack, ChatJoinPayload, PayloadOf, ResultOf } from "../shared/contract/events";
import { newClientId } from "./client-id";
import { Connection, type RawSocket } from "./connection";
import { Emitter } from "./emitter";
import { SocketError } from "./errors";
import type { Perspective } from "./reactions";
import { Rooms } from "./rooms";
import type { TokenKeeper } from "./tokens";
import type { ChatSocket, ChatSocketEvents, EndReason, SocketStatus } from "./types";

/** Sends retried after an answer that never came while connected (a reconnect does not count). */
const SEND_TIMEOUTS = 3;
/**
 * Attempts in a row that each lost the connection while in flight. A payload past the gateway's
 * packet limit (16 KiB) makes Engine.IO close the connection, and sending it again after every
 * reconnect would loop for ever; past this many the request fails with "disconnected".
 */
const SEND_DROPS = 3;

/** The events asked in a joined chat, once it is ready, again after a drop (each is idempotent, a send by its client_id). */
type ChatRequest = "message:send" | "chat:read" | "message:edit" | "message:delete" | "message:react";

export interface SocketDeps {
  url: string;
  options: Partial<ManagerOptions & SocketOptions>;
  keeper: TokenKeeper;
  /** The newest message id of a chat (GET /chats/:id/messages?limit=1), null for none, undefined when unknown. */
  latestMessageId(chatId: string): Promise<string | null | undefined>;
  /** Every message of a chat, oldest first (bounded). */
  history(chatId: string): Promise<MessageView[]>;
  /** Reactions as the logged-in user sees them (shared with the client's HTTP calls). */
  perspective: Perspective;
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
      join: (chat_id, from) => this.connection.ask("chat:join", { chat_id, ...from }),
      history: (chat_id) => deps.history(chat_id),
      leave: (chat_id) => void this.connection.ask("chat:leave", { chat_id }).catch(() => undefined),
      connection: () => this.connection.current,
      perspective: deps.perspective,
      deliver: (m) => this.events.emit("message", m),
      change: (c) => this.emitChange(c),
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
    raw.on("invite:closed", (p) => this.events.emit("invite:closed", p));
    raw.on("chat:added", (p) => this.events.emit("chat:added", p));
    raw.on("app:event", (p) => this.events.emit("app:event", p));
    raw.on("message:updated", (data) => this.rooms.onChange({ type: "message:updated", data }));
    raw.on("message:deleted", (data) => this.rooms.onChange({ type: "message:deleted", data }));
    raw.on("message:reactions", (data) => this.rooms.onChange({ type: "message:reactions", data }));
    raw.on("message:read", (data) => this.rooms.onChange({ type: "message:read", data }));
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

  async join(chatId: string, from: Pick<ChatJoinPayload, "after" | "cursor"> = {}): Promise<void> {
    this.assertOpen();
    if (!this.rooms.has(chatId)) {
      // A first join starts after the newest message: one from before is history (GET
      // messages), one from after arrives even if the connection drops before it is sent.
      const latest = from.after ?? (from.cursor === undefined ? await this.deps.latestMessageId(chatId) : undefined);
      const n = this.connection.current;
      if (this.rooms.add(chatId, latest, from.cursor) && n !== undefined) void this.rooms.sync(chatId, n);
    }
    await this.ready(chatId);
  }

  cursor(chatId: string): string | undefined {
    return this.rooms.cursor(chatId);
  }

  async leave(chatId: string): Promise<void> {
    this.rooms.remove(chatId);
    if (!this.connected) return;
    const answer = await this.connection.ask("chat:leave", { chat_id: chatId });
    if (!answer.ok) throw new SocketError(answer.error.code, answer.error.message);
  }

  async send(chatId: string, text: string, clientId: string = newClientId()): Promise<MessageView> {
    return (await this.request(chatId, "message:send", { chat_id: chatId, text, client_id: clientId })).message;
  }

  read(chatId: string, messageId: string): Promise<ResultOf<"chat:read">> {
    return this.request(chatId, "chat:read", { chat_id: chatId, message_id: messageId });
  }

  async edit(chatId: string, messageId: string, text: string): Promise<MessageView> {
    const { message } = await this.request(chatId, "message:edit", { chat_id: chatId, message_id: messageId, text });
    this.deps.perspective.message(message, false);
    return message;
  }

  async delete(chatId: string, messageId: string): Promise<void> {
    await this.request(chatId, "message:delete", { chat_id: chatId, message_id: messageId });
    this.deps.perspective.forget(messageId);
  }

  async react(chatId: string, messageId: string, emoji: string, on = true): Promise<ResultOf<"message:react">> {
    const answer = await this.request(chatId, "message:react", { chat_id: chatId, message_id: messageId, emoji, on });
    this.deps.perspective.learn(answer.message_id, answer.reactions);
    return answer;
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

  /**
   * An event of a joined chat, asked once the chat is ready: again after the connection dropped
   * (the answer is lost with it; up to SEND_DROPS times), and after up to SEND_TIMEOUTS answers
   * that never came.
   */
  private async request<E extends ChatRequest>(chatId: string, event: E, payload: PayloadOf<E>): Promise<ResultOf<E>> {
    for (let timeouts = 0, drops = 0; ; ) {
      await this.ready(chatId);
      try {
        const answer = await this.connection.ask(event, payload);
        if (!answer.ok) throw new SocketError(answer.error.code, answer.error.message);
        const { ok: _ok, ...result } = answer;
        return result as ResultOf<E>;
      } catch (err) {
        // A send again carries the same client_id: the server stores it once and answers with the stored message.
        const again = err instanceof SocketError && ((err.code === "disconnected" && ++drops < SEND_DROPS) || (err.code === "timeout" && ++timeouts < SEND_TIMEOUTS));
        if (!again) throw err;
      }
    }
  }

  /** A change as the event it stands for. */
  private emitChange(c: ChangeView): void {
    switch (c.type) {
      case "message:updated":
        return this.events.emit("message:updated", c.data);
      case "message:deleted":
        return this.events.emit("message:deleted", c.data);
      case "message:reactions":
        return this.events.emit("message:reactions", c.data);
      case "message:read":
        return this.events.emit("message:read", c.data);
    }
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
