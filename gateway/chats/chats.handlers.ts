import { type MessageOutlet, mutedRoom, publishChange, publishMessage } from "../../shared/delivery/publish";
import { catchUp, chatHeads, deleteMessage, editMessage, fitMessages, react, readPosition } from "../../shared/db/changes";
import { decodeCursor, encodeCursor } from "../../shared/contract/validation";
import type { ChangeLimit } from "../../shared/limits/change-limit";
import type { ReadMarks } from "./read-marks";
import { LIMITS } from "../../shared/contract/views";
import type { ChatJoinPayload } from "../../shared/contract/events";
import type { Db } from "../../shared/db/db";
import { AppError } from "../../shared/contract/errors";
import type { MessageLimit } from "../../shared/limits/message-limit";
import { listMessages } from "../../shared/db/messages";
import type { GatewayMetrics } from "../gateway.metrics";
import type { Membership } from "./membership";
import type { Revocations } from "../sessions/revocations";
import { defineEvent, ensureConnected, type EventContext, type EventDefinition } from "../socket/define-event";
import type { EventBudget } from "../socket/event-budget";
import { rooms } from "../socket/rooms";
import { orderedQueue } from "../socket/ordered-queue";
import type { GatewayIo, GatewaySocket } from "../socket/types";
import type { SessionCheck } from "../auth/session-check";
import type { MessageBatch } from "./message-batch";
import type { PresenceSnapshots } from "../../shared/presence/snapshots";


/** A user's `chat:typing` in one chat goes out from a gateway at most once per this many milliseconds. */
const TYPING_INTERVAL_MS = 2_000;

/**
 * When each user last had `chat:typing` relayed in each chat by this gateway. Per user, not per
 * socket: a user with many sockets (tabs, or a client opening sockets to flood a big chat) is
 * relayed no more often than one with one, so a chat hears at most one typing per user per
 * interval from each gateway. Insertion order is age order, so stale entries leave from the head.
 */
class TypingTimes {
  private readonly at = new Map<string, number>();

  /** True (and noted) when the user's last relay in the chat is older than the interval. */
  take(userId: string, chatId: string, now: number): boolean {
    const key = `${userId} ${chatId}`;
    const last = this.at.get(key);
    if (last !== undefined && now - last < TYPING_INTERVAL_MS) return false;
    this.at.delete(key);
    this.at.set(key, now);
    for (const [k, t] of this.at) {
      if (now - t < TYPING_INTERVAL_MS) break;
      this.at.delete(k);
    }
    return true;
  }

  /** A message ends the user's typing burst: the next keystroke is announced at once. */
  end(userId: string, chatId: string): void {
    this.at.delete(`${userId} ${chatId}`);
  }

  get size(): number {
    return this.at.size;
  }
}

/** A catch-up (`chat:join {after}` or `{cursor}`) costs one point more per this many messages it hands back… */
const ROWS_PER_POINT = 10;
/** …and one more per this many changes (smaller, and merged). */
const CHANGES_PER_POINT = 50;
/** What a catch-up costs beyond its event's point until its rows are counted: as if it returned all it may (messages, and with a cursor changes too). */
export const CATCH_UP_HOLD = Math.ceil(LIMITS.historyMax / ROWS_PER_POINT);
const CURSOR_CATCH_UP_HOLD = CATCH_UP_HOLD + Math.ceil(LIMITS.changesMax / CHANGES_PER_POINT);

export interface ChatHandlerDeps {
  io: GatewayIo;
  /** Where stored messages are published (publishMessage): the server, noted by the outage replay. */
  outlet: MessageOutlet;
  db: Db;
  /** The session-and-membership check (batched across sockets; shared with the handshake). */
  sessions: SessionCheck;
  /** Stores `message:send`s (batched across sockets). */
  messages: MessageBatch;
  /** Who is online in which chat, across the cluster (`chat:presence`), read through this process's snapshots. */
  presence: PresenceSnapshots;
  revocations: Revocations;
  membership: Membership;
  metrics: GatewayMetrics;
  budget: EventBudget;
  /** Messages per user across the cluster (shared with the api's POST /chats/:id/messages). */
  messageLimit: MessageLimit;
  /** The `missed` of a `chat:join` answer stops short of this many bytes (`has_more` then says so). */
  joinAnswerMaxBytes: number;
  /** Resolves once Redis confirmed the room's subscription here (at once without the sharded adapter). */
  roomSubscribed: (room: string) => Promise<void>;
  /** `chat:read`s, coalesced into one statement (and one `message:read` per member and chat) a second. */
  reads: ReadMarks;
  /** Edits, deletions and reactions per user across the cluster (shared with the api). */
  changeLimit: ChangeLimit;
  /** Seconds after sending during which a message's sender may edit it. */
  editWindow: number;
}

const forbidden = () => new AppError("chat_forbidden", 403, "You are not a member of this chat");
const notInChat = () => new AppError("not_in_chat", 403, "Join the chat (chat:join) before sending to it");

/**
 * `chat:join`, `chat:leave` and `message:send`, shared by every socket. A socket's send queue is
 * made at its first send: idle sockets carry none.
 */
export function chatHandlers(deps: ChatHandlerDeps, ctx: EventContext): EventDefinition[] {
  const queues = new WeakMap<GatewaySocket, ReturnType<typeof orderedQueue>>();
  const typedAt = new TypingTimes();
  const queueOf = (socket: GatewaySocket) => {
    let queue = queues.get(socket);
    if (!queue) queues.set(socket, (queue = orderedQueue()));
    return queue;
  };

  /** A check that found the session revoked or expired ends the socket (the answer goes first). */
  const endIfSessionOver = (socket: GatewaySocket, err: unknown) => {
    if (!(err instanceof AppError) || (err.code !== "session_revoked" && err.code !== "token_expired")) return;
    // Answer first, then end: the acknowledgement is queued before the disconnect.
    const reason = err.code === "session_revoked" ? "revoked" : "expired";
    setImmediate(() => deps.revocations.end(socket, reason));
  };

  /** Membership, after confirming in the same query that the session is still live (else the socket ends). */
  const isMember = async (socket: GatewaySocket, chatId: string): Promise<boolean> => {
    try {
      return (await deps.sessions.check({ sid: socket.data.sessionId, sub: socket.data.userId }, chatId)).member === true;
    } catch (err) {
      endIfSessionOver(socket, err);
      throw err;
    }
  };

  /** What a refused store answers: the session ended (and the socket with it), or the sender is no longer in the chat. */
  const refusal = (socket: GatewaySocket, chatId: string, err: unknown): unknown => {
    if (!(err instanceof AppError)) return err;
    endIfSessionOver(socket, err);
    // Removed from the chat (or the chat deleted, its last member gone) since it joined.
    if (err.code === "chat_forbidden") deps.membership.removeFromChat(socket, chatId);
    return err.code === "chat_forbidden" || err.code === "not_found" ? notInChat() : err;
  };

  const join = defineEvent(
    "chat:join",
    async (socket, payload) => {
      // A join answered with an error leaves the socket as it was: out of the room if it was out (a
      // read after joining failed, PostgreSQL busy or down), or the client would get the room's
      // messages live, and could send to it, while it was told the join failed.
      const room = rooms.chat(payload.chat_id);
      const wasIn = socket.rooms.has(room);
      try {
        return await joinAndCatchUp(socket, payload);
      } catch (err) {
        if (!wasIn && socket.rooms.has(room)) await socket.leave(room);
        throw err;
      }
    },
    ctx,
  );

  /** `chat:join`: the room joined, then what the socket missed since its cursor (or `after`), or only the cursor of now. */
  async function joinAndCatchUp(socket: GatewaySocket, { chat_id, after, cursor }: ChatJoinPayload) {
    if (after === undefined && cursor === undefined) {
      await joinRoom(socket, chat_id);
      // Read after joining: what is stored later reaches the socket live.
      return { ok: true as const, chat_id, missed: [], changes: [], cursor: encodeCursor(await chatHeads(deps.db, chat_id)), has_more: false };
    }
    // A catch-up holds as many points as its largest answer would cost before it runs, so a burst
    // of them cannot all run at once; what it did not use goes back with its answer.
    const hold = cursor !== undefined ? CURSOR_CATCH_UP_HOLD : CATCH_UP_HOLD;
    if (deps.budget.take(socket, hold) !== "ok") throw new AppError("rate_limited", 429, "Too many catch-ups at once; slow down");
    let used = 0;
    try {
      await joinRoom(socket, chat_id);
      ensureConnected(socket);
      const viewer = socket.data.userId;
      if (cursor !== undefined) {
        // With `after` too (the last message the client already has, live), messages start after the later of the two.
        const from = decodeCursor(cursor)!;
        if (after !== undefined && BigInt(after) > BigInt(from.message)) from.message = after;
        const caught = await catchUp(deps.db, chat_id, viewer, from, { maxMessages: LIMITS.historyMax, maxBytes: deps.joinAnswerMaxBytes });
        used = Math.ceil(caught.missed.length / ROWS_PER_POINT) + Math.ceil(caught.changes.length / CHANGES_PER_POINT);
        return { ok: true as const, chat_id, missed: caught.missed, changes: caught.changes, cursor: encodeCursor(caught.position), has_more: caught.more };
      }
      // `after` alone (older clients): messages only; the cursor starts its changes from now.
      const [rows, heads] = await Promise.all([listMessages(deps.db, chat_id, { after: after!, limit: LIMITS.historyMax + 1 }, viewer), chatHeads(deps.db, chat_id)]);
      const { missed, more } = fitMessages(rows, LIMITS.historyMax, deps.joinAnswerMaxBytes);
      used = Math.ceil(missed.length / ROWS_PER_POINT);
      const position = { message: missed.length > 0 ? missed[missed.length - 1]!.id : after!, change: heads.change };
      return { ok: true as const, chat_id, missed, changes: [], cursor: encodeCursor(position), has_more: more };
    } finally {
      deps.budget.charge(socket, used - hold);
    }
  }

  /** Membership (and the session) checked, then the room joined; the answer of a join without `after`. */
  async function joinRoom(socket: GatewaySocket, chat_id: string) {
    if (!(await isMember(socket, chat_id))) throw forbidden();
    // Join before reading the history: a message stored meanwhile may arrive twice (clients
    // de-duplicate by id) but never falls in a gap.
    await socket.join(rooms.chat(chat_id));
    await deps.roomSubscribed(rooms.chat(chat_id));
    if (deps.membership.removedMeanwhile(chat_id, socket.data.userId)) {
      await socket.leave(rooms.chat(chat_id));
      throw forbidden();
    }
    return { ok: true as const, chat_id, missed: [], has_more: false };
  }

  const leave = defineEvent(
    "chat:leave",
    async (socket, { chat_id }) => {
      await socket.leave(rooms.chat(chat_id));
      return { ok: true };
    },
    ctx,
  );

  const send = defineEvent(
    "message:send",
    (socket, { chat_id, text: body, client_id }) => {
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      const { userId } = socket.data;
      return queueOf(socket)(async (turn, handedOn) => {
        ensureConnected(socket);
        // The posting limit is asked while the socket's earlier sends are still being stored; the
        // session and the membership are checked by the statement that stores the message (one
        // round trip), and a point taken for a message that is then refused is given back.
        const limit = deps.messageLimit.take(userId);
        await turn();
        await limit;
        ensureConnected(socket);
        const stored = deps.messages.store({ chatId: chat_id, senderId: userId, text: body, clientId: client_id, sessionId: socket.data.sessionId });
        handedOn();
        const { message, created } = await stored.catch((err: unknown) => {
          void deps.messageLimit.refund(userId);
          throw refusal(socket, chat_id, err);
        });
        if (created) {
          // Through the adapter: every gateway's sockets in the room, this one's included (the outage
          // replay marks it as it is encoded for them).
          publishMessage(deps.outlet, message);
          deps.metrics.messages.inc({ source: "socket" });
          // The message ends the typing: the next keystroke is announced at once.
          typedAt.end(socket.data.userId, chat_id);
        }
        return { ok: true as const, message };
      });
    },
    ctx,
  );
  const typing = defineEvent(
    "chat:typing",
    (socket, { chat_id }) => {
      // The room says the socket is a member: a removal or a revocation takes it out of the room.
      // No query per keystroke burst (the user's name came with the handshake).
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      if (!typedAt.take(socket.data.userId, chat_id, Date.now())) throw new AppError("rate_limited", 429, "At most one chat:typing per user and chat every 2 seconds");
      // The room's other sockets on every gateway (the sender's other tabs included), never stored.
      socket.to(rooms.chat(chat_id)).except(mutedRoom(socket.data.userId)).emit("typing", { chat_id, user: { id: socket.data.userId, username: socket.data.username } });
      return { ok: true as const };
    },
    ctx,
  );
  const presence = defineEvent(
    "chat:presence",
    async (socket, { chat_id }) => {
      // Members only: the socket must have joined the chat (its room).
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      const { count, users } = await deps.presence.list(chat_id);
      return { ok: true as const, chat_id, count, users };
    },
    ctx,
  );
  const read = defineEvent(
    "chat:read",
    async (socket, { chat_id, message_id }) => {
      if (!socket.rooms.has(rooms.chat(chat_id))) throw notInChat();
      const result = await deps.reads.mark(chat_id, socket.data.userId, message_id);
      if (!result.member) {
        deps.membership.removeFromChat(socket, chat_id);
        throw notInChat();
      }
      return { ok: true as const, chat_id, message_id: readPosition(result.position) };
    },
    ctx,
    // It waits up to a second for the shared flush, holding no connection: the socket's sends go on meanwhile.
    { holdsSlot: false },
  );

  /** A refused change: the user left the chat meanwhile (its socket leaves the room), or the shared layer's answer as it is. */
  const changeRefusal = (socket: GatewaySocket, chatId: string, err: unknown): unknown => {
    if (!(err instanceof AppError) || err.code !== "chat_forbidden") return err;
    deps.membership.removeFromChat(socket, chatId);
    return notInChat();
  };

  /** An edit, deletion or reaction: the socket is in the room, the user's change limit allows it. */
  const changing = async (socket: GatewaySocket, chatId: string) => {
    if (!socket.rooms.has(rooms.chat(chatId))) throw notInChat();
    await deps.changeLimit.take(socket.data.userId);
    ensureConnected(socket);
  };

  const edit = defineEvent(
    "message:edit",
    async (socket, { chat_id, message_id, text: body }) => {
      await changing(socket, chat_id);
      const userId = socket.data.userId;
      const { message, broadcast } = await editMessage(deps.db, { chatId: chat_id, messageId: message_id, userId, text: body, windowSeconds: deps.editWindow }).catch((err: unknown) => {
        throw changeRefusal(socket, chat_id, err);
      });
      publishChange(deps.outlet, chat_id, userId, "message:updated", broadcast);
      return { ok: true as const, message };
    },
    ctx,
  );

  const remove = defineEvent(
    "message:delete",
    async (socket, { chat_id, message_id }) => {
      await changing(socket, chat_id);
      const userId = socket.data.userId;
      const deleted = await deleteMessage(deps.db, { chatId: chat_id, messageId: message_id, userId }).catch((err: unknown) => {
        throw changeRefusal(socket, chat_id, err);
      });
      if (deleted.changed) publishChange(deps.outlet, chat_id, userId, "message:deleted", { chat_id, message_id: deleted.message_id });
      return { ok: true as const };
    },
    ctx,
  );

  const reactTo = defineEvent(
    "message:react",
    async (socket, { chat_id, message_id, emoji, on }) => {
      await changing(socket, chat_id);
      const userId = socket.data.userId;
      const { reactions, broadcast, changed } = await react(deps.db, { chatId: chat_id, messageId: message_id, userId, emoji, on }).catch((err: unknown) => {
        throw changeRefusal(socket, chat_id, err);
      });
      if (changed) publishChange(deps.outlet, chat_id, userId, "message:reactions", { chat_id, message_id, reactions: broadcast, user_id: userId });
      return { ok: true as const, chat_id, message_id, reactions };
    },
    ctx,
  );

  return [join, leave, send, typing, presence, read, edit, remove, reactTo];
}
