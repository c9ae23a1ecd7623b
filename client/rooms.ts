import type { MessageView } from "../shared/contract/views";
import type { Ack, ResultOf } from "../shared/contract/events";
import { Backoff, sleep } from "./backoff";
import { byId, ChatLog } from "./chat-log";
import { SocketError } from "./errors";

interface Room {
  log: ChatLog;
  /** Joined on the current connection, its catch-up delivered. */
  synced: boolean;
  /** Joined successfully at least once (a later refusal means the user was removed meanwhile). */
  joined: boolean;
  /** The chat was empty at the first join: while nothing is seen, everything in it is new. */
  fromStart: boolean;
  /** `message:new` that came while the catch-up ran: delivered after it, so each sender's order holds. */
  held: MessageView[];
}

/** What the rooms need from their socket. */
export interface RoomsHost {
  /** `chat:join`; rejects with SocketError "timeout" or "disconnected". */
  join(chatId: string, after: string | undefined): Promise<Ack<ResultOf<"chat:join">>>;
  /** Every message of the chat (over HTTP, bounded), oldest first. */
  history(chatId: string): Promise<MessageView[]>;
  /** `chat:leave`, answer ignored. */
  leave(chatId: string): void;
  /** The current connection's number; undefined while disconnected. */
  connection(): number | undefined;
  deliver(m: MessageView): void;
  removed(chatId: string): void;
  error(err: Error): void;
  /** Wakes whoever waits for a room to be ready. */
  changed(): void;
}

const TRANSIENT = new Set(["rate_limited", "unavailable", "internal"]);

/** The chats a socket has joined: re-joined after every connect with `after`, de-duplicated by id. */
export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Why a chat was given up (a refused join), until it is joined again. */
  private readonly failures = new Map<string, SocketError>();

  constructor(private readonly host: RoomsHost) {}

  has(chatId: string): boolean {
    return this.rooms.has(chatId);
  }

  /**
   * Remembers a chat (once). `start`: the newest message id when joined first (those up to it are
   * history), null when the chat was empty, undefined when unknown.
   */
  add(chatId: string, start: string | null | undefined): boolean {
    if (this.rooms.has(chatId)) return false;
    this.failures.delete(chatId);
    const room: Room = { log: new ChatLog(), synced: false, joined: false, fromStart: start === null, held: [] };
    if (start) room.log.startAfter(start);
    this.rooms.set(chatId, room);
    return true;
  }

  remove(chatId: string): void {
    if (this.rooms.delete(chatId)) this.host.changed();
  }

  /** "ready" once synced on this connection; throws the refusal once the chat was given up. */
  state(chatId: string): "ready" | "pending" {
    const room = this.rooms.get(chatId);
    if (!room) throw this.failures.get(chatId) ?? new SocketError("not_in_chat", "This socket has not joined the chat");
    return room.synced ? "ready" : "pending";
  }

  /** The connection dropped: every room must be joined again. */
  unsync(): void {
    for (const room of this.rooms.values()) {
      room.synced = false;
      room.held = [];
    }
  }

  /** Re-joins every room on connection `n`, one at a time: catch-ups are costly and rate-limited. */
  async syncAll(n: number): Promise<void> {
    for (const chatId of [...this.rooms.keys()]) await this.sync(chatId, n);
  }

  /** `chat:join {after: highest seen}` until `has_more` is false, then the held messages. */
  async sync(chatId: string, n: number): Promise<void> {
    const room = this.rooms.get(chatId);
    if (!room) return;
    room.synced = false;
    room.held = [];
    const retry = new Backoff(500, 5_000);
    const current = () => this.host.connection() === n && this.rooms.get(chatId) === room;
    while (current()) {
      const after = room.log.highest;
      let answer: Ack<ResultOf<"chat:join">>;
      try {
        answer = await this.host.join(chatId, after);
      } catch (err) {
        // A lost answer is asked again; a dropped connection syncs again on the next connect.
        if (err instanceof SocketError && err.code === "timeout") await sleep(retry.next());
        continue;
      }
      if (this.rooms.get(chatId) !== room) {
        // Left while the join ran: do not stay in the room, unless joined again meanwhile (that
        // join's own chat:join went after this one: leaving now would take the new room out).
        if (answer.ok && this.host.connection() === n && !this.rooms.has(chatId)) this.host.leave(chatId);
        return;
      }
      if (this.host.connection() !== n) return;
      if (!answer.ok) {
        const err = new SocketError(answer.error.code, answer.error.message);
        if (!TRANSIENT.has(answer.error.code)) return this.giveUp(chatId, room, err);
        this.host.error(err);
        await sleep(retry.next());
        continue;
      }
      room.joined = true;
      for (const m of answer.missed) this.deliver(room, m);
      // No id to resume after: in the room now (new messages are held), read what came before.
      if (after === undefined && room.fromStart) await this.fromStart(chatId, room);
      if (!current()) return;
      if (!answer.has_more) return this.finish(room);
    }
  }

  onMessage(m: MessageView): void {
    const room = this.rooms.get(m.chat_id);
    if (!room) return;
    if (room.synced) this.deliver(room, m);
    else room.held.push(m);
  }

  private async fromStart(chatId: string, room: Room): Promise<void> {
    try {
      for (const m of await this.host.history(chatId)) this.deliver(room, m);
    } catch (err) {
      this.host.error(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finish(room: Room): void {
    const held = room.held.sort(byId);
    room.held = [];
    for (const m of held) this.deliver(room, m);
    room.synced = true;
    this.host.changed();
  }

  private giveUp(chatId: string, room: Room, err: SocketError): void {
    this.rooms.delete(chatId);
    this.failures.set(chatId, err);
    // Refused after it had been joined: the user was removed while this socket was away.
    if (room.joined && err.code === "chat_forbidden") this.host.removed(chatId);
    else if (room.joined) this.host.error(err);
    this.host.changed();
  }

  private deliver(room: Room, m: MessageView): void {
    if (room.log.add(m.id)) this.host.deliver(m);
  }
}
