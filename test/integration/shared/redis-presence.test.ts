import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GRACE_MS, LEASE_MS } from "../../../shared/presence/presence";
import { RedisPresence, STALL_MAX_MS } from "../../../shared/presence/redis-presence";
import { type RedisServer, startRedisServer } from "../../support/redis-server";
import { eventually, nextTurn } from "../../support/waits";

/**
 * A client that counts its scripts (in a sweep: its DROPs), the most in flight at once, and its
 * SSCANs: those sent while scripts were outstanding read a page while an earlier one was dropped.
 */
class CountingRedis extends Redis {
  inFlight = 0;
  most = 0;
  scripts = 0;
  zadds = 0;
  sscans = 0;
  sscansOverlapping = 0;

  override sendCommand(...args: Parameters<Redis["sendCommand"]>): unknown {
    const [command] = args;
    if (command.name === "zadd") this.zadds += 1;
    if (command.name === "sscan") {
      this.sscans += 1;
      if (this.inFlight > 0) this.sscansOverlapping += 1;
    }
    if (command.name === "evalsha" || command.name === "eval") {
      this.scripts += 1;
      this.inFlight += 1;
      this.most = Math.max(this.most, this.inFlight);
      const done = () => {
        this.inFlight -= 1;
      };
      command.promise.then(done, done);
    }
    return super.sendCommand(...args);
  }
}

/** A client that runs `after` once its first HGETALL has been answered, before handing the answer on. */
class ActAfterRead extends Redis {
  constructor(
    url: string,
    private after: (() => Promise<unknown>) | undefined,
  ) {
    super(url);
  }

  override sendCommand(...args: Parameters<Redis["sendCommand"]>): unknown {
    const reply = super.sendCommand(...args) as Promise<unknown>;
    const after = this.after;
    if (args[0].name !== "hgetall" || !after) return reply;
    this.after = undefined;
    return reply.then(async (value) => {
      await after();
      return value;
    });
  }
}

// A redis-server of this file's own: the store's lease hash and pending leaves are global keys.
let server: RedisServer;
let redis: Redis;
const clients: Redis[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  redis?.disconnect();
  await server?.stop();
});

const chatsOf = (gateway: string) => `wsac:pr:{gw:${gateway}}:chats`;
const mine = (chatId: string, gateway: string) => `wsac:pr:{${chatId}}:g:${gateway}`;
const user = () => ({ id: randomUUID(), username: `u-${randomUUID().slice(0, 8)}` });
const client = () => {
  const c = new Redis(server.url);
  clients.push(c);
  return c;
};
const counting = () => {
  const c = new CountingRedis(server.url);
  clients.push(c);
  return c;
};
/** The gateway's lease ran out: last heard of well before its lease. */
const lapse = (gateway: string) => redis.hset("wsac:pr:gateways", gateway, Date.now() - LEASE_MS - 1_000);
/** Keys of this gateway's per-chat sets still in Redis. */
const leftOf = async (gateway: string) => (await redis.keys(`wsac:pr:*:g:${gateway}`)).length;

/**
 * A gateway with one user in each of `n` chats of its own: the dead one of a test. The pending leaves
 * and the leases are emptied first, so that no earlier test's gateway is swept with it.
 */
async function deadGatewayWith(n: number) {
  await redis.del("wsac:pr:pending", "wsac:pr:gateways");
  const store = new RedisPresence(client());
  const dead = `gw-dead-${randomUUID().slice(0, 8)}`;
  const chats = Array.from({ length: n }, () => randomUUID());
  const users = chats.map(() => user());
  await Promise.all(chats.map((chat, k) => store.join(dead, chat, users[k]!)));
  return { store, dead, chats, users };
}

/** Clients this file's redis-server holds blocked (the probes' BLPOPs). */
const blocked = async () => Number(/blocked_clients:(\d+)/.exec(await redis.info("clients"))?.[1] ?? 0);

/** A process of its own holding `gateway`'s probes (test/support/presence-holder.ts), once Redis has them blocked. */
async function holder(gateway: string): Promise<ChildProcess> {
  const before = await blocked();
  const child = spawn(process.execPath, ["--import", "tsx", join(__dirname, "../../support/presence-holder.ts")], {
    env: { ...process.env, REDIS_URL: server.url, GATEWAY: gateway },
    stdio: "ignore",
  });
  children.push(child);
  await eventually(async () => (await blocked()) > before, 15_000, "the holder's BLPOPs");
  return child;
}
const children: ChildProcess[] = [];

describe("a stalled gateway against a dead one", () => {
  afterAll(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  it("does not sweep a gateway whose process lives but is stopped, for as many rounds as it holds probes, and sweeps one killed at once", async () => {
    const stalled = `gw-stalled-${randomUUID().slice(0, 8)}`;
    const chat = randomUUID();
    const alice = user();
    await new RedisPresence(client()).join(stalled, chat, alice);
    const child = await holder(stalled);
    // Its event loop stops (SIGSTOP): no JavaScript of it runs from here, its lease lapses.
    child.kill("SIGSTOP");
    await lapse(stalled);
    const sweeper = new RedisPresence(client());
    // Each round is a probe, answered by Redis from the BLPOPs the stopped process holds
    // (the lock that spaces the probes out is lifted here, as if a round had passed).
    let rounds = 0;
    for (; rounds < 10; rounds += 1) {
      const { gateways } = await sweeper.sweep();
      if (gateways.includes(stalled)) break;
      expect(await redis.zscore("wsac:pr:pending", `${chat} ${alice.id}`)).toBeNull();
      await redis.del(`wsac:pr:{gw:${stalled}}:sweeping`);
    }
    expect(rounds).toBe(5); // PROBES_HELD: then it counts as stuck, and is swept
    expect(await redis.zscore("wsac:pr:pending", `${chat} ${alice.id}`)).not.toBeNull();
    child.kill("SIGKILL");

    // A gateway that dies: its connection closes with it, the first probe finds nobody.
    const dead = `gw-killed-${randomUUID().slice(0, 8)}`;
    const bob = user();
    await new RedisPresence(client()).join(dead, chat, bob);
    const killed = await holder(dead);
    killed.kill("SIGKILL");
    await new Promise((resolve) => killed.once("exit", resolve));
    await lapse(dead);
    await eventually(async () => (await sweeper.sweep()).gateways.includes(dead), 5_000, "the killed gateway swept");
    expect(await redis.zscore("wsac:pr:pending", `${chat} ${bob.id}`)).not.toBeNull();
  });

  it("spaces its probes a sweep round apart, and sweeps a gateway past STALL_MAX_MS however many probes it answers", async () => {
    const gateway = `gw-spaced-${randomUUID().slice(0, 8)}`;
    const chat = randomUUID();
    const carol = user();
    const store = new RedisPresence(client());
    await store.join(gateway, chat, carol);
    const stop = store.stayAlive(gateway);
    try {
      await eventually(async () => (await blocked()) > 0, 5_000, "its BLPOPs");
      await lapse(gateway);
      const [a, b] = [new RedisPresence(client()), new RedisPresence(client())];
      expect((await a.sweep()).gateways).not.toContain(gateway);
      // A second sweeper within the round neither probes nor sweeps: the lock stays until the round is over.
      expect(await redis.pttl(`wsac:pr:{gw:${gateway}}:sweeping`)).toBeGreaterThan(0);
      expect((await b.sweep()).gateways).not.toContain(gateway);
      expect(await redis.zscore("wsac:pr:pending", `${chat} ${carol.id}`)).toBeNull();
      // Not heard of for longer than a stall may last: swept, live process or not.
      await redis.del(`wsac:pr:{gw:${gateway}}:sweeping`);
      await redis.hset("wsac:pr:gateways", gateway, Date.now() - STALL_MAX_MS - 1_000);
      expect((await a.sweep()).gateways).toContain(gateway);
    } finally {
      stop();
    }
  });
});

describe("a gateway's chat list and registry in the Redis store", () => {
  it("keeps only the chats a gateway has users in: 200 chats joined and left leave nothing behind for its sweep", async () => {
    const store = new RedisPresence(client());
    const gateway = `gw-visits-${randomUUID().slice(0, 8)}`;
    const chats = Array.from({ length: 200 }, () => randomUUID());
    const [alice, bob] = [user(), user()];
    await Promise.all(chats.flatMap((chat) => [store.join(gateway, chat, alice), store.join(gateway, chat, bob)]));
    expect(await redis.scard(chatsOf(gateway))).toBe(200);

    // Bob leaves every chat first: alice keeps them on the list.
    for (const chat of chats) expect(await store.leave(gateway, chat, bob.id)).toEqual({ left: true, count: 1 });
    expect(await redis.scard(chatsOf(gateway))).toBe(200);
    await Promise.all(chats.map((chat) => store.leave(gateway, chat, alice.id)));
    expect(await redis.scard(chatsOf(gateway))).toBe(0);
    expect(await leftOf(gateway)).toBe(0);
    expect(store.localChats()).toBe(0);

    // A chat visited again is listed again, and its sweep still finds it.
    const again = chats[7]!;
    await store.join(gateway, again, alice);
    expect(await redis.smembers(chatsOf(gateway))).toEqual([again]);
    expect(store.localChats()).toBe(1);
    await lapse(gateway);
    const sweeper = counting();
    const swept = await new RedisPresence(sweeper).sweep();
    expect(swept).toMatchObject({ gateways: [gateway], users: 1 });
    expect(sweeper.scripts).toBe(1); // one DROP: the chat it has a user in, not the 200 it ever had
    expect(await redis.zscore("wsac:pr:pending", `${again} ${alice.id}`)).not.toBeNull();
  });

  it("keeps a chat listed when a join on the gateway races the leave that empties it, so a sweep still finds the joined user", async () => {
    const store = new RedisPresence(client());
    const gateway = `gw-race-${randomUUID().slice(0, 8)}`;
    const chats = Array.from({ length: 400 }, () => randomUUID());
    const leavers = chats.map(() => user());
    const joiners = chats.map(() => user());
    await Promise.all(chats.map((chat, i) => store.join(gateway, chat, leavers[i]!)));
    /** `turns` turns of the event loop later (no time: an order of events, for the race). */
    const later = async (turns: number) => {
      for (let n = 0; n < turns; n += 1) await nextTurn();
    };
    // The one leaving and the one joining, in either order, in the same turn or a few turns apart.
    await Promise.all(
      chats.map(async (chat, i) => {
        const leave = () => store.leave(gateway, chat, leavers[i]!.id);
        const join = () => store.join(gateway, chat, joiners[i]!);
        const gap = i % 5;
        if (i % 2 === 0) await Promise.all([leave(), later(gap).then(join)]);
        else await Promise.all([join(), later(gap).then(leave)]);
      }),
    );
    // Every chat with a user of the gateway is on its list.
    const listed = new Set(await redis.smembers(chatsOf(gateway)));
    const unlisted: string[] = [];
    for (const chat of chats) if ((await redis.scard(mine(chat, gateway))) > 0 && !listed.has(chat)) unlisted.push(chat);
    expect(unlisted).toEqual([]);
    expect(listed.size).toBe(400);

    await lapse(gateway);
    const swept = await new RedisPresence(counting()).sweep();
    expect(swept).toMatchObject({ gateways: [gateway], users: 400 });
    const pending = await redis.zrange("wsac:pr:pending", "0", "-1");
    for (const [i, chat] of chats.entries()) expect(pending).toContain(`${chat} ${joiners[i]!.id}`);
  });

  it("does not sweep a gateway that renewed its lease after the sweeper read the leases", async () => {
    const gateway = `gw-late-${randomUUID().slice(0, 8)}`;
    const chat = randomUUID();
    const someone = user();
    const live = new RedisPresence(client());
    await live.renew(gateway);
    await live.join(gateway, chat, someone);
    await lapse(gateway);
    // The sweeper reads the leases; the gateway (stalled until then) renews right after that read.
    const reader = new ActAfterRead(server.url, () => live.renew(gateway));
    clients.push(reader);
    const swept = await new RedisPresence(reader).sweep();
    expect(swept.gateways).not.toContain(gateway);
    expect(await redis.hget(`wsac:pr:{${chat}}:n`, someone.id)).toBe("1");
    expect(await redis.zscore("wsac:pr:pending", `${chat} ${someone.id}`)).toBeNull();
    // And its next lapse is swept as usual (the skipped sweep left no lock behind).
    await lapse(gateway);
    expect((await new RedisPresence(client()).sweep()).gateways).toContain(gateway);
  });

  it("sweeps a dead gateway with users in 2,000 chats a page at a time, each page dropped while the next is read, a bounded number at once, and misses none", async () => {
    const store = new RedisPresence(client());
    const dead = `gw-dead-${randomUUID().slice(0, 8)}`;
    const alive = `gw-alive-${randomUUID().slice(0, 8)}`;
    const chats = Array.from({ length: 2_000 }, () => randomUUID());
    const users = chats.map(() => user());
    for (let i = 0; i < chats.length; i += 500) {
      await Promise.all(chats.slice(i, i + 500).map((chat, k) => store.join(dead, chat, users[i + k]!)));
    }
    // A tenth of them are on a live gateway too: not gone, so not pending.
    const elsewhere = chats.filter((_, i) => i % 10 === 0);
    await Promise.all(elsewhere.map((chat) => store.join(alive, chat, users[chats.indexOf(chat)]!)));
    await redis.hset("wsac:pr:gateways", alive, Date.now());
    await lapse(dead);

    // Pages of about 200 chats (SSCAN's COUNT is a hint), the window wide enough never to wait.
    const sweeper = counting();
    const swept = await new RedisPresence(sweeper, { sweepPage: { count: 200, inFlight: 50 } }).sweep();
    expect(swept).toMatchObject({ gateways: [dead], users: 1_800 });
    // One Redis: a page's chats in scripts of up to 250 each, their pending leaves added by the same
    // scripts (one script per chat cost a survivor 30 µs of CPU each, too much in a storm).
    expect(sweeper.scripts).toBeGreaterThanOrEqual(sweeper.sscans);
    expect(sweeper.scripts).toBeLessThanOrEqual(2 * sweeper.sscans);
    expect(sweeper.zadds).toBe(0);
    // Where its time went, for the log: every page read, the first asked for after the lock and probe.
    expect(swept.pages!.read).toBe(sweeper.sscans);
    expect(swept.pages!.lastReadMs).toBeGreaterThanOrEqual(swept.pages!.firstAskedMs);
    expect(sweeper.sscans).toBeGreaterThanOrEqual(5);
    // Each page's scripts at once, and dropped while the next page is read: the sweeper, a survivor
    // busy with the dead gateway's clients, waits for its event loop at every round trip in a row (one
    // page after another, 12,000 chats took 36, and the last leaves went out 40 s after a kill -9).
    expect(sweeper.sscansOverlapping).toBe(sweeper.sscans - 1);
    expect(await redis.zcard("wsac:pr:pending")).toBeGreaterThanOrEqual(1_800);
    const pending = new Set(await redis.zrange("wsac:pr:pending", "0", "-1"));
    for (const [i, chat] of chats.entries()) expect(pending.has(`${chat} ${users[i]!.id}`)).toBe(i % 10 !== 0);
    expect(await redis.exists(chatsOf(dead))).toBe(0);
    expect(await leftOf(dead)).toBe(0);
    expect(await redis.hexists("wsac:pr:gateways", dead)).toBe(0);
  });

  it("keeps a sweep's outstanding scripts to its window of pages", async () => {
    const store = new RedisPresence(client());
    const dead = `gw-dead-${randomUUID().slice(0, 8)}`;
    const chats = Array.from({ length: 2_000 }, () => randomUUID());
    for (let i = 0; i < chats.length; i += 500) await Promise.all(chats.slice(i, i + 500).map((chat) => store.join(dead, chat, user())));
    await lapse(dead);
    const sweeper = counting();
    expect(await new RedisPresence(sweeper, { sweepPage: { count: 200, inFlight: 2 } }).sweep()).toMatchObject({ gateways: [dead], users: 2_000 });
    // Two pages of about 200 (SSCAN's COUNT is a hint), a script or two each: not all of them at once.
    expect(sweeper.scripts).toBeGreaterThanOrEqual(5);
    expect(sweeper.most).toBeLessThanOrEqual(2 * 2);
  });

  it("gives gateways that ask for due leaves at once leaves of their own, so a dead gateway's thousands go out in a few rounds", async () => {
    const { store, dead, chats, users } = await deadGatewayWith(1_200);
    // Last heard of before its lease and a grace ago: its users' leaves are due at once.
    await redis.hset("wsac:pr:gateways", dead, Date.now() - LEASE_MS - GRACE_MS - 1_000);
    expect(await store.sweep()).toMatchObject({ gateways: [dead], users: 1_200 });

    const survivors = [new RedisPresence(client()), new RedisPresence(client())];
    // Two survivors ask in the same turn, 500 each (as the tracker does every second).
    const [a, b] = (await Promise.all(survivors.map((s) => s.dueLeaves(500)))).map((d) => d.leaves);
    expect(a).toHaveLength(500);
    expect(b).toHaveLength(500);
    const key = (d: { chatId: string; userId: string }) => `${d.chatId} ${d.userId}`;
    const claimed = new Set([...a!, ...b!].map(key));
    expect(claimed.size).toBe(1_000);
    const rest = await survivors[0]!.dueLeaves(500);
    expect(rest).toEqual({ claimed: 200, leaves: expect.any(Array) });
    expect(rest.leaves).toHaveLength(200);
    for (const d of rest.leaves) claimed.add(key(d));
    expect(claimed).toEqual(new Set(chats.map((chat, k) => `${chat} ${users[k]!.id}`)));
    for (const d of [...a!, ...b!, ...rest.leaves]) expect(d.count).toBe(0);
    expect(await redis.zcard("wsac:pr:pending")).toBe(0);
  });

  it("counts a claim's users who came back meanwhile as claimed, though no leave is owed for them, so the caller knows more are due", async () => {
    const { store, dead, chats, users } = await deadGatewayWith(600);
    const alive = `gw-alive-${randomUUID().slice(0, 8)}`;
    await redis.hset("wsac:pr:gateways", dead, Date.now() - LEASE_MS - GRACE_MS - 1_000);
    expect((await store.sweep()).users).toBe(600);
    // A tenth are back on a live gateway before their leave is claimed.
    await Promise.all(chats.filter((_, k) => k % 10 === 0).map((chat) => store.join(alive, chat, users[chats.indexOf(chat)]!)));
    const first = await store.dueLeaves(500);
    const second = await store.dueLeaves(500);
    expect(first.claimed).toBe(500);
    expect(first.leaves.length).toBeLessThan(500);
    expect(second.claimed).toBe(100);
    expect(first.leaves.length + second.leaves.length).toBe(540);
    expect(new Set([...first.leaves, ...second.leaves].map((d) => d.userId))).toEqual(new Set(users.filter((_, k) => k % 10 !== 0).map((u) => u.id)));
  });

  it("on one Redis claims and finishes due leaves in one script, and claims none not yet due", async () => {
    const { store, dead, chats, users } = await deadGatewayWith(300);
    // Last heard of a grace ago and 3 s more: its users' leaves fell due 3 s ago.
    await redis.hset("wsac:pr:gateways", dead, Date.now() - GRACE_MS - 3_000);
    expect((await store.sweep()).users).toBe(300);
    // Another dead gateway, last heard of just past its lease: its users' leaves fall due in about 5 s.
    const later = `gw-later-${randomUUID().slice(0, 8)}`;
    const laterChats = Array.from({ length: 50 }, () => randomUUID());
    await Promise.all(laterChats.map((chat) => store.join(later, chat, user())));
    await lapse(later);
    expect((await store.sweep()).users).toBe(50);
    // A tenth are back on a live gateway: claimed, but no leave is owed for them.
    await Promise.all(chats.filter((_, k) => k % 10 === 0).map((chat) => store.join(`gw-alive-${dead}`, chat, users[chats.indexOf(chat)]!)));
    const claimer = counting();
    // Connected first: a command sent while connecting goes through ioredis' offline queue, counted twice.
    await claimer.ping();
    const due = await new RedisPresence(claimer).dueLeaves(500);
    // One round trip: the claim and the finish of every claimed user in the same script.
    expect(claimer.scripts).toBe(1);
    expect(due.claimed).toBe(300);
    expect(due.leaves).toHaveLength(270);
    expect(new Set(due.leaves.map((d) => `${d.chatId} ${d.userId}`))).toEqual(new Set(chats.flatMap((chat, k) => (k % 10 === 0 ? [] : [`${chat} ${users[k]!.id}`]))));
    for (const d of due.leaves) expect(d.count).toBe(0);
    // The leaves are finished: their users gone from their chats' counts and names.
    expect(await redis.hexists(`wsac:pr:{${chats[1]}}:n`, users[1]!.id)).toBe(0);
    expect(await redis.hexists(`wsac:pr:{${chats[1]}}:u`, users[1]!.id)).toBe(0);
    // The ones back are counted where they are; the later gateway's 50 still wait for their grace.
    expect(await redis.hget(`wsac:pr:{${chats[0]}}:n`, users[0]!.id)).toBe("1");
    expect(await redis.zcard("wsac:pr:pending")).toBe(50);
  });
});
