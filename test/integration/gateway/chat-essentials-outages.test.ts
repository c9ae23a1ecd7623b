import { connect, createServer, type Server, type Socket } from "node:net";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChangeView, MessageView } from "../../../shared/contract/views";
import { listen } from "../../../shared/process";
import { type GatewayFixture, type InProcessCluster, startGateway, startInProcessCluster } from "../../support/fixtures";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import type { RedisServer } from "../../support/redis-server";
import { ask, type ClientSocket, connected } from "../../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../../support/waits";

/**
 * A client cut off while a chat changed catches up on every change from the cursor of its last
 * `chat:join` answer, once each and in order: after its gateway dies (it reconnects elsewhere) and
 * after a Redis outage (its gateway heard nothing from the others meanwhile). And the cursor pages.
 */

/**
 * The paging case makes some 650 edits and deletions as one user, and reads them back in pages of
 * 500 changes (50 event points each; the default burst of 30 would have the client wait between pages).
 */
const ENV = { CHANGE_LIMIT_PER_USER: "100000", SOCKET_EVENT_BURST: "300" };

let cluster: InProcessCluster & { redis: RedisServer };
beforeAll(async () => {
  cluster = await startInProcessCluster(3, ENV);
});
afterAll(async () => {
  await cluster?.close();
});

const api = () => httpClient(cluster.api.url);
const users = (...prefixes: string[]) => Promise.all(prefixes.map((p) => registerAndLogin(api(), p)));
const on = (g: GatewayFixture, user: LoggedIn, chat?: string) => cluster.sockets.connect(g.url, { token: user.token, ...(chat ? { chatId: chat } : {}) });
const holds = (g: GatewayFixture, userId: string) => [...g.gateway.io.of("/").sockets.values()].some((s) => s.data.userId === userId);

async function send(socket: ClientSocket, chatId: string, text: string): Promise<MessageView> {
  const res = await ask(socket, "message:send", { chat_id: chatId, text });
  if (!res.ok) throw new Error(`message:send refused: ${res.error.code}`);
  return res.message;
}

async function join(socket: ClientSocket, payload: { chat_id: string; cursor?: string; after?: string }) {
  const res = await ask(socket, "chat:join", payload);
  if (!res.ok) throw new Error(`chat:join refused: ${res.error.code} ${res.error.message}`);
  return res;
}

/**
 * Moves the change sequence, if need be, so that the next `n` change numbers have as many digits
 * each: passing a power of ten has its own case below, the others are about outages.
 */
async function sameDigitsFor(n: number): Promise<void> {
  const { rows } = await sql<{ max: string }>`select coalesce(max(seq), 0)::text as max from chat_changes`.execute(cluster.database.db);
  const max = BigInt(rows[0]!.max);
  let power = 10n;
  while (power <= max) power *= 10n;
  if (max + BigInt(n) >= power) await sql`select setval(pg_get_serial_sequence('chat_changes', 'seq'), ${String(power)}::bigint)`.execute(cluster.database.db);
}

/**
 * A balancer for the test: each TCP connection goes to the first of `ports` that accepts it, as
 * nginx skips a dead upstream; WebSocket-only clients need no stickiness.
 */
async function failoverBalancer(ports: number[]): Promise<{ url: string; close(): Promise<void> }> {
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client)).on("error", () => client.destroy());
    const attempt = (i: number) => {
      if (i >= ports.length || client.destroyed) return client.destroy();
      const upstream = connect(ports[i]!, "127.0.0.1");
      let up = false;
      upstream.once("error", () => (up ? undefined : attempt(i + 1)));
      upstream.once("connect", () => {
        up = true;
        open.add(upstream);
        upstream.on("error", () => client.destroy()).on("close", () => (open.delete(upstream), client.destroy()));
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      });
    };
    attempt(0);
  });
  const port = await listen(server, 0, "127.0.0.1");
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The four kinds of change a cut-off member misses, with repeats (which its catch-up merges): edits, a deletion, reactions, reads. */
async function changeWhileAway(alice: LoggedIn, a: ClientSocket, chat: string, m: MessageView[]) {
  const [m1, m2, m3, m4] = m as [MessageView, MessageView, MessageView, MessageView];
  expect((await ask(a, "message:edit", { chat_id: chat, message_id: m1.id, text: "edited once" })).ok).toBe(true);
  const edited = await ask(a, "message:edit", { chat_id: chat, message_id: m1.id, text: "edited twice" });
  expect((await alice.http.delete(`/chats/${chat}/messages/${m2.id}`)).status).toBe(204);
  expect((await ask(a, "message:react", { chat_id: chat, message_id: m3.id, emoji: "👍" })).ok).toBe(true);
  expect((await alice.http.post(`/chats/${chat}/messages/${m3.id}/reactions`, { emoji: "🎉" })).status).toBe(200);
  expect(await ask(a, "chat:read", { chat_id: chat, message_id: m3.id })).toEqual({ ok: true, chat_id: chat, message_id: m3.id });
  expect((await alice.http.put(`/chats/${chat}/read`, { message_id: m4.id })).body).toEqual({ chat_id: chat, message_id: m4.id });
  if (!edited.ok) throw new Error(edited.error.code);
  return edited.message;
}

/** What the catch-up must hold after changeWhileAway, oldest first, each once (as `viewer` sees it). */
const expectedChanges = (chat: string, alice: LoggedIn, viewer: LoggedIn, m: MessageView[], edited: MessageView): ChangeView[] => [
  { type: "message:updated", data: { ...edited, reactions: [] } },
  { type: "message:deleted", data: { chat_id: chat, message_id: m[1]!.id } },
  {
    type: "message:reactions",
    data: {
      chat_id: chat,
      message_id: m[2]!.id,
      reactions: [
        { emoji: "👍", count: 1, me: false },
        { emoji: "🎉", count: 1, me: false },
      ],
      user_id: viewer.user.id,
    },
  },
  { type: "message:read", data: { chat_id: chat, user_id: alice.user.id, message_id: m[3]!.id } },
];

describe("catching up on changes with a cursor", () => {
  it("after its gateway dies: the socket reconnects to another gateway and its chat:join {cursor} brings each change once, in order", async () => {
    const [alice, bob] = (await users("ga", "gb")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "gateway dies");
    await sameDigitsFor(20);
    const victim = await startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: "victim", env: ENV });
    let victimUp = true;
    const [gw1, gw2] = cluster.gateways as [GatewayFixture, GatewayFixture];
    const balancer = await failoverBalancer([Number(new URL(victim.url).port), Number(new URL(gw2.url).port)]);
    try {
      const a = await on(gw1, alice, chat);
      const m = [await send(a, chat, "one"), await send(a, chat, "two"), await send(a, chat, "three"), await send(a, chat, "four")];
      const b = await cluster.sockets.connect(balancer.url, { token: bob.token });
      expect(holds(victim, bob.user.id)).toBe(true);
      // Bob's last join answer: its cursor stands after the four messages (the cursor does not move with live events).
      const first = await join(b, { chat_id: chat, after: m[0]!.id });
      expect(first).toMatchObject({ missed: m.slice(1), changes: [], has_more: false, cursor: expect.any(String) });
      // Live on the victim, until it dies.
      const live = nextEvent(b, "message:reactions");
      expect((await ask(a, "message:react", { chat_id: chat, message_id: m[3]!.id, emoji: "👀", on: true })).ok).toBe(true);
      await live;
      expect((await ask(a, "message:react", { chat_id: chat, message_id: m[3]!.id, emoji: "👀", on: false })).ok).toBe(true);
      const primed = await join(b, { chat_id: chat, cursor: first.cursor });
      expect(primed.changes).toEqual([{ type: "message:reactions", data: { chat_id: chat, message_id: m[3]!.id, reactions: [], user_id: bob.user.id } }]);

      // Bob's gateway dies: its connections drop without a goodbye.
      const gone = disconnected(b);
      victimUp = false;
      await victim.close();
      expect(await gone).toBe("transport close");
      const edited = await changeWhileAway(alice, a, chat, m);
      const five = await send(a, chat, "five");

      // The same socket comes back through the balancer, to another gateway, and catches up.
      b.connect();
      await connected(b);
      expect(holds(gw2, bob.user.id)).toBe(true);
      const heardLive = ["message:updated", "message:deleted", "message:reactions", "message:read"].map((e) => collect(b, e as "message:updated"));
      const caught = await join(b, { chat_id: chat, cursor: primed.cursor });
      expect(caught.missed).toEqual([five]);
      expect(caught.changes).toEqual(expectedChanges(chat, alice, bob, m, edited));
      expect(caught.has_more).toBe(false);
      // From its new cursor there is nothing more: each change came once.
      const again = await join(b, { chat_id: chat, cursor: caught.cursor });
      expect(again).toMatchObject({ missed: [], changes: [], has_more: false, cursor: caught.cursor });
      // And it is live again on its new gateway.
      const next = nextEvent(b, "message:updated");
      expect((await ask(a, "message:edit", { chat_id: chat, message_id: m[0]!.id, text: "edited live" })).ok).toBe(true);
      expect((await next).text).toBe("edited live");
      expect(heardLive.map((h) => h.length)).toEqual([1, 0, 0, 0]);
    } finally {
      await balancer.close();
      if (victimUp) await victim.close();
    }
  });

  it("after a Redis outage: the member that heard nothing from other gateways meanwhile gets each change once, in order, from its cursor", async () => {
    const [alice, bob] = (await users("oa", "ob")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "redis outage");
    await sameDigitsFor(20);
    const [gw1, gw2] = cluster.gateways as [GatewayFixture, GatewayFixture];
    const a = await on(gw1, alice, chat);
    const m = [await send(a, chat, "one"), await send(a, chat, "two"), await send(a, chat, "three"), await send(a, chat, "four")];
    const five = await send(a, chat, "five");
    const b = await on(gw2, bob);
    const first = await join(b, { chat_id: chat });
    expect(first).toMatchObject({ missed: [], changes: [], has_more: false, cursor: expect.any(String) });
    // Live across gateways before the outage.
    const live = nextEvent(b, "message:updated");
    expect((await ask(a, "message:edit", { chat_id: chat, message_id: m[3]!.id, text: "four" })).ok).toBe(true);
    await live;
    const primed = await join(b, { chat_id: chat, cursor: first.cursor });
    expect(primed.changes).toEqual([{ type: "message:updated", data: expect.objectContaining({ id: m[3]!.id }) }]);

    const heard: { event: string; data: any }[] = [];
    b.onAny((event: string, data: unknown) => void heard.push({ event, data }));
    await cluster.redis.kill();
    await cluster.allReady(false);
    const edited = await changeWhileAway(alice, a, chat, m);
    // And a message edited, then deleted: one deletion.
    expect((await ask(a, "message:edit", { chat_id: chat, message_id: five.id, text: "five, edited" })).ok).toBe(true);
    expect((await ask(a, "message:delete", { chat_id: chat, message_id: five.id })).ok).toBe(true);
    await cluster.redis.restart();
    await cluster.allReady(true, 15_000);

    const caught = await join(b, { chat_id: chat, cursor: primed.cursor });
    expect(caught.missed).toEqual([]);
    expect(caught.changes).toEqual([...expectedChanges(chat, alice, bob, m, edited), { type: "message:deleted", data: { chat_id: chat, message_id: five.id } }]);
    expect(caught.has_more).toBe(false);
    const again = await join(b, { chat_id: chat, cursor: caught.cursor });
    expect(again).toMatchObject({ missed: [], changes: [], has_more: false });
    // Bob's gateway also replays what its rooms missed once Redis is back (messages, then changes, at
    // least once, as things are now): whether before or after his catch-up, he ends up with the same.
    const deletions = () => heard.filter((e) => e.event === "message:deleted").map((e) => e.data.message_id as string);
    await eventually(() => deletions().includes(m[1]!.id) && deletions().includes(five.id), 10_000, "the replayed deletions");
    await eventually(() => heard.some((e) => e.event === "message:updated" && e.data.id === m[0]!.id && e.data.text === "edited twice"), 10_000, "the replayed edit");
    expect(b.connected).toBe(true);
  });

  it("keeps changes in sequence order, each once, when the change sequence passes a power of ten", async () => {
    const [alice, bob] = (await users("sa", "sb")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "sequence");
    const a = await on(cluster.gateways[0]!, alice, chat);
    const m = [await send(a, chat, "one"), await send(a, chat, "two"), await send(a, chat, "three"), await send(a, chat, "four")];
    const b = await on(cluster.gateways[1]!, bob);
    const first = await join(b, { chat_id: chat });
    // A long-lived database: the next change numbers are ..98, ..99, then ..100, ..101 (one more digit).
    const { rows } = await sql<{ max: string }>`select coalesce(max(seq), 0)::text as max from chat_changes`.execute(cluster.database.db);
    let next = 100n;
    while (next - 2n <= BigInt(rows[0]!.max)) next *= 10n;
    await sql`select setval(pg_get_serial_sequence('chat_changes', 'seq'), ${String(next - 3n)}::bigint)`.execute(cluster.database.db);
    const edited = await changeWhileAway(alice, a, chat, m);
    const caught = await join(b, { chat_id: chat, cursor: first.cursor });
    expect(caught.changes).toEqual(expectedChanges(chat, alice, bob, m, edited));
    const again = await join(b, { chat_id: chat, cursor: caught.cursor });
    expect(again.changes).toEqual([]);
  });

  it("pages through more than 500 changes with has_more until it ends, every change once", async () => {
    const [alice, bob] = (await users("pa", "pb")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "paging");
    // The change numbers of this case all have as many digits (passing a power of ten has its own case above).
    const { rows } = await sql<{ max: string }>`select coalesce(max(seq), 0)::text as max from chat_changes`.execute(cluster.database.db);
    let start = 1_000n;
    while (start <= BigInt(rows[0]!.max)) start *= 10n;
    await sql`select setval(pg_get_serial_sequence('chat_changes', 'seq'), ${String(start)}::bigint)`.execute(cluster.database.db);
    const ids = (
      await sql<{ id: string }>`insert into messages (chat_id, sender_id, text) select ${chat}, ${alice.user.id}, 'p' || g from generate_series(1, 600) g returning id::text as id`.execute(
        cluster.database.db,
      )
    ).rows.map((r) => r.id);
    const b = await on(cluster.gateways[1]!, bob);
    const first = await join(b, { chat_id: chat });
    // 600 edits, then the first 50 of those messages deleted, then a read: 601 changes once merged.
    // The edits as the api writes them (the message and its change row), in one statement: 600 calls
    // would take most of this file's time; the deletions and the read go through the api.
    await sql`
      with edited as (update messages set text = 'edited ' || id, edited_at = now() where chat_id = ${chat} returning id)
      insert into chat_changes (chat_id, type, message_id, user_id) select ${chat}, 'message:updated', id, ${alice.user.id} from edited order by id`.execute(cluster.database.db);
    const deleted = ids.slice(0, 50);
    for (let i = 0; i < deleted.length; i += 10) {
      const res = await Promise.all(deleted.slice(i, i + 10).map((id) => alice.http.delete(`/chats/${chat}/messages/${id}`)));
      expect(res.map((r) => r.status)).toEqual(res.map(() => 204));
    }
    expect((await alice.http.put(`/chats/${chat}/read`, { message_id: ids.at(-1)! })).status).toBe(200);

    const changes: ChangeView[] = [];
    const pages: number[] = [];
    let cursor = first.cursor;
    let ended = false;
    for (let i = 0; i < 20 && !ended; i += 1) {
      const page = await join(b, { chat_id: chat, cursor });
      expect(page.missed).toEqual([]);
      pages.push(page.changes.length);
      changes.push(...page.changes);
      expect(page.changes.length).toBeLessThanOrEqual(500);
      cursor = page.cursor;
      ended = !page.has_more;
    }
    expect(ended, `pages: ${pages.join(", ")}`).toBe(true);
    expect(pages.length).toBeGreaterThan(1);
    const keyOf = (c: ChangeView) => (c.type === "message:read" ? `read ${c.data.user_id}` : `${c.type} ${"id" in c.data ? c.data.id : c.data.message_id}`);
    const keys = changes.map(keyOf);
    const repeated = keys.filter((k, i) => keys.indexOf(k) !== i);
    expect(repeated, `pages: ${pages.join(", ")}`).toEqual([]);
    expect(keys.sort()).toEqual(
      [
        ...ids.slice(50).map((id) => `message:updated ${id}`),
        ...deleted.map((id) => `message:deleted ${id}`),
        `read ${alice.user.id}`,
      ].sort(),
    );
    for (const c of changes) if (c.type === "message:updated") expect(c.data.text).toBe(`edited ${c.data.id}`);
    // The last cursor has nothing more.
    expect(await join(b, { chat_id: chat, cursor })).toMatchObject({ missed: [], changes: [], has_more: false });
  });

  it("still answers chat:join {after} with the messages after it, and a cursor that catches up on later changes only", async () => {
    const [alice, bob] = (await users("aa", "ab")) as [LoggedIn, LoggedIn];
    const chat = await chatWith(alice, [bob], "after");
    await sameDigitsFor(10);
    const a = await on(cluster.gateways[0]!, alice, chat);
    const m = [await send(a, chat, "one"), await send(a, chat, "two"), await send(a, chat, "three")];
    expect((await ask(a, "message:edit", { chat_id: chat, message_id: m[0]!.id, text: "one, edited before" })).ok).toBe(true);
    const b = await on(cluster.gateways[2]!, bob);
    const joined = await join(b, { chat_id: chat, after: m[0]!.id });
    expect(joined.missed.map((x) => x.text)).toEqual(["two", "three"]);
    expect(joined).toMatchObject({ changes: [], has_more: false, cursor: expect.any(String) });
    // The cursor starts its changes from the join: the edit before it is not repeated, the one after is.
    b.disconnect();
    expect((await ask(a, "message:edit", { chat_id: chat, message_id: m[1]!.id, text: "two, edited after" })).ok).toBe(true);
    const four = await send(a, chat, "four");
    const back = await on(cluster.gateways[1]!, bob);
    const caught = await join(back, { chat_id: chat, cursor: joined.cursor });
    expect(caught.missed).toEqual([four]);
    expect(caught.changes).toEqual([{ type: "message:updated", data: expect.objectContaining({ id: m[1]!.id, text: "two, edited after" }) }]);
  });
});
