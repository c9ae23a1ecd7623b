import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { storeMessage } from "../../../shared/db/messages";
import { testSigner } from "../../support/config";
import { type SingleNode, startApi, startGateway, startSingleNode } from "../../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { ask, askMalformed, type ClientSocket, type SocketClients, untyped } from "../../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../../support/waits";

/** One node as npm start runs it: api and gateway on one port (`url`), an in-memory control bus. */
let node: SingleNode;
let database: SingleNode["database"];
let url: string;
let bus: SingleNode["bus"];
let sockets: SocketClients;
let alice: LoggedIn;
let bob: LoggedIn;
let chatId: string;

beforeAll(async () => {
  node = await startSingleNode();
  ({ database, url, bus, sockets } = node);
  [alice, bob] = await Promise.all([registerAndLogin(http(url), "alice"), registerAndLogin(http(url), "bob")]);
  chatId = await chatWith(alice, [bob]);
});

afterAll(async () => {
  await node?.close();
});

async function joined(user: LoggedIn, chat = chatId): Promise<ClientSocket> {
  const socket = await sockets.connect(url, { token: user.token });
  const res = await ask(socket, "chat:join", { chat_id: chat });
  if (!res.ok) throw new Error(`join failed: ${res.error.code}`);
  return socket;
}

describe("chat:join and chat:leave", () => {
  it("joins a member and refuses anyone else with chat_forbidden", async () => {
    const socket = await sockets.connect(url, { token: alice.token });
    expect(await ask(socket, "chat:join", { chat_id: chatId })).toEqual({ ok: true, chat_id: chatId, missed: [], changes: [], cursor: expect.any(String), has_more: false });
    const eve = await registerAndLogin(http(url), "eve");
    const outsider = await sockets.connect(url, { token: eve.token });
    expect(await ask(outsider, "chat:join", { chat_id: chatId })).toEqual({ ok: false, error: { code: "chat_forbidden", message: expect.any(String) } });
    const heard = collect(outsider, "message:new");
    const seen = nextEvent(socket, "message:new");
    await alice.http.post(`/chats/${chatId}/messages`, { text: "members only" });
    await seen;
    expect(heard).toEqual([]);
  });

  it("hands back the messages after `after`, oldest first, at most 100", async () => {
    const chat = await chatWith(alice, [bob], "catch-up");
    const stored: MessageView[] = [];
    for (let i = 0; i < 105; i += 1) stored.push((await storeMessage(database.db, { chatId: chat, senderId: alice.user.id, text: `m${i}` })).message);
    const socket = await sockets.connect(url, { token: bob.token });
    const recent = await ask(socket, "chat:join", { chat_id: chat, after: stored[101]!.id });
    expect(recent.ok && recent.missed.map((m) => m.text)).toEqual(["m102", "m103", "m104"]);
    const all = await ask(socket, "chat:join", { chat_id: chat, after: stored[0]!.id });
    expect(all.ok && all.missed.length).toBe(100);
    expect(all.ok && all.missed[0]!.text).toBe("m1");
    expect(all.ok && all.missed[0]).toEqual(stored[1]);
  });

  it("stops delivering to a socket that left the chat and refuses its sends with not_in_chat", async () => {
    const socket = await joined(bob);
    expect(await ask(socket, "chat:leave", { chat_id: chatId })).toEqual({ ok: true });
    const heard = collect(socket, "message:new");
    const other = await joined(alice);
    const echo = nextEvent(other, "message:new");
    await ask(other, "message:send", { chat_id: chatId, text: "after leave" });
    await echo;
    expect(heard).toEqual([]);
    expect(await ask(socket, "message:send", { chat_id: chatId, text: "x" })).toEqual({ ok: false, error: { code: "not_in_chat", message: expect.any(String) } });
  });
});

describe("chat:typing", () => {
  it("answers ok, then rate_limited within 2 s; not_in_chat outside the room; invalid_payload for junk", async () => {
    const typist = await joined(alice);
    const other = await joined(bob);
    const heard = nextEvent(other, "typing");
    expect(await ask(typist, "chat:typing", { chat_id: chatId })).toEqual({ ok: true });
    expect(await heard).toEqual({ chat_id: chatId, user: { id: alice.user.id, username: alice.username } });
    expect(await ask(typist, "chat:typing", { chat_id: chatId })).toEqual({ ok: false, error: { code: "rate_limited", message: expect.any(String) } });
    // A message ends the burst: the next chat:typing goes out at once.
    expect((await ask(typist, "message:send", { chat_id: chatId, text: "typed" })).ok).toBe(true);
    expect(await ask(typist, "chat:typing", { chat_id: chatId })).toEqual({ ok: true });
    const elsewhere = await chatWith(alice, [bob], "not joined");
    const fresh = await sockets.connect(url, { token: alice.token });
    expect(await ask(fresh, "chat:typing", { chat_id: elsewhere })).toEqual({ ok: false, error: { code: "not_in_chat", message: expect.any(String) } });
    expect(await askMalformed(fresh, "chat:typing", { chat_id: elsewhere, extra: 1 })).toMatchObject({ ok: false, error: { code: "invalid_payload" } });
    expect(await askMalformed(fresh, "chat:typing", { chat_id: "nope" })).toMatchObject({ ok: false, error: { code: "invalid_payload" } });
  });
});

describe("chat:typing per user", () => {
  it("relays a user's typing once per interval however many sockets it types from", async () => {
    const dave = await registerAndLogin(http(url), "dave");
    const room = await chatWith(dave, [bob], "typing flood");
    const listener = await joined(bob, room);
    const heard = collect(listener, "typing");
    const tabs = await Promise.all(Array.from({ length: 6 }, () => joined(dave, room)));
    const answers = await Promise.all(tabs.map((t) => ask(t, "chat:typing", { chat_id: room })));
    expect(answers.filter((a) => a.ok)).toHaveLength(1);
    expect(answers.filter((a) => !a.ok && a.error.code === "rate_limited")).toHaveLength(5);
    // The room hears one typing; a message from the listener shows everything before it arrived.
    const echo = nextEvent(listener, "message:new");
    await ask(listener, "message:send", { chat_id: room, text: "seen" });
    await echo;
    expect(heard).toHaveLength(1);
  });
});

describe("message:send", () => {
  it("acknowledges with the stored message and delivers it to the room, the sender included", async () => {
    const sender = await joined(alice);
    const receiver = await joined(bob);
    const toReceiver = nextEvent(receiver, "message:new");
    const toSender = nextEvent(sender, "message:new");
    const res = await ask(sender, "message:send", { chat_id: chatId, text: "héllo 👋", client_id: "c-1" });
    expect(res).toEqual({
      ok: true,
      message: {
        id: expect.stringMatching(/^\d+$/),
        chat_id: chatId,
        sender: { id: alice.user.id, username: alice.username },
        text: "héllo 👋",
        client_id: "c-1",
        created_at: expect.any(String),
        edited_at: null,
        deleted: false,
        reactions: [],
      },
    });
    expect(await toReceiver).toEqual(res.ok && res.message);
    expect(await toSender).toEqual(res.ok && res.message);
    // A retry with the same client_id answers the same message and is not delivered twice.
    const heard = collect(receiver, "message:new");
    const retry = await ask(sender, "message:send", { chat_id: chatId, text: "héllo 👋", client_id: "c-1" });
    expect(retry).toEqual(res);
    const marker = nextEvent(receiver, "message:new");
    await ask(sender, "message:send", { chat_id: chatId, text: "marker" });
    await marker;
    expect(heard.map((m) => m.text)).toEqual(["marker"]);
  });

  it("keeps one sender's messages in send order", async () => {
    const sender = await joined(alice);
    const receiver = await joined(bob);
    const heard = collect(receiver, "message:new");
    const acks = await Promise.all(Array.from({ length: 15 }, (_, i) => ask(sender, "message:send", { chat_id: chatId, text: `order ${i}` })));
    const ids = acks.map((a) => (a.ok ? BigInt(a.message.id) : -1n));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    await eventually(() => heard.length >= 15, 5_000, "15 deliveries");
    expect(heard.map((m) => m.text)).toEqual(Array.from({ length: 15 }, (_, i) => `order ${i}`));
  });

  it("keeps each socket's messages in send order while many sockets send many at once", async () => {
    const roomy = await startGateway({ database, bus, limits: { eventBurst: 1_000, eventsPerSecond: 1_000 }, env: { MESSAGE_LIMIT_PER_USER: "100000" } });
    try {
      const chat = await chatWith(alice, [bob], "busy");
      const senders = await Promise.all([alice, bob, alice, bob, alice].map((u) => sockets.connect(roomy.url, { token: u.token, chatId: chat })));
      const receiver = await sockets.connect(roomy.url, { token: bob.token, chatId: chat });
      const heard = collect(receiver, "message:new");
      const acks = await Promise.all(
        senders.map((s, k) => Promise.all(Array.from({ length: 30 }, (_, i) => ask(s, "message:send", { chat_id: chat, text: `${k}:${i}`, client_id: `busy-${k}-${i}` })))),
      );
      for (const [k, mine] of acks.entries()) {
        expect(mine.every((a) => a.ok)).toBe(true);
        const ids = mine.map((a) => (a.ok ? BigInt(a.message.id) : -1n));
        expect([...ids].sort((a, b) => (a < b ? -1 : 1)), `socket ${k}'s ids`).toEqual(ids);
      }
      await eventually(() => heard.length >= 150, 10_000, "150 deliveries");
      for (let k = 0; k < senders.length; k += 1) {
        const order = heard.filter((m) => m.text.startsWith(`${k}:`)).map((m) => m.text);
        expect(order, `socket ${k}'s deliveries`).toEqual(Array.from({ length: 30 }, (_, i) => `${k}:${i}`));
      }
    } finally {
      await roomy.close();
    }
  });

  it("refuses events over the per-socket budget as rate_limited", async () => {
    const tight = await startGateway({ database, bus, limits: { eventBurst: 3, eventsPerSecond: 0.1 } });
    try {
      const socket = await sockets.connect(tight.url, { token: alice.token, chatId });
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => ask(socket, "message:send", { chat_id: chatId, text: `burst ${i}` })));
      expect(answers.filter((a) => a.ok)).toHaveLength(3);
      expect(answers.filter((a) => !a.ok).map((a) => !a.ok && a.error.code)).toEqual(["rate_limited", "rate_limited"]);
    } finally {
      await tight.close();
    }
  });

  it("answers malformed payloads with invalid_payload", async () => {
    const socket = await joined(alice);
    const bad: unknown[] = [
      "text",
      42,
      null,
      [chatId, "hi"],
      {},
      { chat_id: chatId },
      { chat_id: "nope", text: "hi" },
      { chat_id: chatId, text: "" },
      { chat_id: chatId, text: "x".repeat(4001) },
      { chat_id: chatId, text: "nul\u0000" },
      { chat_id: chatId, text: "lone \ud800" },
      { chat_id: chatId, text: 5 },
      { chat_id: chatId, text: "hi", extra: true },
      { chat_id: chatId, text: "hi", client_id: "x".repeat(65) },
      JSON.parse(`{"chat_id":"${chatId}","text":"hi","__proto__":{"admin":true}}`),
    ];
    for (const payload of bad) {
      const res = await askMalformed(socket, "message:send", payload);
      expect(res, JSON.stringify(payload)?.slice(0, 80)).toEqual({ ok: false, error: { code: "invalid_payload", message: expect.any(String) } });
    }
    expect((await ask(socket, "chat:join", { chat_id: chatId, after: "0" })).ok).toBe(false);
    expect((await ask(socket, "chat:join", { chat_id: chatId, after: "-1" })).ok).toBe(false);
    expect((await askMalformed(socket, "auth:refresh", { token: 7 })).ok).toBe(false);
  });

  it("survives junk: no ack callback, extra arguments, unknown events, and a payload over 16 KiB", async () => {
    const socket = await joined(alice);
    const junk = untyped(socket);
    junk.emit("message:send", { chat_id: chatId, text: "no ack" }, undefined);
    junk.emit("message:send", { chat_id: chatId, text: "no ack at all" });
    junk.emit("chat:join");
    junk.emit("no:such:event", { a: 1 });
    const extra = await junk.timeout(5_000).emitWithAck("chat:join", { chat_id: chatId }, 42);
    expect(extra).toEqual({ ok: false, error: { code: "invalid_payload", message: expect.any(String) } });
    const unknown = await junk.timeout(5_000).emitWithAck("no:such:event", {});
    expect(unknown).toEqual({ ok: false, error: { code: "invalid_payload", message: "Unknown event" } });
    expect((await ask(socket, "message:send", { chat_id: chatId, text: "still fine" })).ok).toBe(true);

    // Over maxHttpBufferSize the connection is dropped; the gateway serves everyone else.
    const bystander = await joined(bob);
    const huge = await joined(alice);
    const dropped = disconnected(huge);
    huge.emit("message:send", { chat_id: chatId, text: "x".repeat(20 * 1024) }, () => undefined);
    expect(await dropped).toMatch(/transport (close|error)/);
    const heard = nextEvent(bystander, "message:new");
    expect((await ask(socket, "message:send", { chat_id: chatId, text: "after the huge one" })).ok).toBe(true);
    expect((await heard).text).toBe("after the huge one");
  });
});

describe("chat ids and answer sizes", () => {
  it("names one room for a chat id in any letter case", async () => {
    const upper = chatId.toUpperCase();
    const viaHandshake = await sockets.connect(url, { token: bob.token, chatId: upper });
    const viaJoin = await sockets.connect(url, { token: bob.token });
    expect(await ask(viaJoin, "chat:join", { chat_id: upper })).toEqual({ ok: true, chat_id: chatId, missed: [], changes: [], cursor: expect.any(String), has_more: false });
    const heard = [nextEvent(viaHandshake, "message:new"), nextEvent(viaJoin, "message:new")];
    expect((await ask(viaJoin, "message:send", { chat_id: upper, text: "one room" })).ok).toBe(true);
    expect((await Promise.all(heard)).map((m) => m.text)).toEqual(["one room", "one room"]);
    expect((await ask(viaJoin, "chat:leave", { chat_id: upper })).ok).toBe(true);
    expect((await ask(viaJoin, "message:send", { chat_id: chatId, text: "left" })).ok).toBe(false);
  });

  it("bounds a chat:join answer in rows and bytes and says when more follow", async () => {
    const chat = await chatWith(alice, [bob], "long");
    const stored: MessageView[] = [];
    for (let i = 0; i < 120; i += 1) stored.push((await storeMessage(database.db, { chatId: chat, senderId: alice.user.id, text: `${i} `.padEnd(4000, "y") })).message);
    const socket = await sockets.connect(url, { token: bob.token });
    const first = await ask(socket, "chat:join", { chat_id: chat, after: stored[0]!.id });
    if (!first.ok) throw new Error(first.error.code);
    // 256 KiB hold about 60 of these 4000-character messages, not 100.
    expect(first.missed.length).toBeGreaterThan(50);
    expect(first.missed.length).toBeLessThan(70);
    expect(Buffer.byteLength(JSON.stringify(first.missed))).toBeLessThanOrEqual(256 * 1024);
    expect(first.has_more).toBe(true);
    const rest = await ask(socket, "chat:join", { chat_id: chat, after: first.missed.at(-1)!.id });
    if (!rest.ok) throw new Error(rest.error.code);
    expect([...first.missed, ...rest.missed].map((m) => m.id)).toEqual(stored.slice(1).map((m) => m.id));
    expect(rest.has_more).toBe(false);
  });
});

describe("a session revoked while the gateway was not told", () => {
  it("can no longer send or join: the answer is session_revoked and the socket ends", async () => {
    for (const event of ["message:send", "chat:join"] as const) {
      const ivy = await registerAndLogin(http(url), "ivy");
      const chat = await chatWith(alice, [ivy], "missed revocation");
      const socket = await sockets.connect(url, { token: ivy.token, chatId: chat });
      // Behind the control bus's back, as when Redis cut this gateway off.
      await database.db.updateTable("sessions").set({ revoked_at: new Date() }).where("id", "=", ivy.sessionId).execute();
      const ended = nextEvent(socket, "session:ended");
      const gone = disconnected(socket);
      const res = event === "message:send" ? await ask(socket, event, { chat_id: chat, text: "ghost" }) : await ask(socket, event, { chat_id: chat });
      expect(res).toEqual({ ok: false, error: { code: "session_revoked", message: expect.any(String) } });
      expect(await ended).toEqual({ reason: "revoked" });
      expect(await gone).toBe("io server disconnect");
    }
    expect(await database.db.selectFrom("messages").select("id").where("text", "=", "ghost").execute()).toEqual([]);
  });
});

describe("member removal", () => {
  it("takes a removed member's sockets out of the room and tells them chat:removed", async () => {
    const carol = await registerAndLogin(http(url), "carol");
    const chat = await chatWith(alice, [carol], "removal");
    const a = await sockets.connect(url, { token: carol.token, chatId: chat });
    const b = await sockets.connect(url, { token: carol.token, chatId: chat });
    const removed = [nextEvent(a, "chat:removed"), nextEvent(b, "chat:removed")];
    expect((await alice.http.delete(`/chats/${chat}/members/${carol.user.id}`)).status).toBe(204);
    expect(await Promise.all(removed)).toEqual([{ chat_id: chat }, { chat_id: chat }]);
    const heard = collect(a, "message:new");
    const owner = await joined(alice, chat);
    const echo = nextEvent(owner, "message:new");
    await ask(owner, "message:send", { chat_id: chat, text: "after removal" });
    await echo;
    expect(heard).toEqual([]);
    expect((await ask(a, "message:send", { chat_id: chat, text: "let me in" })).ok).toBe(false);
    expect((await ask(a, "chat:join", { chat_id: chat })).ok).toBe(false);
  });
  it("refuses a send from a member removed without the event reaching the gateway, and takes the socket out of the room", async () => {
    const dave = await registerAndLogin(http(url), "dave");
    const chat = await chatWith(alice, [dave], "quiet removal");
    const d = await joined(dave, chat);
    // Straight in the database: no chat:removed event, only the send's own check can tell.
    await database.db.deleteFrom("chat_members").where("chat_id", "=", chat).where("user_id", "=", dave.user.id).execute();
    expect(await ask(d, "message:send", { chat_id: chat, text: "still here?" })).toEqual({ ok: false, error: { code: "not_in_chat", message: expect.any(String) } });
    expect(await database.db.selectFrom("messages").select("id").where("text", "=", "still here?").execute()).toEqual([]);
    const heard = collect(d, "message:new");
    const owner = await joined(alice, chat);
    const echo = nextEvent(owner, "message:new");
    await ask(owner, "message:send", { chat_id: chat, text: "after the quiet removal" });
    await echo;
    expect(heard).toEqual([]);
  });
});

describe("auth:refresh and expiry", () => {
  it("accepts a newer token of the same session and refuses any other", async () => {
    const socket = await sockets.connect(url, { token: bob.token });
    const renewed = await http(url).post("/token/refresh", { refresh_token: bob.refreshToken });
    expect(renewed.status).toBe(200);
    bob = { ...bob, token: renewed.body.token, refreshToken: renewed.body.refresh_token, http: http(url).as(renewed.body.token) };
    expect(await ask(socket, "auth:refresh", { token: renewed.body.token })).toEqual({ ok: true, expires_at: renewed.body.expires_at });

    const other = await http(url).post("/login", { username: bob.username, password: bob.password });
    const tokens = testSigner(900);
    const expired = tokens.sign(bob.user.id, bob.sessionId, new Date(Date.now() - 5_000)).token;
    const invalid = { ok: false, error: { code: "invalid_token", message: expect.any(String) } };
    expect(await ask(socket, "auth:refresh", { token: other.body.token })).toEqual(invalid); // another session
    expect(await ask(socket, "auth:refresh", { token: alice.token })).toEqual(invalid); // another user
    expect(await ask(socket, "auth:refresh", { token: "garbage" })).toEqual(invalid);
    expect(await ask(socket, "auth:refresh", { token: expired })).toEqual({ ok: false, error: { code: "token_expired", message: expect.any(String) } });
    expect(socket.connected).toBe(true);
  });

  it("answers session_revoked to a refresh of a revoked session, then ends the socket", async () => {
    const frank = await registerAndLogin(http(url), "frank");
    const socket = await sockets.connect(url, { token: frank.token });
    // Revoked behind the bus's back, so only the refresh can notice.
    await database.db.updateTable("sessions").set({ revoked_at: new Date() }).where("id", "=", frank.sessionId).execute();
    const ended = nextEvent(socket, "session:ended");
    const gone = disconnected(socket);
    expect(await ask(socket, "auth:refresh", { token: frank.token })).toEqual({ ok: false, error: { code: "session_revoked", message: expect.any(String) } });
    expect(await ended).toEqual({ reason: "revoked" });
    expect(await gone).toBe("io server disconnect");
  });

  it("warns, then ends and disconnects a socket whose token expires, unless it refreshed", async () => {
    const shortApi = await startApi({ database, bus, env: { ACCESS_TOKEN_TTL: "3s" } });
    try {
      const [grace, hank] = await Promise.all([registerAndLogin(http(shortApi.url), "grace"), registerAndLogin(http(shortApi.url), "hank")]);
      const lapsing = await sockets.connect(url, { token: grace.token });
      const expiring = nextEvent(lapsing, "session:expiring");
      const ended = nextEvent(lapsing, "session:ended", 8_000);
      const gone = disconnected(lapsing, 8_000);
      const refreshed = await sockets.connect(url, { token: hank.token });
      const expOf = (token: string) => JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).exp as number;
      const firstExp = expOf(hank.token);
      const hankEnded = collect(refreshed, "session:ended");

      // A token of the same session from the normal-lifetime api.
      const renewed = await http(url).post("/token/refresh", { refresh_token: hank.refreshToken });
      expect((await ask(refreshed, "auth:refresh", { token: renewed.body.token })).ok).toBe(true);

      expect(await expiring).toEqual({ expires_at: new Date(expOf(grace.token) * 1000).toISOString() });

      // Past both first tokens' exp (plus the second the contract allows) on the gateway's clock: its
      // expiry wheel reads Date.now(), so that clock is moved (and keeps running) instead of waited for.
      vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true, now: Math.max(firstExp, expOf(grace.token)) * 1000 + 1_200 });
      expect(await ended).toEqual({ reason: "expired" });
      expect(await gone).toBe("io server disconnect");
      // The wheel's tick that ended grace's socket went past hank's first exp too: an end for it
      // would have been sent before the answer to this (any event would do), or instead of it.
      await Promise.race([ask(refreshed, "chat:presence", { chat_id: chatId }), disconnected(refreshed)]);
      expect(hankEnded).toEqual([]);
      expect(refreshed.connected).toBe(true);
    } finally {
      vi.useRealTimers();
      await shortApi.close();
    }
  });
});
