import { describe, expect, it } from "vitest";
import type { Ack, ResultOf } from "../../../shared/contract/events";
import type { ChangeView, MessageView, ReactionView } from "../../../shared/contract/views";
import { OwnReactions, Perspective } from "../../../client/reactions";
import { CURSOR_ROUNDS, type JoinFrom, Rooms } from "../../../client/rooms";

/**
 * The rooms' catch-up logic against a scripted server: which `chat:join` payloads go out, and what
 * reaches the app (messages and changes), in which order, how often.
 */
const CHAT = "00000000-0000-4000-8000-000000000001";
const ME = "00000000-0000-4000-8000-0000000000aa";
const OTHER = "00000000-0000-4000-8000-0000000000bb";

type JoinAnswer = Ack<ResultOf<"chat:join">>;

const message = (id: number, extra: Partial<MessageView> = {}): MessageView => ({
  id: String(id),
  chat_id: CHAT,
  sender: { id: OTHER, username: "other" },
  text: `m${id}`,
  client_id: null,
  created_at: "2026-01-01T00:00:00.000Z",
  edited_at: null,
  deleted: false,
  reactions: [],
  ...extra,
});
const answer = (a: Partial<Extract<JoinAnswer, { ok: true }>> = {}): JoinAnswer => ({ ok: true, chat_id: CHAT, missed: [], changes: [], cursor: "c", has_more: false, ...a });
const reactions = (...rs: [string, number, boolean][]): ReactionView[] => rs.map(([emoji, count, me]) => ({ emoji, count, me }));

function harness() {
  const joins: JoinFrom[] = [];
  const script: JoinAnswer[] = [];
  const waiting: ((a: JoinAnswer) => void)[] = [];
  const seen: (MessageView | ChangeView)[] = [];
  const errors: Error[] = [];
  let connection: number | undefined = 1;
  const own = new OwnReactions(() => ME);
  const rooms = new Rooms({
    join: (_chat, from) => {
      joins.push(from);
      const next = script.shift();
      return next ? Promise.resolve(next) : new Promise((resolve) => waiting.push(resolve));
    },
    history: async () => [],
    leave: () => undefined,
    connection: () => connection,
    perspective: new Perspective(own),
    deliver: (m) => seen.push(m),
    change: (c) => seen.push(c),
    removed: () => undefined,
    error: (err) => errors.push(err),
    changed: () => undefined,
  });
  return {
    rooms,
    joins,
    seen,
    errors,
    own,
    /** Answers the next joins with these, in order. */
    answers: (...as: JoinAnswer[]) => script.push(...as),
    /** Answers a join that is waiting. */
    reply: (a: JoinAnswer) => waiting.shift()!(a),
    drop: () => (connection = undefined),
    reconnect: (n: number) => (connection = n),
  };
}

const texts = (seen: (MessageView | ChangeView)[]) => seen.map((x) => ("type" in x ? `${x.type} ${"id" in x.data ? x.data.id : x.data.message_id}` : `message ${x.id}`));

describe("the rooms' catch-up", () => {
  it("joins first with `after`, then re-joins with the last answer's cursor, asking again while has_more", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    h.answers(answer({ missed: [message(11)], cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    expect(h.joins).toEqual([{ after: "10" }]);
    expect(h.rooms.cursor(CHAT)).toBe("c1");
    expect(h.rooms.state(CHAT)).toBe("ready");

    h.rooms.unsync();
    h.answers(answer({ missed: [message(11), message(12)], cursor: "c2", has_more: true }), answer({ missed: [message(13)], cursor: "c3" }));
    await h.rooms.sync(CHAT, 1);
    expect(h.joins.slice(1)).toEqual([{ cursor: "c1", after: "11" }, { cursor: "c2", after: "12" }]);
    expect(h.rooms.cursor(CHAT)).toBe("c3");
    expect(texts(h.seen)).toEqual(["message 11", "message 12", "message 13"]);
  });

  it("joins an empty chat with neither and reads its history; a cursor given at the first join is used at once", async () => {
    const h = harness();
    h.rooms.add(CHAT, null);
    h.answers(answer({ cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    expect(h.joins).toEqual([{}]);

    const k = harness();
    k.rooms.add(CHAT, undefined, "kept");
    k.answers(answer({ missed: [message(5)], cursor: "c9" }));
    await k.rooms.sync(CHAT, 1);
    expect(k.joins).toEqual([{ cursor: "kept" }]);
    expect(texts(k.seen)).toEqual(["message 5"]);
  });

  it("delivers the missed messages, then the changes, each change once even when it came live before", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    h.answers(answer({ cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    const edited = message(10, { text: "edited", edited_at: "2026-01-01T00:01:00.000Z" });
    const read: ChangeView = { type: "message:read", data: { chat_id: CHAT, user_id: OTHER, message_id: "10" } };
    // Came live before the drop.
    h.rooms.onChange({ type: "message:updated", data: edited });
    h.rooms.onChange(read);
    expect(h.seen).toHaveLength(2);

    h.rooms.unsync();
    const changes: ChangeView[] = [
      { type: "message:updated", data: edited },
      { type: "message:deleted", data: { chat_id: CHAT, message_id: "9" } },
      { type: "message:reactions", data: { chat_id: CHAT, message_id: "8", reactions: reactions(["👍", 1, true]), user_id: ME } },
      read,
      { type: "message:read", data: { chat_id: CHAT, user_id: ME, message_id: "11" } },
    ];
    h.answers(answer({ missed: [message(11)], changes, cursor: "c2", has_more: true }), answer({ changes: [changes[1]!, changes[3]!], cursor: "c3" }));
    await h.rooms.sync(CHAT, 1);
    expect(texts(h.seen.slice(2))).toEqual(["message 11", "message:deleted 9", "message:reactions 8", "message:read 11"]);
  });

  it("holds live changes while a catch-up runs and delivers them after it", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    const syncing = h.rooms.sync(CHAT, 1);
    h.rooms.onMessage(message(12));
    h.rooms.onChange({ type: "message:updated", data: message(12, { text: "edited", edited_at: "2026-01-01T00:02:00.000Z" }) });
    expect(h.seen).toEqual([]);
    h.reply(answer({ missed: [message(11)], changes: [{ type: "message:deleted", data: { chat_id: CHAT, message_id: "7" } }] }));
    await syncing;
    expect(texts(h.seen)).toEqual(["message 11", "message:deleted 7", "message 12", "message:updated 12"]);
  });

  it("drops an edit or reactions that come after the message's deletion, and a read position that is not ahead", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    h.answers(answer());
    await h.rooms.sync(CHAT, 1);
    {
      h.rooms.onChange({ type: "message:read", data: { chat_id: CHAT, user_id: OTHER, message_id: "12" } });
      h.rooms.onChange({ type: "message:read", data: { chat_id: CHAT, user_id: OTHER, message_id: "11" } });
      h.rooms.onChange({ type: "message:deleted", data: { chat_id: CHAT, message_id: "12" } });
      h.rooms.onChange({ type: "message:updated", data: message(12, { edited_at: "2026-01-01T00:03:00.000Z" }) });
      h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "12", reactions: reactions(["👍", 1, false]), user_id: OTHER } });
      h.rooms.onChange({ type: "message:deleted", data: { chat_id: CHAT, message_id: "12" } });
      expect(texts(h.seen)).toEqual(["message:read 12", "message:deleted 12"]);
    }
  });

  it("passes on a read position of a chat it has not joined (the user's own, from elsewhere)", () => {
    const h = harness();
    h.rooms.onChange({ type: "message:read", data: { chat_id: CHAT, user_id: ME, message_id: "3" } });
    h.rooms.onChange({ type: "message:deleted", data: { chat_id: CHAT, message_id: "3" } });
    expect(texts(h.seen)).toEqual(["message:read 3"]);
  });

  it("asks with the cursor a bounded number of times, then for the remaining messages with `after`, and says so", async () => {
    const h = harness();
    h.rooms.add(CHAT, "1");
    h.answers(answer({ cursor: "c0" }));
    await h.rooms.sync(CHAT, 1);
    h.rooms.unsync();
    for (let i = 0; i < CURSOR_ROUNDS; i++) h.answers(answer({ missed: [message(2 + i)], cursor: `c${i + 1}`, has_more: true }));
    h.answers(answer({ missed: [message(500)], cursor: "after-1", has_more: true }), answer({ missed: [message(501)], cursor: "after-2" }));
    await h.rooms.sync(CHAT, 1);
    const asked = h.joins.slice(1);
    expect(asked).toHaveLength(CURSOR_ROUNDS + 2);
    expect(asked.slice(0, CURSOR_ROUNDS).every((j, i) => j.cursor !== undefined && j.after === String(1 + i))).toBe(true);
    expect(asked.slice(CURSOR_ROUNDS)).toEqual([{ after: String(1 + CURSOR_ROUNDS) }, { after: "500" }]);
    expect(h.errors.map((e) => (e as { code?: string }).code)).toEqual(["catch_up_incomplete"]);
    expect(h.rooms.cursor(CHAT)).toBe("after-2");
    // The next re-join starts from the cursor again.
    h.rooms.unsync();
    h.answers(answer({ cursor: "c-next" }));
    await h.rooms.sync(CHAT, 1);
    expect(h.joins.at(-1)).toEqual({ cursor: "after-2", after: "501" });
  });

  it("drops a cursor the server refuses and asks with `after` instead, saying so", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10", "bad");
    h.answers({ ok: false, error: { code: "invalid_payload", message: "cursor: must be a cursor from an earlier chat:join answer" } }, answer({ missed: [message(11)], cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    expect(h.joins).toEqual([{ cursor: "bad", after: "10" }, { after: "10" }]);
    expect(h.errors.map((e) => (e as { code?: string }).code)).toEqual(["invalid_payload"]);
    expect(h.rooms.state(CHAT)).toBe("ready");
    expect(h.rooms.cursor(CHAT)).toBe("c1");
  });

  it("ignores an answer that arrives after the connection dropped: its cursor is not taken", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    h.answers(answer({ cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    h.rooms.unsync();
    h.reconnect(2);
    const syncing = h.rooms.sync(CHAT, 2);
    expect(h.joins.at(-1)).toEqual({ cursor: "c1", after: "10" });
    h.drop();
    h.reply(answer({ missed: [message(11)], cursor: "lost" }));
    await syncing;
    expect(h.rooms.cursor(CHAT)).toBe("c1");
    expect(h.seen).toEqual([]);
  });
});

describe("reactions as the user sees them", () => {
  it("keeps the user's own `me` in a live list from another user's point of view; a vanished emoji is gone", async () => {
    const h = harness();
    h.rooms.add(CHAT, "10");
    h.answers(answer({ missed: [message(11, { reactions: reactions(["❤️", 1, true]) })], cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    // Another user adds 👍: the list is as that user sees it (❤️ not theirs).
    h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "11", reactions: reactions(["❤️", 1, false], ["👍", 1, true]), user_id: OTHER } });
    // The user's own change (from another device): its `me` is the user's.
    h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "11", reactions: reactions(["❤️", 1, true], ["👍", 2, true]), user_id: ME } });
    h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "11", reactions: reactions(["❤️", 1, false], ["👍", 1, false]), user_id: OTHER } });
    // ❤️ gone (the user took it off elsewhere, unseen), then someone puts it back.
    h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "11", reactions: reactions(["👍", 1, false]), user_id: OTHER } });
    h.rooms.onChange({ type: "message:reactions", data: { chat_id: CHAT, message_id: "11", reactions: reactions(["👍", 1, false], ["❤️", 1, true]), user_id: OTHER } });
    const lists = h.seen.filter((x): x is Extract<ChangeView, { type: "message:reactions" }> => "type" in x && x.type === "message:reactions").map((c) => c.data.reactions);
    expect(lists).toEqual([
      reactions(["❤️", 1, true], ["👍", 1, false]),
      reactions(["❤️", 1, true], ["👍", 2, true]),
      reactions(["❤️", 1, true], ["👍", 1, true]),
      reactions(["👍", 1, true]),
      reactions(["👍", 1, true], ["❤️", 1, false]),
    ]);
  });

  it("corrects a live edit's reactions (its editor's `me`) unless the user is the sender", async () => {
    const h = harness();
    h.own.learn("11", reactions(["🎉", 2, true]));
    h.rooms.add(CHAT, "10");
    h.answers(answer({ cursor: "c1" }));
    await h.rooms.sync(CHAT, 1);
    h.rooms.onChange({ type: "message:updated", data: message(11, { edited_at: "2026-01-01T00:01:00.000Z", reactions: reactions(["🎉", 2, false]) }) });
    const mine = message(12, { sender: { id: ME, username: "me" }, edited_at: "2026-01-01T00:01:00.000Z", reactions: reactions(["🎉", 1, false]) });
    h.rooms.onChange({ type: "message:updated", data: mine });
    const updated = h.seen.filter((x): x is Extract<ChangeView, { type: "message:updated" }> => "type" in x && x.type === "message:updated").map((c) => c.data.reactions);
    expect(updated).toEqual([reactions(["🎉", 2, true]), reactions(["🎉", 1, false])]);
  });

  it("starts afresh for another user", () => {
    let user = ME;
    const own = new OwnReactions(() => user);
    own.learn("1", reactions(["👍", 1, true]));
    expect(own.correct("1", reactions(["👍", 2, false]))).toEqual(reactions(["👍", 2, true]));
    user = OTHER;
    expect(own.correct("1", reactions(["👍", 2, true]))).toEqual(reactions(["👍", 2, false]));
  });
});
