import type { ChangeView, MessageView } from "../shared/contract/views";
import type { Ack, ChatJoinPayload, ResultOf } from "../shared/contract/events";
import { Backoff, sleep } from "./backoff";
import { ChangeState } from "./changes";
import { byId, ChatLog } from "./chat-log";
import { SocketError } from "./errors";
import type { Perspective } from "./reactions";

interface Room {
  log: ChatLog;
  /** The changes delivered, so that a catch-up does not deliver one again. */
  changes: ChangeState;
  /** The last join answer's cursor: where the next catch-up starts (undefined before the first answer). */
  cursor: string | undefined;
  /** Joined on the current connection, its catch-up delivered. */
  synced: boolean;
  /** Joined successfully at least once (a later refusal means the user was removed meanwhile). */
  joined: boolean;
  /** The chat was empty at the first join: while nothing is seen, everything in it is new. */
  fromStart: boolean;
  /** `message:new` that came while the catch-up ran: delivered after it, so each sender's order holds. */
  held: MessageView[];
  /** Live changes that came while the catch-up ran: delivered after it (and after the held messages), in the order they came. */
  heldChanges: ChangeView[];
}

/** Where a `chat:join` starts: the cursor of an earlier answer, else the last message id seen, else nothing. */
export type JoinFrom = Pick<ChatJoinPayload, "after" | "cursor">;

/** What the rooms need from their socket. */
export interface RoomsHost {
  /** `chat:join`; rejects with SocketError "timeout" or "disconnected". */
  join(chatId: string, from: JoinFrom): Promise<Ack<ResultOf<"chat:join">>>;
  /** Every message of the chat (over HTTP, bounded), oldest first. */
  history(chatId: string): Promise<MessageView[]>;
  /** `chat:leave`, answer ignored. */
  leave(chatId: string): void;
  /** The current connection's number; undefined while disconnected. */
  connection(): number | undefined;
  /** Reactions as the logged-in user sees them. */
  perspective: Perspective;
  deliver(m: MessageView): void;
  /** A change to pass on as the event it stands for. */
  change(c: ChangeView): void;
  removed(chatId: string): void;
  error(err: Error): void;
  /** Wakes whoever waits for a room to be ready. */
  changed(): void;
}

const TRANSIENT = new Set(["rate_limited", "unavailable", "internal"]);

/**
 * Catch-up answers asked for with a cursor, one after the other, before the rest is asked for with
 * `after` (messages only: the changes in between are skipped, and the `error` event says so). The
 * changes of a cursor repeat what came live since the answer that carried it (the messages do not:
 * `after` goes with it), so a chat whose messages changed a lot may take several answers.
 */
export const CURSOR_ROUNDS = 20;

/**
 * The chats a socket has joined: re-joined after every connect with the last cursor (or `after`
 * the last message seen, when no cursor is known), messages de-duplicated by id, changes passed on
 * once each.
 */
export class Rooms {
  private readonly rooms = new Map<string, Room>();
  /** Why a chat was given up (a refused join), until it is joined again. */
  private readonly failures = new Map<string, SocketError>();

  constructor(private readonly host: RoomsHost) {}

  has(chatId: string): boolean {
    return this.rooms.has(chatId);
  }

  /** The cursor of the chat's last join answer (what a re-join catches up from). */
  cursor(chatId: string): string | undefined {
    return this.rooms.get(chatId)?.cursor;
  }

  /**
   * Remembers a chat (once). `start`: the newest message id when joined first (those up to it are
   * history), null when the chat was empty, undefined when unknown. `cursor`: one the app kept from
   * an earlier socket, to catch up from.
   */
  add(chatId: string, start: string | null | undefined, cursor?: string): boolean {
    if (this.rooms.has(chatId)) return false;
    this.failures.delete(chatId);
    const room: Room = { log: new ChatLog(), changes: new ChangeState(), cursor, synced: false, joined: false, fromStart: start === null && cursor === undefined, held: [], heldChanges: [] };
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

  /** The connection dropped: every room must be joined again (what was held comes again with the next catch-up). */
  unsync(): void {
    for (const room of this.rooms.values()) {
      room.synced = false;
      room.held = [];
      room.heldChanges = [];
    }
  }

  /** Re-joins every room on connection `n`, one at a time: catch-ups are costly and rate-limited. */
  async syncAll(n: number): Promise<void> {
    for (const chatId of [...this.rooms.keys()]) await this.sync(chatId, n);
  }

  /**
   * `chat:join {cursor}` (or `{after: highest seen}` while no cursor is known) until `has_more` is
   * false: each answer's missed messages, then its changes, then the held messages and changes.
   */
  async sync(chatId: string, n: number): Promise<void> {
    const room = this.rooms.get(chatId);
    if (!room) return;
    room.synced = false;
    room.held = [];
    room.heldChanges = [];
    const retry = new Backoff(500, 5_000);
    const current = () => this.host.connection() === n && this.rooms.get(chatId) === room;
    let cursorRounds = 0;
    while (current()) {
      const cursor = cursorRounds < CURSOR_ROUNDS ? room.cursor : undefined;
      const after = room.log.highest;
      let answer: Ack<ResultOf<"chat:join">>;
      try {
        // With both, the server starts the messages after the later of the two: what came live is not sent again.
        answer = await this.host.join(chatId, cursor !== undefined ? { cursor, ...(after !== undefined ? { after } : {}) } : after !== undefined ? { after } : {});
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
        if (answer.error.code === "invalid_payload" && cursor !== undefined) {
          // A cursor the server does not take (one the app kept from elsewhere, or from an older
          // server): the messages after the last one seen are asked for instead, the changes skipped.
          this.host.error(err);
          room.cursor = undefined;
          continue;
        }
        if (!TRANSIENT.has(answer.error.code)) return this.giveUp(chatId, room, err);
        this.host.error(err);
        await sleep(retry.next());
        continue;
      }
      room.joined = true;
      for (const m of answer.missed) this.deliver(room, m, false);
      for (const c of answer.changes ?? []) this.apply(room, c, false);
      if (typeof answer.cursor === "string") room.cursor = answer.cursor;
      // No cursor nor id to resume after: in the room now (new messages are held), read what came before.
      if (cursor === undefined && after === undefined && room.fromStart) await this.fromStart(chatId, room);
      if (!current()) return;
      if (!answer.has_more) return this.finish(room);
      if (cursor !== undefined && ++cursorRounds === CURSOR_ROUNDS) {
        this.host.error(new SocketError("catch_up_incomplete", `chat ${chatId}: still more after ${CURSOR_ROUNDS} catch-up answers; the rest of the messages follow, changes in between are skipped (reload the chat)`));
      }
    }
  }

  onMessage(m: MessageView): void {
    const room = this.rooms.get(m.chat_id);
    if (!room) return;
    if (room.synced) this.deliver(room, m, true);
    else room.held.push(m);
  }

  /** A live change: passed on once the room's catch-up is delivered. A read position of a chat not joined here (the user's own, read elsewhere) is passed on as it came. */
  onChange(c: ChangeView): void {
    const room = this.rooms.get(c.data.chat_id);
    if (!room) {
      if (c.type === "message:read") this.host.change(c);
      return;
    }
    if (room.synced) this.apply(room, c, true);
    else room.heldChanges.push(c);
  }

  private async fromStart(chatId: string, room: Room): Promise<void> {
    try {
      for (const m of await this.host.history(chatId)) this.deliver(room, m, false);
    } catch (err) {
      this.host.error(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private finish(room: Room): void {
    const held = room.held.sort(byId);
    const heldChanges = room.heldChanges;
    room.held = [];
    room.heldChanges = [];
    for (const m of held) this.deliver(room, m, true);
    for (const c of heldChanges) this.apply(room, c, true);
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

  /** `live`: it came as `message:new`; else from a catch-up or the history (reactions as the user sees them). */
  private deliver(room: Room, m: MessageView, live: boolean): void {
    // A catch-up's message carries the user's own reactions even when it was delivered before.
    if (!live) this.host.perspective.message(m, false);
    if (!room.log.add(m.id)) return;
    const own = live ? this.host.perspective.message(m, true) : m;
    room.changes.noteMessage(own);
    this.host.deliver(own);
  }

  /** `live`: it came as its event; else from a catch-up. */
  private apply(room: Room, c: ChangeView, live: boolean): void {
    const own = this.host.perspective.change(c, live);
    if (room.changes.take(own)) this.host.change(own);
  }
}
