import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisPresence } from "../../../shared/presence/redis-presence";
import { type GatewayFixture, type InProcessCluster, startGateway, startInProcessCluster, startSingleNode } from "../../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { ask, type ClientSocket } from "../../support/socket-client";
import { clockPasses, collect, eventually } from "../../support/waits";

let cluster: InProcessCluster & { redis: { url: string } };
let gateways: GatewayFixture[] = [];
let sockets: InProcessCluster["sockets"];

beforeAll(async () => {
  cluster = await startInProcessCluster(3);
  ({ gateways, sockets } = cluster);
});
afterAll(async () => {
  await cluster?.close();
});

const users = (n: number, prefix: string) => Promise.all(Array.from({ length: n }, (_, i) => registerAndLogin(http(cluster.api.url), `${prefix}${i}`)));
const on = (g: number, user: LoggedIn, chat: string) => sockets.connect(gateways[g]!.url, { token: user.token, chatId: chat });
const leavesOf = (seen: { user_id: string }[], user: LoggedIn) => seen.filter((l) => l.user_id === user.user.id).length;
const joinsOf = (seen: { user: { id: string } }[], user: LoggedIn) => seen.filter((j) => j.user.id === user.user.id).length;
/** Per gateway: the users whose grace it is waiting out (their last socket there went). */
const graces = () => gateways.map((g) => g.gateway.stats().presenceGraces ?? 0);
/** Swept users of `chat` whose leave is still waiting out its grace in the store. */
const pendingIn = async (redis: Redis, chat: string) => (await redis.zrange("wsac:pr:pending", "0", "-1")).filter((key) => key.startsWith(`${chat} `)).length;
/**
 * Announcements are held back up to half a second, then cross Redis: once what could announce has
 * run, a window of a second in which an announcement that must not come would have arrived.
 */
const announcementsOut = () => clockPasses(1_000, "a window in which a wrong presence announcement would have arrived");

describe("presence across three gateways on one Redis", () => {
  it("announces a user's first socket to the room on every gateway, counts two tabs once, and answers members only", async () => {
    const [owner, alice, outsider] = await users(3, "pa");
    const chat = await chatWith(owner!, [alice!]);
    const watcher = await on(1, owner!, chat);
    const joins = collect(watcher, "presence:join");
    const tab1 = await on(0, alice!, chat);
    await eventually(() => joinsOf(joins, alice!) === 1, 5_000, "alice's join");
    expect(joins.find((j) => j.user.id === alice!.user.id)).toEqual({ chat_id: chat, user: { id: alice!.user.id, username: alice!.username } });
    await on(2, alice!, chat); // a second tab, on another gateway
    const answer = await ask(tab1, "chat:presence", { chat_id: chat });
    expect(answer.ok && answer.count).toBe(2);
    expect(answer.ok && answer.users.map((u) => u.username).sort()).toEqual([alice!.username, owner!.username].sort());
    const listed = await alice!.http.get(`/chats/${chat}/presence`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ chat_id: chat, count: 2, users: expect.arrayContaining([{ id: alice!.user.id, username: alice!.username }]) });
    expect(joinsOf(joins, alice!)).toBe(1);
    // Members only.
    expect((await outsider!.http.get(`/chats/${chat}/presence`)).status).toBe(404);
    const stranger = await sockets.connect(gateways[0]!.url, { token: outsider!.token });
    expect(await ask(stranger, "chat:presence", { chat_id: chat })).toEqual({ ok: false, error: { code: "not_in_chat", message: expect.any(String) } });
  });

  it("sends a leave 10 s after the last socket went (on leave, removal, revocation and a gateway's end), none for a quick return", async () => {
    const [owner, leaver, returner, removed, revoked, stranded, mover] = await users(7, "pl");
    const chat = await chatWith(owner!, [leaver!, returner!, removed!, revoked!, stranded!, mover!]);
    const extra = await startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: "gw-extra" });
    const redis = new Redis(cluster.redis.url);
    try {
      const watcher = await on(1, owner!, chat);
      const joins = collect(watcher, "presence:join");
      const leaves = collect(watcher, "presence:leave");
      const leaving = await on(0, leaver!, chat);
      const returning = await on(0, returner!, chat);
      await on(2, removed!, chat);
      await on(2, revoked!, chat);
      await sockets.connect(extra.url, { token: stranded!.token, chatId: chat });
      await sockets.connect(extra.url, { token: mover!.token, chatId: chat });
      // The six others (the watcher's own join may reach it too: joins are held back up to half a second).
      const others = () => joins.filter((j) => j.user.id !== owner!.user.id);
      await eventually(() => others().length === 6, 5_000, "six joins");
      const before = graces();
      const start = Date.now();

      leaving.disconnect();
      returning.disconnect();
      expect((await owner!.http.delete(`/chats/${chat}/members/${removed!.user.id}`)).status).toBe(204);
      expect((await revoked!.http.post("/logout", {})).status).toBeLessThan(300);
      await extra.close(); // its entries lapse with its lease, as a crashed gateway's do
      // The leaves under way: gw1 waits out leaver's and returner's grace, gw3 removed's and revoked's.
      await eventually(() => graces()[0] === before[0]! + 2 && graces()[2] === before[2]! + 2, 5_000, "the four graces begun");
      await on(1, returner!, chat); // back within the grace, on another gateway
      await on(0, mover!, chat); // the closed gateway's user, back elsewhere

      await eventually(() => leaves.length >= 4, 16_000, "four leaves");
      const took = Date.now() - start;
      // Every leave under way has run (the graces here, the closed gateway's swept users in the store).
      await eventually(async () => graces()[0] === before[0] && graces()[2] === before[2] && (await pendingIn(redis, chat)) === 0, 5_000, "every leave run");
      await announcementsOut();
      expect(took).toBeGreaterThanOrEqual(9_000);
      expect(took).toBeLessThan(15_000);
      for (const gone of [leaver!, removed!, revoked!, stranded!]) expect(leavesOf(leaves, gone)).toBe(1);
      for (const back of [returner!, mover!]) {
        expect(leavesOf(leaves, back)).toBe(0);
        expect(joinsOf(joins, back)).toBe(1);
      }
      const listed = await owner!.http.get(`/chats/${chat}/presence`);
      expect(listed.body.users.map((u: { id: string }) => u.id).sort()).toEqual([owner!.user.id, returner!.user.id, mover!.user.id].sort());
    } finally {
      redis.disconnect();
      await extra.close();
    }
  }, 30_000);
});

describe("a long-lived gateway whose users visit many chats", () => {
  it("forgets each chat, in this process and in its list in Redis, once its last user there is gone", async () => {
    const owner = await registerAndLogin(http(cluster.api.url), "pv");
    const chats: string[] = [];
    for (let i = 0; i < 200; i += 1) chats.push(await chatWith(owner, [], `visit-${i}`));
    const visited = await startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: "gw-visited" });
    const redis = new Redis(cluster.redis.url);
    try {
      const stats = () => visited.gateway.stats();
      // Ten tabs, twenty chats each (within a socket's burst of events).
      const tabs = await Promise.all(Array.from({ length: 10 }, () => sockets.connect(visited.url, { token: owner.token })));
      await Promise.all(tabs.map(async (tab, t) => {
        for (const chat of chats.slice(t * 20, t * 20 + 20)) expect((await ask(tab, "chat:join", { chat_id: chat })).ok).toBe(true);
      }));
      const gatewayId = async () => Object.keys(await redis.hgetall("wsac:pr:gateways")).find((g) => g.startsWith("gw-visited:"));
      await eventually(async () => (await gatewayId()) !== undefined, 5_000, "the gateway's lease");
      const list = `wsac:pr:{gw:${(await gatewayId())!}}:chats`;
      await eventually(async () => (await redis.scard(list)) === 200, 5_000, "the 200 chats on its list");
      expect(stats()).toMatchObject({ presenceChats: 200, presenceEntries: 200, presenceStoreChats: 200 });

      for (const tab of tabs) tab.disconnect();
      // The leaves reach the store a grace after the last socket went.
      await eventually(async () => (await redis.scard(list)) === 0, 15_000, "its chat list to empty");
      await eventually(() => stats().presenceStoreChats === 0, 2_000, "its registry to empty");
      expect(stats()).toMatchObject({ presenceChats: 0, presenceEntries: 0, presenceGraces: 0, presenceStoreChats: 0 });
      // Back in one chat: listed again.
      await sockets.connect(visited.url, { token: owner.token, chatId: chats[3]! });
      await eventually(async () => (await redis.sismember(list, chats[3]!)) === 1, 5_000, "the chat listed again");
      expect(await redis.scard(list)).toBe(1);
    } finally {
      redis.disconnect();
      await visited.close();
    }
  }, 60_000);
});

describe("a gateway taken for dead while it lives", () => {
  it("keeps its users online: swept after a stall past its lease, it registers them again before their leaves fall due", async () => {
    const [owner, stalled, returner] = await users(3, "ps");
    const chat = await chatWith(owner!, [stalled!, returner!]);
    const watcher = await on(1, owner!, chat);
    const leaves = collect(watcher, "presence:leave");
    const joins = collect(watcher, "presence:join");
    await on(0, stalled!, chat); // on gw1
    const away = await on(0, returner!, chat); // on gw1, gone just before the sweep, back within its grace
    await eventually(() => joinsOf(joins, stalled!) === 1 && joinsOf(joins, returner!) === 1, 5_000, "the joins");
    const before = graces();
    away.disconnect();
    await eventually(() => graces()[0] === before[0]! + 1, 5_000, "returner's grace begun on gw1");
    const redis = new Redis(cluster.redis.url);
    try {
      // gw1 last renewed 5 s ago, as far as the store knows, and another gateway's sweep runs now
      // (the one the gateways run every 2 s): its users' leaves are due 5 s from now.
      await eventually(async () => Object.keys(await redis.hgetall("wsac:pr:gateways")).some((g) => g.startsWith("gw1:")), 5_000, "gw1's lease");
      const gw1 = Object.keys(await redis.hgetall("wsac:pr:gateways")).find((g) => g.startsWith("gw1:"))!;
      // A stall past what its held probes cover (or a probe connection that was down): its BLPOPs
      // are ended with an error, which it takes a second to send again.
      const probes = ((await redis.client("LIST")) as string).split("\n").filter((l) => l.includes(`name=wsac-alive:${gw1} `));
      expect(probes).toHaveLength(1);
      const probeClient = /\bid=(\d+)/.exec(probes[0]!)![1]!;
      while ((await redis.client("UNBLOCK", probeClient, "ERROR")) === 1);
      let swept = { gateways: [] as string[], users: 0 };
      for (let i = 0; i < 5 && !swept.gateways.includes(gw1); i += 1) {
        await redis.hset("wsac:pr:gateways", gw1, Date.now() - 5_000);
        swept = await new RedisPresence(redis).sweep();
      }
      expect(swept.gateways).toEqual([gw1]);
      expect(swept.users).toBeGreaterThanOrEqual(2); // the two users (no other gateway has them)
      // gw1's next renewal finds its lease gone and registers its users again.
      await eventually(async () => (await redis.hget(`wsac:pr:{${chat}}:n`, stalled!.user.id)) === "1", 5_000, "gw1 to register its users again");
      await on(0, returner!, chat);
      // Past when the swept leaves fell due: each claimed, and found back.
      await eventually(async () => (await pendingIn(redis, chat)) === 0, 10_000, "the swept leaves to fall due");
      await announcementsOut();
      for (const user of [stalled!, returner!]) {
        expect(leavesOf(leaves, user)).toBe(0);
        expect(joinsOf(joins, user)).toBe(1);
      }
      const listed = await owner!.http.get(`/chats/${chat}/presence`);
      expect(listed.body.users.map((u: { id: string }) => u.id)).toContain(stalled!.user.id);
    } finally {
      redis.disconnect();
    }
  }, 20_000);
});

describe("a large chat's count across gateways", () => {
  it("goes out once for joins on three gateways at once, the latest, not once from each gateway", async () => {
    // Three more gateways on the same Redis, where every chat of more than one online is large.
    const counting = await Promise.all([1, 2, 3].map((k) => startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: `gw-count${k}`, env: { PRESENCE_COUNT_ONLY_ABOVE: "1" } })));
    try {
      const [owner, ...joiners] = await users(7, "pc");
      const chat = await chatWith(owner!, joiners);
      const at = (g: number, user: LoggedIn) => sockets.connect(counting[g]!.url, { token: user.token, chatId: chat });
      const watcher = await at(0, owner!);
      const counts = collect(watcher, "presence:count");
      await at(1, joiners[0]!);
      await eventually(() => counts.at(-1)?.count === 2, 5_000, "the count of 2");
      // Past the first count's window: the next joins may be told at once.
      await clockPasses(1_100, "the first count's window");
      const before = counts.length;
      // Two users on each gateway, all at once: each gateway sees a change.
      await Promise.all(joiners.slice(1).map((u, k) => at(k % 3, u)));
      await eventually(() => counts.at(-1)?.count === 7, 5_000, "the count of 7");
      // A count per gateway (three) would have come within the hold; the store lets one through per window.
      await clockPasses(1_500, "a window in which another gateway's count for the same joins would have arrived");
      const after = counts.slice(before);
      expect(after.at(-1)).toEqual({ chat_id: chat, count: 7 });
      expect(after.length).toBeLessThanOrEqual(2);
      expect(new Set(after.map((c) => c.count)).size).toBe(after.length); // never the same count twice
    } finally {
      await Promise.all(counting.map((g) => g.close()));
    }
  }, 20_000);
});

describe("presence in one process (npm start, in memory)", () => {
  it("announces joins and lists the users, two tabs once, and a leave after the grace", async () => {
    const node = await startSingleNode();
    try {
      const [owner, alice] = await Promise.all([registerAndLogin(http(node.url), "m-owner"), registerAndLogin(http(node.url), "m-alice")]);
      const chat = await chatWith(owner, [alice]);
      const watcher = await node.sockets.connect(node.url, { token: owner.token, chatId: chat });
      const joins = collect(watcher, "presence:join");
      const tab: ClientSocket = await node.sockets.connect(node.url, { token: alice.token, chatId: chat });
      const tab2 = await node.sockets.connect(node.url, { token: alice.token, chatId: chat });
      await eventually(() => joins.some((j) => j.user.id === alice.user.id), 5_000, "alice's join");
      expect(joins.filter((j) => j.user.id === alice.user.id)).toEqual([{ chat_id: chat, user: { id: alice.user.id, username: alice.username } }]);
      const answer = await ask(tab, "chat:presence", { chat_id: chat });
      expect(answer.ok && answer.count).toBe(2);
      expect((await owner.http.get(`/chats/${chat}/presence`)).body.count).toBe(2);
      // Both tabs gone: one leave, after the grace.
      const leaves = collect(watcher, "presence:leave");
      const gone = Date.now();
      tab.disconnect();
      tab2.disconnect();
      await eventually(() => leaves.length === 1, 15_000, "alice's leave");
      expect(Date.now() - gone).toBeGreaterThanOrEqual(9_000);
      expect(leaves).toEqual([{ chat_id: chat, user_id: alice.user.id }]);
      expect((await owner.http.get(`/chats/${chat}/presence`)).body.count).toBe(1);
    } finally {
      await node.close();
    }
  });

  it("sends presence:count instead of joins and leaves above the configured size, one per chat for the joins of a moment", async () => {
    const node = await startSingleNode({ env: { PRESENCE_COUNT_ONLY_ABOVE: "1" } });
    try {
      const client = http(node.url);
      const [owner, alice, bob, carol] = await Promise.all([registerAndLogin(client, "c-owner"), registerAndLogin(client, "c-alice"), registerAndLogin(client, "c-bob"), registerAndLogin(client, "c-carol")]);
      const chat = await chatWith(owner, [alice, bob, carol]);
      const watcher = await node.sockets.connect(node.url, { token: owner.token, chatId: chat });
      const counts = collect(watcher, "presence:count");
      const joins = collect(watcher, "presence:join");
      await node.sockets.connect(node.url, { token: alice.token, chatId: chat });
      await eventually(() => counts.length === 1, 5_000, "a presence:count");
      expect(counts).toEqual([{ chat_id: chat, count: 2 }]);
      // Two more at once: their counts are held back (up to a second) and go out as one, the latest.
      await Promise.all([bob, carol].map((u) => node.sockets.connect(node.url, { token: u.token, chatId: chat })));
      await eventually(() => counts.at(-1)?.count === 4, 5_000, "the count of 4");
      // Counts are held back up to a second: a second count for these joins would have come by now.
      await clockPasses(1_000, "a window in which a second count for the same joins would have arrived");
      expect(counts).toEqual([{ chat_id: chat, count: 2 }, { chat_id: chat, count: 4 }]);
      expect(joins.filter((j) => j.user.id !== owner.user.id)).toEqual([]);
    } finally {
      await node.close();
    }
  });
});
