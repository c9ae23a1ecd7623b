import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, type ChatSocket, type ChatSocketEvents, type Client, type ClientOptions, type SocketStatus } from "../../../client/index";
import type { ChatJoinPayload } from "../../../shared/contract/events";
import type { MessageView } from "../../../shared/contract/views";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy";
import { signedUp } from "../../support/typed-client";
import { eventually } from "../../support/waits";

/**
 * Read positions, edits, deletions, reactions, reports and blocks through the typed client: its
 * HTTP calls, its socket calls, the events it relays live, and the catch-up of a socket that was
 * away while they happened (chat:join {cursor}), each change once, in order.
 */
let node: SingleNode;
/** Between some sockets and the node: cut to take their connection away (and any reconnect) until restored. */
let proxy: TcpProxy;
const open: ChatSocket[] = [];

beforeAll(async () => {
  node = await startSingleNode();
  const { hostname, port } = new URL(node.url);
  proxy = await startTcpProxy({ host: hostname, port: Number(port) });
});
afterAll(async () => {
  for (const socket of open) socket.close();
  await proxy?.close();
  await node?.close();
});

async function user(prefix: string, options: Partial<ClientOptions> = {}): Promise<Client> {
  return (await signedUp({ url: node.url, ...options }, prefix)).client;
}

/** Everything an app hears on a socket, in order, as readable entries. */
type Entry =
  | { event: "message"; id: string; text: string }
  | { event: "message:updated"; id: string; text: string; edited: boolean }
  | { event: "message:deleted"; id: string }
  | { event: "message:reactions"; id: string; reactions: string; by: string }
  | { event: "message:read"; user: string; id: string };

/** `emoji count me` per reaction, e.g. "❤️ 1 me, 👍 1". */
const reactionsText = (rs: Parameters<ChatSocketEvents["message:reactions"]>[0]["reactions"]) => rs.map((r) => `${r.emoji} ${r.count}${r.me ? " me" : ""}`).join(", ");

function listen(socket: ChatSocket): Entry[] {
  const log: Entry[] = [];
  socket.on("message", (m) => log.push({ event: "message", id: m.id, text: m.text }));
  socket.on("message:updated", (m) => log.push({ event: "message:updated", id: m.id, text: m.text, edited: m.edited_at !== null }));
  socket.on("message:deleted", (p) => log.push({ event: "message:deleted", id: p.message_id }));
  socket.on("message:reactions", (p) => log.push({ event: "message:reactions", id: p.message_id, reactions: reactionsText(p.reactions), by: p.user_id }));
  socket.on("message:read", (p) => log.push({ event: "message:read", user: p.user_id, id: p.message_id }));
  return log;
}

const has = (log: Entry[], entry: Entry) => log.some((e) => isDeepStrictEqual(e, entry));

/** Alice's chat with Bob (invited and accepted). */
async function pair(prefix: string, bobOptions: Partial<ClientOptions> = {}) {
  const [alice, bob] = await Promise.all([user(`${prefix}_a`), user(`${prefix}_b`, bobOptions)]);
  const chat = await alice.chats.create({ name: prefix, members: [bob.user!.username] });
  await bob.invites.accept((await bob.invites.list())[0]!.id);
  return { alice, bob, chat, aliceId: alice.user!.id, bobId: bob.user!.id };
}

function connect(client: Client): ChatSocket {
  const socket = client.connect();
  open.push(socket);
  return socket;
}

/**
 * Alice (straight to the node) and Bob, whose socket goes through the proxy (WebSocket only, quick
 * reconnects; his HTTP calls go straight to the node), both in their chat; what Bob's socket
 * hears, and the chat:join payloads it sends.
 */
async function bobAway(prefix: string) {
  const p = await pair(prefix, { socketUrl: `http://127.0.0.1:${proxy.port}`, socket: { transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 250 } });
  const a = connect(p.alice);
  const b = connect(p.bob);
  const bobHears = listen(b);
  const statuses: SocketStatus[] = [];
  b.on("status", (s) => statuses.push(s));
  const joins: ChatJoinPayload[] = [];
  const emit = b.raw.emit.bind(b.raw) as (event: string, ...args: unknown[]) => unknown;
  (b.raw as unknown as { emit: typeof emit }).emit = (event, ...args) => {
    if (event === "chat:join") joins.push(args[0] as ChatJoinPayload);
    return emit(event, ...args);
  };
  await Promise.all([a.join(p.chat.id), b.join(p.chat.id)]);
  return {
    ...p,
    a,
    b,
    bobHears,
    statuses,
    joins,
    /** Takes Bob's connection away (no reconnect gets through) while `meanwhile` runs, then lets it back and waits for the catch-up to be over. */
    async away(meanwhile: () => Promise<void>) {
      await proxy.cut();
      await eventually(() => b.status === "reconnecting", 5_000, "bob's socket is down");
      await meanwhile();
      await proxy.restore();
      await eventually(() => b.status === "connected", 10_000, "bob's socket is back");
      // A barrier: once Bob has what Alice sends now, his catch-up is over (the marker itself may come
      // in it, when it was stored before the re-join read the messages, or live after it).
      const marker = await a.send(p.chat.id, "marker");
      await eventually(() => has(bobHears, { event: "message", id: marker.id, text: "marker" }), 10_000, "bob has the marker");
      return marker;
    },
  };
}

/**
 * First, one at a time, on a database of their own: a catch-up lists the changes in the order of
 * the server's change sequence, and these tests check that order (see the first one).
 */
describe("a socket that was away", () => {
  /** Ten changes while away: Bob's socket hears the edits it missed. */
  async function tenEditsAway() {
    const { chat, a, bobHears, away } = await bobAway("ten");
    const sent: MessageView[] = [];
    for (let i = 1; i <= 10; i++) sent.push(await a.send(chat.id, `m${i}`));
    await eventually(() => bobHears.length === sent.length, 5_000, "bob has the messages");
    await away(async () => {
      for (const m of sent) await a.edit(chat.id, m.id, `${m.text}, edited`);
    });
    return { sent: sent.map((m) => m.id), edits: bobHears.filter((e) => e.event === "message:updated").map((e) => e.id) };
  }

  /** Ten changes pass from one digit to two: they come back in the order made (the sequence is compared as a number). */
  it("catches up on changes in the order they were made, past ten of them", async () => {
    const { sent, edits } = await tenEditsAway();
    expect(edits).toEqual(sent);
  });

  it("catches up on ten changes, each once", async () => {
    const { sent, edits } = await tenEditsAway();
    expect([...edits].sort()).toEqual([...sent].sort());
  });

  it("catches up on an edit, a deletion, a reaction and a read position: once each, in order", async () => {
    const { alice, chat, aliceId, bobId, a, b, bobHears, statuses, joins, away } = await bobAway("away");
    const one = await a.send(chat.id, "one");
    const two = await a.send(chat.id, "two");
    await b.react(chat.id, one.id, "❤️");
    await eventually(() => has(bobHears, { event: "message:reactions", id: one.id, reactions: "❤️ 1 me", by: bobId }), 5_000, "bob's own reaction");
    const before = bobHears.length;
    const cursor = b.cursor(chat.id);
    expect(cursor).toEqual(expect.any(String));

    let edited = "";
    let three = "";
    const marker = await away(async () => {
      edited = (await a.edit(chat.id, one.id, "one, edited")).text;
      await alice.chats.deleteMessage(chat.id, two.id);
      await a.react(chat.id, one.id, "👍");
      three = (await a.send(chat.id, "three")).id;
      await alice.chats.markRead(chat.id, three);
      expect(bobHears.length).toBe(before);
    });

    // The marker comes once: live, or in the catch-up's messages when it was stored before the re-join read them.
    const isMarker = (e: (typeof bobHears)[number]) => e.event === "message" && "id" in e && e.id === marker.id;
    expect(bobHears.slice(before).filter(isMarker)).toHaveLength(1);
    expect(bobHears.slice(before).filter((e) => !isMarker(e))).toEqual([
      // The catch-up: the missed message, then each change as it is now.
      { event: "message", id: three, text: "three" },
      { event: "message:updated", id: one.id, text: edited, edited: true },
      { event: "message:deleted", id: two.id },
      // A catch-up's reactions are Bob's point of view (and `user_id` is Bob).
      { event: "message:reactions", id: one.id, reactions: "❤️ 1 me, 👍 1", by: bobId },
      { event: "message:read", user: aliceId, id: three },
    ]);
    expect(statuses).toEqual(["connected", "reconnecting", "connected"]);
    // The first join (of a chat still empty) asked for nothing; the re-join caught up from its answer's
    // cursor, with the last message Bob had live (`two`) so that only later messages come again.
    expect(joins).toEqual([{ chat_id: chat.id }, { chat_id: chat.id, cursor, after: two.id }]);
    expect(b.cursor(chat.id)).not.toBe(cursor);
    // Bob's socket works as before.
    await b.read(chat.id, marker.id);
    await eventually(() => has(bobHears, { event: "message:read", user: bobId, id: marker.id }), 5_000, "bob's own read");
  });
});

describe.concurrent("chat essentials through the typed client", () => {
  it("read positions: the other member and the reader's own other device hear message:read; the lists show them", async ({ expect }) => {
    const { alice, bob, chat, bobId } = await pair("reads");
    const a = connect(alice);
    const laptop = connect(bob);
    // Bob's phone has not joined the chat: it hears his own read positions all the same (badges).
    const phone = connect(bob);
    const [aliceHears, laptopHears, phoneHears] = [listen(a), listen(laptop), listen(phone)];
    await Promise.all([a.join(chat.id), laptop.join(chat.id)]);
    await eventually(() => phone.connected, 5_000, "bob's phone connected");

    const first = await a.send(chat.id, "one");
    const second = await a.send(chat.id, "two");
    expect((await bob.chats.list()).find((c) => c.id === chat.id)).toMatchObject({ unread_count: 2, read_message_id: null, last_message: { id: second.id, text: "two" } });

    expect(await laptop.read(chat.id, first.id)).toEqual({ chat_id: chat.id, message_id: first.id });
    const read = { event: "message:read", user: bobId, id: first.id } as const;
    await eventually(() => has(aliceHears, read) && has(phoneHears, read) && has(laptopHears, read), 5_000, "message:read everywhere");
    expect((await bob.chats.list()).find((c) => c.id === chat.id)).toMatchObject({ unread_count: 1, read_message_id: first.id });

    // Over HTTP the same; a position behind the current one does not move it back.
    expect(await bob.chats.markRead(chat.id, second.id)).toEqual({ chat_id: chat.id, message_id: second.id });
    expect(await bob.chats.markRead(chat.id, first.id)).toEqual({ chat_id: chat.id, message_id: second.id });
    const readSecond = { event: "message:read", user: bobId, id: second.id } as const;
    await eventually(() => has(aliceHears, readSecond) && has(phoneHears, readSecond), 5_000, "the second message:read");
    const detail = await alice.chats.get(chat.id);
    expect(detail.members.find((m) => m.user_id === bobId)?.read_message_id).toBe(second.id);
    expect(detail.members.find((m) => m.user_id === alice.user!.id)?.read_message_id).toBeNull();
    expect((await bob.chats.list()).find((c) => c.id === chat.id)).toMatchObject({ unread_count: 0, read_message_id: second.id });
    // Each position once per socket.
    expect(aliceHears.filter((e) => e.event === "message:read")).toEqual([read, readSecond]);
  });

  it("edits, reactions (each socket with its own `me`) and deletions reach the other member live", async ({ expect }) => {
    const { alice, bob, chat, aliceId, bobId } = await pair("live");
    const a = connect(alice);
    const b = connect(bob);
    const [aliceHears, bobHears] = [listen(a), listen(b)];
    await Promise.all([a.join(chat.id), b.join(chat.id)]);
    const m = await a.send(chat.id, "frist");

    const edited = await a.edit(chat.id, m.id, "first");
    expect(edited).toMatchObject({ id: m.id, text: "first", deleted: false });
    expect(edited.edited_at).not.toBeNull();
    await eventually(() => has(bobHears, { event: "message:updated", id: m.id, text: "first", edited: true }), 5_000, "bob hears the edit");

    // Alice's ❤️, then Bob's 👍: the event of Bob's reaction is Bob's point of view, which Alice's socket corrects to hers.
    expect(await a.react(chat.id, m.id, "❤️")).toEqual({ chat_id: chat.id, message_id: m.id, reactions: [{ emoji: "❤️", count: 1, me: true }] });
    await eventually(() => has(bobHears, { event: "message:reactions", id: m.id, reactions: "❤️ 1", by: aliceId }), 5_000, "bob hears alice's reaction");
    expect((await b.react(chat.id, m.id, "👍")).reactions).toEqual([
      { emoji: "❤️", count: 1, me: false },
      { emoji: "👍", count: 1, me: true },
    ]);
    await eventually(() => has(aliceHears, { event: "message:reactions", id: m.id, reactions: "❤️ 1 me, 👍 1", by: bobId }), 5_000, "alice hears bob's reaction, her ❤️ hers");
    await eventually(() => has(bobHears, { event: "message:reactions", id: m.id, reactions: "❤️ 1, 👍 1 me", by: bobId }), 5_000, "bob hears his own");
    // Over HTTP too, taken off again.
    expect((await alice.chats.react(chat.id, m.id, "❤️", false)).reactions).toEqual([{ emoji: "👍", count: 1, me: false }]);
    await eventually(() => has(bobHears, { event: "message:reactions", id: m.id, reactions: "👍 1 me", by: aliceId }), 5_000, "bob hears the ❤️ taken off, his 👍 his");

    await a.delete(chat.id, m.id);
    await eventually(() => has(bobHears, { event: "message:deleted", id: m.id }), 5_000, "bob hears the deletion");
    await eventually(() => has(aliceHears, { event: "message:deleted", id: m.id }), 5_000, "alice hears it too");
    expect((await bob.chats.messages(chat.id))[0]).toMatchObject({ id: m.id, text: "", deleted: true, reactions: [] });
    // Editing a tombstone: not found; the socket stays.
    await expect(a.edit(chat.id, m.id, "back?")).rejects.toMatchObject({ code: "not_found" });
    expect(a.connected).toBe(true);
  });

  it("edits, deletes and reports over HTTP; the owner resolves a report, deleting the message live", async ({ expect }) => {
    const { alice, bob, chat, aliceId } = await pair("http");
    const a = connect(alice);
    const aliceHears = listen(a);
    await a.join(chat.id);
    const mine = await bob.chats.post(chat.id, { text: "typo" });
    const fixed = await bob.chats.editMessage(chat.id, mine.id, "no typo");
    expect(fixed).toMatchObject({ id: mine.id, text: "no typo" });
    await eventually(() => has(aliceHears, { event: "message:updated", id: mine.id, text: "no typo", edited: true }), 5_000, "alice hears the edit");
    await expect(alice.chats.editMessage(chat.id, mine.id, "not yours")).rejects.toMatchObject({ status: 403, code: "forbidden" });

    const rude = await bob.chats.post(chat.id, { text: "rude" });
    const report = await alice.chats.report(chat.id, rude.id, "rude");
    expect(report).toMatchObject({ chat_id: chat.id, message_id: rude.id, text: "rude", reason: "rude", status: "open", reporter: { id: aliceId } });
    expect((await alice.chats.report(chat.id, rude.id, "rude again")).id).toBe(report.id);
    expect((await alice.chats.reports(chat.id)).map((r) => r.id)).toEqual([report.id]);
    expect(await alice.chats.reports(chat.id, { status: "resolved" })).toEqual([]);
    const refused = await bob.chats.reports(chat.id).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 403, code: "forbidden" });
    const resolved = await alice.chats.resolveReport(chat.id, report.id, { resolution: "removed", delete_message: true });
    expect(resolved).toMatchObject({ id: report.id, status: "resolved", resolution: "removed" });
    await eventually(() => has(aliceHears, { event: "message:deleted", id: rude.id }), 5_000, "the reported message deleted live");
    expect((await alice.chats.reports(chat.id, { status: "all", limit: 10 })).map((r) => r.status)).toEqual(["resolved"]);

    await bob.chats.deleteMessage(chat.id, mine.id);
    await eventually(() => has(aliceHears, { event: "message:deleted", id: mine.id }), 5_000, "bob's own deletion");
    expect((await alice.chats.messages(chat.id)).map((m) => m.deleted)).toEqual([true, true]);
  });

  it("blocks and unblocks a user", async ({ expect }) => {
    const { alice, bob, aliceId } = await pair("blocks");
    expect(await bob.blocks.list()).toEqual([]);
    const block = await bob.blocks.block(aliceId);
    expect(block.user).toEqual({ id: aliceId, username: alice.user!.username });
    expect(await bob.blocks.block(aliceId)).toEqual(block);
    expect(await bob.blocks.list()).toEqual([block]);
    await bob.blocks.unblock(aliceId);
    await bob.blocks.unblock(aliceId);
    expect(await bob.blocks.list()).toEqual([]);
    await expect(bob.blocks.block(bob.user!.id)).rejects.toMatchObject({ status: 400 });
  });

});
