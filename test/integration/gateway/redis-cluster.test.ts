import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MessageView } from "../../../shared/contract/views";
import { type ApiFixture, type InProcessCluster, startApi, startOnRedisCluster } from "../../support/fixtures";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { pino } from "pino";
import { createRedisCluster } from "../../../shared/redis/clients";
import { LEASE_MS } from "../../../shared/presence/presence";
import { RedisPresence } from "../../../shared/presence/redis-presence";
import { type RedisCluster, startRedisCluster } from "../../support/redis-cluster";
import { ask, type ClientSocket } from "../../support/socket-client";
import { clockPasses, collect, disconnected, eventually, nextEvent } from "../../support/waits";

/**
 * The api and three gateways on a Redis Cluster of the test's own (3 masters, 3 replicas, node
 * timeout 1 s): rooms on sharded pub/sub, the control bus on plain pub/sub, limits in the cluster.
 * A master is killed and a slot moved while messages flow.
 */
let redisCluster: RedisCluster;
let cluster: InProcessCluster;

beforeAll(async () => {
  redisCluster = await startRedisCluster();
  cluster = await startOnRedisCluster(redisCluster, 3);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await redisCluster?.stop();
});

const http = () => httpClient(cluster.api.url);
/** The sharded channel of a chat's room (the adapter's name for it). */
const channelOf = (chatId: string) => `wsac:io#/#chat:${chatId}#`;

async function members(n: number, prefix: string): Promise<{ users: LoggedIn[]; chatId: string; sockets: ClientSocket[] }> {
  const users = [];
  for (let i = 0; i < n; i += 1) users.push(await registerAndLogin(http(), `${prefix}${i}`));
  const chatId = await chatWith(users[0]!, users.slice(1), prefix);
  const sockets = await Promise.all(users.map((u, i) => cluster.sockets.connect(cluster.gateways[i % 3]!.url, { token: u.token, chatId })));
  return { users, chatId, sockets };
}

/** Sends `text-<i>` every `everyMs` from `socket` until stopped; resolves with the acknowledged messages. */
function keepSending(socket: ClientSocket, chatId: string, text: string, everyMs = 100) {
  const acked: MessageView[] = [];
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop && i < 600; i += 1) {
      const res = await ask(socket, "message:send", { chat_id: chatId, text: `${text}-${i}`, client_id: `${text}-${i}` }, 10_000).catch(() => undefined);
      if (res?.ok) acked.push(res.message);
      await clockPasses(everyMs, "the pace of the flow: one message per interval");
    }
  })();
  return {
    acked,
    async stop() {
      stop = true;
      await done;
      return acked;
    },
  };
}

/** Every message of `acked` reached `socket`, live or by a catch-up with `chat:join {after}` (ids de-duplicated). */
async function nothingMissing(socket: ClientSocket, chatId: string, live: MessageView[], acked: MessageView[], firstId: string): Promise<void> {
  const have = new Set(live.map((m) => m.id));
  let after = firstId;
  for (let i = 0; i < 20; i += 1) {
    const res = await ask(socket, "chat:join", { chat_id: chatId, after });
    if (!res.ok) throw new Error(res.error.code);
    for (const m of res.missed) have.add(m.id);
    if (!res.has_more || res.missed.length === 0) break;
    after = res.missed.at(-1)!.id;
  }
  expect(acked.filter((m) => !have.has(m.id)).map((m) => m.text)).toEqual([]);
}

describe("the cluster on a Redis Cluster", () => {
  // First in the file, so that no earlier test has opened the gateways' connections to the room's shard.
  it("keeps the order of messages sent in turn through each gateway, each answered before the next is sent", async () => {
    const { users, chatId, sockets: receivers } = await members(3, "rc-turns");
    const senders = await Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: users[0]!.token, chatId })));
    const seen = receivers.map((s) => collect(s, "message:new"));
    const texts = Array.from({ length: 9 }, (_, i) => `t${i}`);
    for (const [i, text] of texts.entries()) expect((await ask(senders[i % 3]!, "message:send", { chat_id: chatId, text })).ok).toBe(true);
    await eventually(() => seen.every((s) => s.length === texts.length), 10_000, "nine messages on every receiver");
    for (const s of seen) expect(s.map((m) => m.text)).toEqual(texts);
  });

  it("connects a command client to every master as soon as it is ready, not at its first command there", async () => {
    const client = createRedisCluster({ kind: "cluster", nodes: redisCluster.ports.map((port) => ({ host: "127.0.0.1", port })) }, { logger: pino({ level: "silent" }), name: "test-warm" });
    try {
      await new Promise((resolve) => client.once("ready", resolve));
      await eventually(() => client.nodes("master").length === 3 && client.nodes("master").every((n) => n.status === "ready"), 5_000, "every master connected");
    } finally {
      client.disconnect();
    }
  });

  it("tells a stalled gateway from a dead one on the cluster: its probe list's BLPOPs answer until its process is gone", async () => {
    const nodes = redisCluster.ports.map((port) => ({ host: "127.0.0.1", port }));
    const client = createRedisCluster({ kind: "cluster", nodes }, { logger: pino({ level: "silent" }), name: "test-probes" });
    try {
      await new Promise((resolve) => client.once("ready", resolve));
      const store = new RedisPresence(client);
      const gateway = `gw-probe-${Date.now()}`;
      const chat = "00000000-0000-4000-8000-00000000c0de";
      await store.join(gateway, chat, { id: "u-probe", username: "probe" });
      const stop = store.stayAlive(gateway);
      const probe = `wsac:pr:{gw:${gateway}}:alive`;
      // The BLPOPs wait on the master of the probe list's slot.
      await eventually(async () => {
        const lists = await Promise.all(client.nodes("master").map(async (node) => (await node.client("LIST")) as string));
        return lists.some((list) => list.split("\n").some((l) => l.includes(`name=wsac-alive:${gateway} `) && l.includes("cmd=blpop")));
      }, 5_000, "the held BLPOPs");
      expect(await client.exists(probe)).toBe(0);
      await client.hset("wsac:pr:gateways", gateway, Date.now() - LEASE_MS - 1_000);
      expect((await store.sweep()).gateways).not.toContain(gateway);
      stop();
      await client.del(`wsac:pr:{gw:${gateway}}:sweeping`);
      await eventually(async () => (await store.sweep()).gateways.includes(gateway), 5_000, "swept once its process let go");
    } finally {
      client.disconnect();
    }
  });

  it("carries a chat across three gateways in send order", async () => {
    const { sockets, chatId } = await members(3, "rc-order");
    const seen = sockets.map((s) => collect(s, "message:new"));
    for (let i = 0; i < 10; i += 1) expect((await ask(sockets[0]!, "message:send", { chat_id: chatId, text: `m${i}` })).ok).toBe(true);
    await eventually(() => seen.every((s) => s.length === 10), 10_000, "ten messages on every gateway").catch((err: Error) => {
      throw new Error(`${err.message}: ${seen.map((s) => s.map((m) => m.text).join(",")).join(" | ")}`);
    });
    for (const s of seen) expect(s.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it("delivers a message posted over HTTP to the chat's sockets on every gateway, once (the api publishes through the sharded adapter)", async () => {
    const { users, sockets, chatId } = await members(3, "rc-http");
    const seen = sockets.map((s) => collect(s, "message:new"));
    for (let i = 0; i < 3; i += 1) expect((await users[i]!.http.post(`/chats/${chatId}/messages`, { text: `http ${i}` })).status).toBe(201);
    await eventually(() => seen.every((s) => s.length === 3), 10_000, "three messages on every gateway");
    // A round trip on each socket after which a second copy would have come.
    for (const s of sockets) await ask(s, "chat:presence", { chat_id: chatId });
    for (const s of seen) expect(s.map((m) => m.text)).toEqual(["http 0", "http 1", "http 2"]);
  });

  it("ends a logged-out session's sockets on every gateway", async () => {
    const user = await registerAndLogin(http(), "rc-logout");
    const sockets = await Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: user.token })));
    const ended = sockets.map((s) => nextEvent(s, "session:ended"));
    const gone = sockets.map((s) => disconnected(s));
    expect((await user.http.post("/logout")).status).toBe(204);
    expect(await Promise.all(ended)).toEqual(sockets.map(() => ({ reason: "revoked" })));
    expect(await Promise.all(gone)).toEqual(sockets.map(() => "io server disconnect"));
  });

  it("keeps presence on the cluster: joins on every gateway, two tabs once, a leave after the grace", async () => {
    const { users, chatId, sockets } = await members(3, "pres");
    const [owner, second, third] = users as [LoggedIn, LoggedIn, LoggedIn];
    const listed = async () => (await owner.http.get(`/chats/${chatId}/presence`)).body as { count: number; users: { id: string }[] };
    await eventually(async () => (await listed()).count === 3, 5_000, "three online");
    const leaves = collect(sockets[0]!, "presence:leave");
    // A second tab of the same user on another gateway changes nothing.
    await cluster.sockets.connect(cluster.gateways[2]!.url, { token: second.token, chatId });
    expect((await listed()).count).toBe(3);
    sockets[2]!.disconnect();
    await eventually(() => leaves.some((l) => l.user_id === third.user.id), 15_000, "the third user's leave");
    expect((await listed()).users.map((u) => u.id).sort()).toEqual([owner.user.id, second.user.id].sort());
  }, 30_000);

  it("shares login limits between api replicas through the cluster", async () => {
    const other: ApiFixture = await startApi({ database: cluster.database, redisClusterNodes: redisCluster.seeds });
    try {
      const creds = (await registerAndLogin(http(), "rc-limit"));
      const wrong = (url: string) => httpClient(url).post("/login", { username: creds.username, password: "Wrong-password-1!" });
      for (let i = 0; i < 5; i += 1) expect((await wrong(i % 2 ? other.url : cluster.api.url)).status).toBe(401);
      // Five strangers' failures in all: the other replica refuses a stranger even the right password, as a wrong one.
      expect((await httpClient(other.url).post("/login", { username: creds.username, password: creds.password })).body.code).toBe("invalid_credentials");
      expect((await httpClient(cluster.api.url).post("/login", { username: creds.username, password: creds.password })).status).toBe(401);
    } finally {
      await other.close();
    }
  });

  it("subscribes a channel per chat room and gateway, and none for sockets in no chat", async () => {
    const idle = await registerAndLogin(http(), "rc-idle");
    const before = await shardChannels();
    await Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: idle.token })));
    expect(await shardChannels()).toEqual(before);
    const { chatId } = await members(2, "rc-subs");
    // Two members on two gateways: the room's channel has one subscriber on each.
    await eventually(async () => (await shardSubscribers(channelOf(chatId))) === 2, 5_000, "the room's channel on two gateways");
  });

  it("confirms the room's subscription before answering chat:join: a message sent right after the answer arrives", async () => {
    for (let round = 0; round < 10; round += 1) {
      const [a, b] = [await registerAndLogin(http(), `rc-race${round}a`), await registerAndLogin(http(), `rc-race${round}b`)];
      const chatId = await chatWith(a, [b], `race ${round}`);
      const sender = await cluster.sockets.connect(cluster.gateways[0]!.url, { token: a.token, chatId });
      const joiner = await cluster.sockets.connect(cluster.gateways[1]!.url, { token: b.token });
      expect((await ask(joiner, "chat:join", { chat_id: chatId })).ok).toBe(true);
      const arrives = nextEvent(joiner, "message:new", 3_000);
      expect((await ask(sender, "message:send", { chat_id: chatId, text: "right after" })).ok).toBe(true);
      expect((await arrives).text).toBe("right after");
    }
  });

  it("keeps delivering when the master of a busy room's slot is killed, enforces revocations issued meanwhile, and misses nothing", async () => {
    const { users, chatId, sockets } = await members(3, "rc-fail");
    const first = await ask(sockets[0]!, "message:send", { chat_id: chatId, text: "before" });
    if (!first.ok) throw new Error(first.error.code);
    const live = sockets.map((s) => collect(s, "message:new"));
    const victim = await registerAndLogin(http(), "rc-victim");
    const victimSockets = await Promise.all(cluster.gateways.map((g) => cluster.sockets.connect(g.url, { token: victim.token })));
    const victimEnded = victimSockets.map((s) => disconnected(s, 20_000));

    const sending = keepSending(sockets[0]!, chatId, "flow");
    await eventually(() => live.every((l) => l.length >= 3), 5_000, "the flow on every gateway");
    const master = await redisCluster.masterOf(await redisCluster.slotOf(channelOf(chatId)));
    await redisCluster.kill(master.port);
    const killedAt = Date.now();
    // Revoked while the cluster fails over.
    expect((await victim.http.post("/logout")).status).toBe(204);

    // Messages reach every gateway again within 10 s of the kill.
    const counts = live.map((l) => l.length);
    await eventually(() => live.every((l, i) => l.length > counts[i]! + 2), 10_000, "delivery on every gateway after the failover");
    const back = Date.now() - killedAt;
    // The flow goes on after the failover: a few more messages on every gateway before it stops.
    const resumed = live.map((l) => l.length);
    await eventually(() => live.every((l, i) => l.length >= resumed[i]! + 5), 10_000, "the flow steady again on every gateway");
    const acked = await sending.stop();
    expect(acked.length).toBeGreaterThan(5);
    for (const [i, socket] of sockets.entries()) await nothingMissing(socket, chatId, live[i]!, acked, first.message.id);
    expect(await Promise.all(victimEnded)).toEqual(victimSockets.map(() => "io server disconnect"));
    expect(users.length).toBe(3);
    // For the record (not a timing assertion beyond the 10 s): how long delivery was cut.
    expect(back).toBeLessThan(10_000);
    await redisCluster.settled();
  }, 60_000);

  it("keeps delivering on every gateway while the room's slot moves to another master", async () => {
    const { chatId, sockets } = await members(3, "rc-move");
    const first = await ask(sockets[0]!, "message:send", { chat_id: chatId, text: "before" });
    if (!first.ok) throw new Error(first.error.code);
    const live = sockets.map((s) => collect(s, "message:new"));
    const sending = keepSending(sockets[0]!, chatId, "move");
    await eventually(() => live.every((l) => l.length >= 3), 5_000, "the flow on every gateway");
    const slot = await redisCluster.slotOf(channelOf(chatId));
    const from = await redisCluster.masterOf(slot);
    const to = (await redisCluster.masters()).find((m) => m.id !== from.id)!;
    await redisCluster.moveSlot(slot, to);
    await redisCluster.settled(slot);
    expect((await redisCluster.masterOf(slot)).id).toBe(to.id);
    // The subscriptions followed the slot: messages keep arriving on every gateway.
    const counts = live.map((l) => l.length);
    await eventually(() => live.every((l, i) => l.length > counts[i]! + 5), 10_000, "delivery after the move");
    await eventually(async () => (await shardSubscribersOn(to.port, channelOf(chatId))) === 3, 10_000, "the channel subscribed on its new master");
    const acked = await sending.stop();
    for (const [i, socket] of sockets.entries()) await nothingMissing(socket, chatId, live[i]!, acked, first.message.id);
  }, 60_000);
});

/** Every sharded channel with a subscriber, on every live master. */
async function shardChannels(): Promise<string[]> {
  const lists = await Promise.all((await redisCluster.masters()).map(async (m) => (await redisCluster.cli(m.port, "pubsub", "shardchannels")).split("\n").filter(Boolean)));
  return lists.flat().sort();
}

async function shardSubscribersOn(port: number, channel: string): Promise<number> {
  const reply = (await redisCluster.cli(port, "pubsub", "shardnumsub", channel)).split("\n");
  return Number(reply[1] ?? 0);
}

async function shardSubscribers(channel: string): Promise<number> {
  const counts = await Promise.all((await redisCluster.masters()).map((m) => shardSubscribersOn(m.port, channel)));
  return counts.reduce((a, b) => a + b, 0);
}
