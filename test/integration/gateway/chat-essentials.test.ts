import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { type InProcessCluster, startInProcessCluster, startOnRedisCluster } from "../../support/fixtures";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { startRedisCluster } from "../../support/redis-cluster";
import { ask, askMalformed, type ClientSocket } from "../../support/socket-client";
import { collect, eventually, nextEvent, quiet } from "../../support/waits";

/**
 * Chat essentials live across three gateways: edits, deletions (tombstones), reactions, read
 * positions (coalesced per gateway) and blocks, on one Redis and on a Redis Cluster (rooms on
 * sharded pub/sub). Every change is made on one gateway (or over HTTP, through the api's outlet)
 * and checked on the sockets of every gateway.
 */

/** 100 chat:read from one socket must not be refused by the per-socket event budget (30 by default): the case is the coalescing. */
const ENV = { SOCKET_EVENT_BURST: "300" };

interface Setup {
  cluster: InProcessCluster;
  stop(): Promise<void>;
}

const setups: [string, () => Promise<Setup>][] = [
  [
    "one Redis",
    async () => {
      const cluster = await startInProcessCluster(3, ENV);
      return { cluster, stop: () => cluster.close() };
    },
  ],
  [
    "a Redis Cluster",
    async () => {
      const redisCluster = await startRedisCluster();
      try {
        const cluster = await startOnRedisCluster(redisCluster, 3, ENV);
        return {
          cluster,
          async stop() {
            await cluster.close();
            await redisCluster.stop();
          },
        };
      } catch (err) {
        await redisCluster.stop();
        throw err;
      }
    },
  ],
];

/** What a socket hears of a chat's life, in arrival order. */
type Heard = { event: string; data: any };
const LIVE = new Set(["message:new", "typing", "message:updated", "message:deleted", "message:reactions", "message:read"]);
function hear(socket: ClientSocket): Heard[] {
  const heard: Heard[] = [];
  socket.onAny((event: string, data: unknown) => {
    if (LIVE.has(event)) heard.push({ event, data });
  });
  return heard;
}

describe.each(setups)("three gateways on %s", (_name, start) => {
  let setup: Setup | undefined;
  let cluster: InProcessCluster;

  beforeAll(async () => {
    setup = await start();
    cluster = setup.cluster;
  }, 90_000);
  afterAll(async () => {
    await setup?.stop();
  });

  const api = () => httpClient(cluster.api.url);
  const users = async (...prefixes: string[]) => Promise.all(prefixes.map((p) => registerAndLogin(api(), p)));
  /** One socket of `user` on each gateway, in `chat`'s room when given (the handshake joins it). */
  const everywhere = (user: LoggedIn, chat?: string) => Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: user.token, ...(chat ? { chatId: chat } : {}) })));
  const on = (i: number, user: LoggedIn, chat?: string) => cluster.sockets.connect(cluster.gateways[i]!.url, { token: user.token, ...(chat ? { chatId: chat } : {}) });
  const send = async (socket: ClientSocket, chatId: string, text: string): Promise<MessageView> => {
    const res = await ask(socket, "message:send", { chat_id: chatId, text });
    if (!res.ok) throw new Error(`message:send refused: ${res.error.code}`);
    return res.message;
  };
  /** The server side of a user's sockets, on every gateway. */
  const serverSockets = (userId: string) => cluster.gateways.flatMap((g) => [...g.gateway.io.of("/").sockets.values()].filter((s) => s.data.userId === userId));

  it("delivers edits, deletions and reactions to the room on every gateway, from sockets and over HTTP", async () => {
    const [alice, bob, carol] = (await users("ea", "eb", "ec")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob, carol], "essentials");
    const room = [...(await everywhere(alice, chat)), await on(1, bob, chat), await on(2, carol, chat)];
    const [a1, , , b2, c3] = room as [ClientSocket, ClientSocket, ClientSocket, ClientSocket, ClientSocket];
    const m1 = await send(a1, chat, "first");
    const m2 = await send(a1, chat, "second");
    const m3 = await send(c3, chat, "carol's");
    const m4 = await send(b2, chat, "bob's");
    expect(m1).toMatchObject({ edited_at: null, deleted: false, reactions: [] });

    // An edit on gw1: every socket of the room, on every gateway, gets the message as it is now.
    let heard = room.map((s) => nextEvent(s, "message:updated"));
    const edited = await ask(a1, "message:edit", { chat_id: chat, message_id: m1.id, text: "first, edited" });
    if (!edited.ok) throw new Error(edited.error.code);
    expect(edited.message).toMatchObject({ id: m1.id, text: "first, edited", deleted: false, created_at: m1.created_at });
    expect(edited.message.edited_at).toEqual(expect.any(String));
    for (const e of await Promise.all(heard)) expect(e).toEqual(edited.message);

    // A reaction on gw2.
    const reacted = room.map((s) => nextEvent(s, "message:reactions"));
    const r = await ask(b2, "message:react", { chat_id: chat, message_id: m2.id, emoji: "👍" });
    expect(r).toEqual({ ok: true, chat_id: chat, message_id: m2.id, reactions: [{ emoji: "👍", count: 1, me: true }] });
    for (const e of await Promise.all(reacted)) expect(e).toEqual({ chat_id: chat, message_id: m2.id, reactions: [{ emoji: "👍", count: 1, me: true }], user_id: bob.user.id });

    // The owner deletes carol's message over HTTP (the api's outlet): a tombstone everywhere.
    const deleted = room.map((s) => nextEvent(s, "message:deleted"));
    expect((await alice.http.delete(`/chats/${chat}/messages/${m3.id}`)).status).toBe(204);
    for (const e of await Promise.all(deleted)) expect(e).toEqual({ chat_id: chat, message_id: m3.id });

    // An edit and a reaction over HTTP reach every gateway too.
    heard = room.map((s) => nextEvent(s, "message:updated"));
    const patched = await bob.http.request("PATCH", `/chats/${chat}/messages/${m4.id}`, { text: "bob's, edited" });
    expect(patched.status).toBe(200);
    for (const e of await Promise.all(heard)) expect(e).toMatchObject({ id: m4.id, text: "bob's, edited", edited_at: expect.any(String) });
    const viaHttp = room.map((s) => nextEvent(s, "message:reactions"));
    const posted = await carol.http.post(`/chats/${chat}/messages/${m2.id}/reactions`, { emoji: "🎉" });
    expect(posted.status).toBe(200);
    expect(posted.body.reactions).toEqual([
      { emoji: "👍", count: 1, me: false },
      { emoji: "🎉", count: 1, me: true },
    ]);
    for (const e of await Promise.all(viaHttp)) expect(e).toMatchObject({ message_id: m2.id, user_id: carol.user.id });

    // Others' messages: no edit for anyone, no deletion for a mere member.
    expect(await ask(b2, "message:edit", { chat_id: chat, message_id: m1.id, text: "not mine" })).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(await ask(b2, "message:delete", { chat_id: chat, message_id: m1.id })).toMatchObject({ ok: false, error: { code: "forbidden" } });
    // A deleted message takes no edit and no reaction.
    expect(await ask(c3, "message:edit", { chat_id: chat, message_id: m3.id, text: "back" })).toMatchObject({ ok: false, error: { code: "not_found" } });
    expect(await ask(b2, "message:react", { chat_id: chat, message_id: m3.id, emoji: "👍" })).toMatchObject({ ok: false, error: { code: "not_found" } });

    // History as alice sees it now.
    const history = (await alice.http.get(`/chats/${chat}/messages`)).body.messages as MessageView[];
    const byId = new Map(history.map((m) => [m.id, m]));
    expect(byId.get(m1.id)).toMatchObject({ text: "first, edited", edited_at: expect.any(String) });
    expect(byId.get(m2.id)!.reactions).toEqual([
      { emoji: "👍", count: 1, me: false },
      { emoji: "🎉", count: 1, me: false },
    ]);
    expect(byId.get(m3.id)).toMatchObject({ deleted: true, text: "", reactions: [] });
  });

  it("coalesces 100 chat:read of one socket into a few message:read, ending at the last position, also on the reader's sockets outside the room", async () => {
    const [alice, bob, carol] = (await users("ra", "rb", "rc")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob, carol], "reads");
    const reader = await on(0, alice, chat);
    // Nothing to read yet: the answer says so with null.
    expect(await ask(reader, "chat:read", { chat_id: chat, message_id: "5" })).toEqual({ ok: true, chat_id: chat, message_id: null });
    const ids = (
      await sql<{ id: string }>`insert into messages (chat_id, sender_id, text) select ${chat}, ${bob.user.id}, 'm' || g from generate_series(1, 100) g returning id::text as id`.execute(cluster.database.db)
    ).rows.map((r) => r.id);
    const last = ids.at(-1)!;
    const watchers = [await on(1, bob, chat), await on(2, carol, chat)];
    // Alice's own socket outside the room (gw3) hears her reads through the control bus.
    const aliceElsewhere = await on(2, alice);
    const seen = [...watchers, aliceElsewhere].map((s) => collect(s, "message:read"));

    // A scroll through 100 messages, then a message from the same socket: the burst is answered within
    // a couple of flushes (one at once, then at most one a second), and the socket's next event is not
    // held behind it.
    const started = Date.now();
    const reads = Promise.allSettled(ids.map((id) => ask(reader, "chat:read", { chat_id: chat, message_id: id }, 6_000)));
    const sent = ask(reader, "message:send", { chat_id: chat, text: "while reading" }, 6_000).then(
      (a) => ({ ok: a.ok, ms: Date.now() - started }),
      () => ({ ok: false, ms: Date.now() - started }),
    );
    const [settled, send] = await Promise.all([reads, sent]);
    const took = Date.now() - started;
    const acks = settled.flatMap((r) => (r.status === "fulfilled" && r.value.ok ? [r.value] : []));
    expect({ answered: acks.length, sendAnswered: send.ok }, `${acks.length} of 100 chat:read answered within 6 s; message:send answered after ${send.ms} ms`).toEqual({
      answered: 100,
      sendAnswered: true,
    });
    expect(send.ms, "message:send held behind the socket's chat:reads").toBeLessThan(2_500);
    const positions = acks.map((a) => (a.ok ? BigInt(a.message_id ?? 0) : 0n));
    expect(positions.every((p, i) => i === 0 || p >= positions[i - 1]!)).toBe(true);
    expect(positions.at(-1)).toBe(BigInt(last));

    await eventually(() => seen.every((s) => s.at(-1)?.message_id === last), 5_000, "the last position everywhere");
    // Nothing more is under way: then count.
    await quiet(() => seen.map((s) => s.length).join(), 1_200, 5_000, "no more message:read");
    const counts = seen.map((s) => s.length);
    for (const s of seen) {
      expect(s.every((r) => r.chat_id === chat && r.user_id === alice.user.id)).toBe(true);
      // Forward only, in order.
      const at = s.map((r) => BigInt(r.message_id));
      expect(at.every((p, i) => i === 0 || p > at[i - 1]!)).toBe(true);
    }
    // A flush at once, then at most one a second: a burst answered within a couple of seconds is a few deliveries.
    console.info(`100 chat:read: ${counts.join("/")} message:read deliveries, all answered in ${took} ms`);
    expect(counts.every((c) => c >= 1 && c <= 4), `deliveries ${counts.join("/")}, answered in ${took} ms`).toBe(true);

    // Forward only: an older position changes nothing, over sockets and HTTP alike.
    expect(await ask(reader, "chat:read", { chat_id: chat, message_id: ids[10]! })).toEqual({ ok: true, chat_id: chat, message_id: last });
    expect((await alice.http.put(`/chats/${chat}/read`, { message_id: ids[20]! })).body).toEqual({ chat_id: chat, message_id: last });
    const listed = (await alice.http.get("/chats")).body.chats.find((c: { id: string }) => c.id === chat);
    expect(listed).toMatchObject({ read_message_id: last, unread_count: 0 });
    expect((await carol.http.get("/chats")).body.chats.find((c: { id: string }) => c.id === chat)).toMatchObject({ read_message_id: null, unread_count: 101 });
    const members = (await bob.http.get(`/chats/${chat}`)).body.members as { user_id: string; read_message_id: string | null }[];
    expect(members.find((m) => m.user_id === alice.user.id)!.read_message_id).toBe(last);
    // The older reads announced nothing.
    expect(seen.map((s) => s.length)).toEqual(counts);
  });

  it("keeps a blocked user's messages, typing, reactions, edits and reads from every socket of the blocker, live and in history, until unblocked", async () => {
    const [alice, bob, carol] = (await users("ba", "bb", "bc")) as [LoggedIn, LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob, carol], "blocks");
    const b1 = await on(0, bob, chat);
    const before = await send(b1, chat, "bob before the block");
    const early = await everywhere(carol, chat); // connected before the block: they join the muted room live
    const alices = await everywhere(alice, chat);
    const joined = await ask(early[2]!, "chat:join", { chat_id: chat });
    if (!joined.ok) throw new Error(joined.error.code);

    const blocked = await carol.http.put(`/me/blocks/${bob.user.id}`);
    expect(blocked.status).toBe(200);
    expect(blocked.body.block).toMatchObject({ user: { id: bob.user.id, username: bob.username }, created_at: expect.any(String) });
    expect((await carol.http.get("/me/blocks")).body.blocks.map((b: { user: { id: string } }) => b.user.id)).toEqual([bob.user.id]);
    // Every socket of carol's joins bob's muted room (live, through block_changed), on every gateway.
    const muted = `muted:${bob.user.id}`;
    await eventually(() => serverSockets(carol.user.id).length === 3 && serverSockets(carol.user.id).every((s) => s.rooms.has(muted)), 5_000, "carol's sockets muted");
    const late = await on(1, carol, chat); // connected after: joins it at the handshake
    expect(serverSockets(carol.user.id).every((s) => s.rooms.has(muted))).toBe(true);
    const carols = [...early, late];
    const carolHeard = carols.map(hear);
    const aliceHeard = alices.map(hear);

    // Bob, on gw1 and over HTTP: a message, typing, a reaction, an edit, a read, a deletion.
    const fromBob = await send(b1, chat, "bob while blocked");
    expect((await ask(b1, "chat:typing", { chat_id: chat })).ok).toBe(true);
    const aliceMessage = await send(alices[1]!, chat, "alice's");
    expect((await ask(b1, "message:react", { chat_id: chat, message_id: aliceMessage.id, emoji: "😀" })).ok).toBe(true);
    expect((await ask(b1, "message:edit", { chat_id: chat, message_id: before.id, text: "bob, edited while blocked" })).ok).toBe(true);
    expect((await ask(b1, "chat:read", { chat_id: chat, message_id: aliceMessage.id })).ok).toBe(true);
    const viaHttp = await bob.http.post(`/chats/${chat}/messages`, { text: "bob over http" });
    expect(viaHttp.status).toBe(201);
    expect((await bob.http.delete(`/chats/${chat}/messages/${fromBob.id}`)).status).toBe(204);
    // Markers after all that, on the same routes (bob's gateway, and the api): once carol has them, bob's would have come first.
    const marker = await send(alices[0]!, chat, "marker over gw1");
    expect((await alice.http.post(`/chats/${chat}/messages`, { text: "marker over http" })).status).toBe(201);
    const hasMarkers = (h: Heard[]) => ["marker over gw1", "marker over http"].every((t) => h.some((e) => e.event === "message:new" && e.data.text === t));
    await eventually(() => carolHeard.every(hasMarkers) && aliceHeard.every(hasMarkers), 5_000, "the markers everywhere");

    const bobs = (h: Heard[]) =>
      h.filter(
        (e) =>
          e.data?.sender?.id === bob.user.id ||
          e.data?.user?.id === bob.user.id ||
          e.data?.user_id === bob.user.id ||
          (e.event === "message:deleted" && e.data.message_id === fromBob.id),
      );
    for (const h of carolHeard) expect(bobs(h).map((e) => e.event)).toEqual([]);
    // Alice (who blocks nobody) heard all of it on every gateway; typing reaches the sockets other than the sender's.
    for (const h of aliceHeard) {
      expect(bobs(h).map((e) => e.event)).toEqual(["message:new", "typing", "message:reactions", "message:updated", "message:read", "message:new", "message:deleted"]);
    }
    // Carol still hears alice.
    expect(carolHeard.every((h) => h.some((e) => e.event === "message:new" && e.data.id === aliceMessage.id))).toBe(true);

    // History and catch-up leave bob out for carol, not for alice.
    const carolsHistory = (await carol.http.get(`/chats/${chat}/messages`)).body.messages as MessageView[];
    expect(carolsHistory.filter((m) => m.sender.id === bob.user.id)).toEqual([]);
    expect((await alice.http.get(`/chats/${chat}/messages`)).body.messages.filter((m: MessageView) => m.sender.id === bob.user.id)).toHaveLength(3);
    expect(carolsHistory.find((m) => m.id === aliceMessage.id)!.reactions).toEqual([]);
    const caught = await ask(early[2]!, "chat:join", { chat_id: chat, cursor: joined.cursor });
    if (!caught.ok) throw new Error(caught.error.code);
    expect(caught.missed.filter((m) => m.sender.id === bob.user.id)).toEqual([]);
    expect(caught.changes.filter((c) => JSON.stringify(c).includes(bob.user.id))).toEqual([]);

    // The blocked user cannot bring the blocker into a chat.
    const made = await bob.http.post("/chats", { name: "with carol", members: [carol.username] });
    expect(made.status).toBe(403);
    expect(made.body.code).toBe("forbidden");
    const own = await bob.http.post("/chats", { name: "bob's own", members: [] });
    expect(own.status).toBe(201);
    const invited = await bob.http.post(`/chats/${own.body.chat.id}/invites`, { username: carol.username });
    expect(invited.status).toBe(403);
    expect(invited.body.code).toBe("forbidden");

    // Unblocked: going forward carol hears bob again, on every socket.
    expect((await carol.http.delete(`/me/blocks/${bob.user.id}`)).status).toBe(204);
    expect((await carol.http.get("/me/blocks")).body.blocks).toEqual([]);
    await eventually(() => serverSockets(carol.user.id).every((s) => !s.rooms.has(muted)), 5_000, "carol's sockets unmuted");
    const heard = carols.map((s) => nextEvent(s, "message:new"));
    const after = await send(b1, chat, "bob after the unblock");
    for (const m of await Promise.all(heard)) expect(m).toEqual(after);
    expect((await carol.http.get(`/chats/${chat}/messages`)).body.messages.filter((m: MessageView) => m.sender.id === bob.user.id).length).toBeGreaterThan(0);
    expect((await bob.http.post(`/chats/${own.body.chat.id}/invites`, { username: carol.username })).status).toBe(201);
  });

  it("answers malformed ids, emoji and cursors with invalid_payload and keeps serving", async () => {
    const [alice, bob] = (await users("ma", "mb")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "malformed");
    const s = await on(1, alice, chat);
    const m = await send(s, chat, "target");
    const bad: [Parameters<typeof askMalformed>[1], unknown][] = [
      ["message:edit", { chat_id: chat, message_id: "abc", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: "-1", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: "01", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: "1.5", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: "99999999999999999999", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: "9223372036854775808", text: "x" }],
      ["message:edit", { chat_id: chat, message_id: Number(m.id), text: "x" }],
      ["message:edit", { chat_id: chat, message_id: m.id, text: "" }],
      ["message:edit", { chat_id: "not-a-uuid", message_id: m.id, text: "x" }],
      ["message:delete", { chat_id: chat, message_id: "0" }],
      ["message:delete", { chat_id: chat, message_id: null }],
      ["message:delete", { chat_id: chat, message_id: m.id, extra: true }],
      ["chat:read", { chat_id: chat, message_id: "1e3" }],
      ["chat:read", { chat_id: chat, message_id: " 1" }],
      ["chat:read", { chat_id: chat }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "a" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "👍👍" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "👍 " }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "<script>" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "\u0000" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "\ud83d" }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "x".repeat(10_000) }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: 128077 }],
      ["message:react", { chat_id: chat, message_id: m.id, emoji: "👍", on: "yes" }],
      ["chat:join", { chat_id: chat, cursor: "not a cursor" }],
      ["chat:join", { chat_id: chat, cursor: Buffer.from("1.x").toString("base64url") }],
      ["chat:join", { chat_id: chat, cursor: Buffer.from("99999999999999999999.1").toString("base64url") }],
      ["chat:join", { chat_id: chat, cursor: "" }],
      ["chat:join", { chat_id: chat, after: "0" }],
    ];
    for (const [event, payload] of bad) {
      expect(await askMalformed(s, event, payload), `${event} ${JSON.stringify(payload).slice(0, 100)}`).toEqual({ ok: false, error: { code: "invalid_payload", message: expect.any(String) } });
    }
    // Well-formed but naming nothing: not_found, not a crash.
    expect(await ask(s, "message:edit", { chat_id: chat, message_id: "9223372036854775807", text: "x" })).toMatchObject({ ok: false, error: { code: "not_found" } });
    expect(await ask(s, "message:react", { chat_id: chat, message_id: "9223372036854775807", emoji: "👍" })).toMatchObject({ ok: false, error: { code: "not_found" } });
    // Emoji sequences are one emoji: a skin tone, a family, a flag, a keycap.
    for (const emoji of ["👍🏽", "👨‍👩‍👧", "🇫🇷", "1️⃣"]) expect((await ask(s, "message:react", { chat_id: chat, message_id: m.id, emoji }))?.ok, emoji).toBe(true);
    // Still connected and serving; every gateway still healthy.
    expect(s.connected).toBe(true);
    expect((await ask(s, "message:edit", { chat_id: chat, message_id: m.id, text: "still here" })).ok).toBe(true);
    for (const g of cluster.gateways) expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
  });
});
