import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storeMessage } from "../../shared/db/messages";
import { type ApiFixture, type GatewayFixture, type InProcessCluster, startApi, startGateway, startInProcessCluster } from "../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, newCredentials, registerAndLogin } from "../support/http";
import { loginOutcomes, readMetric } from "../support/metrics";
import { connectRaw } from "../support/raw-socket";
import { ask, type SocketClients, untyped } from "../support/socket-client";
import { disconnected, eventually, nextEvent } from "../support/waits";

/**
 * What one hostile but ordinary, logged-in client (or one burst of them) can cost: a socket that
 * floods and stops reading, event floods, parallel password guesses, and races on membership.
 * An api and two gateways on a Redis of their own; the api trusts X-Forwarded-For from loopback,
 * so each test can speak from an address of its own.
 */
let cluster: Awaited<ReturnType<typeof startInProcessCluster>>;
let api: ApiFixture;
let gw1: GatewayFixture;
let sockets: SocketClients;

beforeAll(async () => {
  cluster = await startInProcessCluster(2, { TRUST_PROXY: "loopback" });
  ({ api, sockets } = cluster);
  gw1 = cluster.gateways[0]!;
});

afterAll(async () => {
  await cluster?.close();
});

const from = (address: string) => ({ "x-forwarded-for": address });
const login = (username: string, password: string, address: string) => http(api.url).post("/login", { username, password }, from(address));
const statuses = (results: { status: number }[]) => results.map((r) => r.status).sort((a, b) => a - b);
const count = (xs: number[], x: number) => xs.filter((v) => v === x).length;
const outcomes = () => loginOutcomes(api.url);

/** `n` registered accounts (credentials), one after another. */
async function accounts(n: number, prefix: string) {
  const made = [];
  for (let i = 0; i < n; i += 1) {
    const creds = newCredentials(prefix);
    expect((await http(api.url).post("/register", creds)).status).toBe(201);
    made.push(creds);
  }
  return made;
}

describe("a client that stops reading", () => {
  it("is cut off once more than 1 MiB waits to be sent to it, while the others go on", async () => {
    const owner = await registerAndLogin(http(api.url), "owner");
    const [attacker, watcher] = await Promise.all([registerAndLogin(http(api.url), "slow"), registerAndLogin(http(api.url), "watch")]);
    const chatId = await chatWith(owner, [attacker, watcher], "long history");
    const ids: string[] = [];
    for (let i = 0; i < 100; i += 1) {
      ids.push((await storeMessage(cluster.database.db, { chatId, senderId: owner.user.id, text: `${i} `.padEnd(4000, "x") })).message.id);
    }
    // With the default event budget two catch-ups run at once, far less than the kernel's socket
    // buffers hold; a budget large enough to ask for more shows the send-buffer bound itself.
    const roomy = await startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: "roomy", limits: { eventBurst: 4_000 } });
    try {
      const watching = await sockets.connect(roomy.url, { token: watcher.token, chatId });
      const socketsBefore = roomy.gateway.stats().sockets;

      const raw = await connectRaw(roomy.url, attacker.token);
      raw.pause();
      // 300 answers of about 256 KiB each: what the kernel does not hold waits in the gateway until the bound cuts it.
      for (let i = 0; i < 300; i += 1) raw.emit("chat:join", { chat_id: chatId, after: ids[0] });
      await eventually(async () => (await readMetric(roomy.url, "gateway_slow_consumers_total")) === 1, 10_000, "the slow consumer to be cut off");
      await eventually(() => roomy.gateway.stats().sockets === socketsBefore, 5_000, "the gateway to drop the socket");
      expect(await readMetric(roomy.url, "gateway_event_floods_total")).toBe(0);
      raw.resume();
      await raw.closed;

      // The well-behaved member in the same room is still served.
      const seen = nextEvent(watching, "message:new");
      const sent = await ask(watching, "message:send", { chat_id: chatId, text: "still here" });
      expect(sent.ok).toBe(true);
      expect((await seen).text).toBe("still here");
    } finally {
      await roomy.close();
    }
  });

  it("is not cut off for what it reads, however much that adds up to", async () => {
    const owner = await registerAndLogin(http(api.url), "reader");
    const chatId = await chatWith(owner, [], "read it all");
    const ids: string[] = [];
    for (let i = 0; i < 100; i += 1) {
      ids.push((await storeMessage(cluster.database.db, { chatId, senderId: owner.user.id, text: `${i} `.padEnd(4000, "r") })).message.id);
    }
    // A bound of 512 KiB; ten catch-ups of about 256 KiB each (the answer cap), one after the other, read as they come: 2.5 MiB in all.
    const bounded = await startGateway({ database: cluster.database, redisUrl: cluster.redis.url, id: "bounded", limits: { eventBurst: 4_000 }, env: { SOCKET_MAX_BUFFERED_BYTES: String(512 * 1024) } });
    try {
      const reader = await sockets.connect(bounded.url, { token: owner.token });
      for (let i = 0; i < 10; i += 1) {
        const res = await ask(reader, "chat:join", { chat_id: chatId, after: ids[0] });
        expect(res.ok && res.missed.length).toBeGreaterThan(50);
      }
      expect(reader.connected).toBe(true);
      expect(await readMetric(bounded.url, "gateway_slow_consumers_total")).toBe(0);
    } finally {
      await bounded.close();
    }
  });

  it("gets two catch-ups at a time under the default budget, the rest rate_limited", async () => {
    const owner = await registerAndLogin(http(api.url), "co");
    const chatId = await chatWith(owner, [], "catch-ups");
    const first = (await storeMessage(cluster.database.db, { chatId, senderId: owner.user.id, text: "first" })).message.id;
    await storeMessage(cluster.database.db, { chatId, senderId: owner.user.id, text: "second" });
    const socket = await sockets.connect(gw1.url, { token: owner.token });
    const answers = await Promise.all(Array.from({ length: 5 }, () => ask(socket, "chat:join", { chat_id: chatId, after: first })));
    expect(answers.map((a) => (a.ok ? "ok" : a.error.code))).toEqual(["ok", "ok", "rate_limited", "rate_limited", "rate_limited"]);
    // One row each: what they held goes back, so more catch-ups fit at once afterwards.
    const again = await Promise.all(Array.from({ length: 2 }, () => ask(socket, "chat:join", { chat_id: chatId, after: first })));
    expect(again.every((a) => a.ok)).toBe(true);
  });
});

describe("event floods", () => {
  let owner: LoggedIn;
  let chatId: string;
  beforeAll(async () => {
    owner = await registerAndLogin(http(api.url), "flooder");
    chatId = await chatWith(owner, [], "flooded");
  });

  // The default budget: 30 events at once, then 10 per second.
  const kinds: [string, (token: string) => unknown][] = [
    ["chat:join", () => ({ chat_id: chatId })],
    ["chat:leave", () => ({ chat_id: chatId })],
    ["message:send", () => ({ chat_id: chatId, text: "flood" })],
    ["auth:refresh", (token) => ({ token })],
    ["no:such-event", () => ({})],
  ];
  for (const [event, payload] of kinds) {
    it(`answers rate_limited past the socket's budget: ${event}`, async () => {
      const socket = await sockets.connect(gw1.url, { token: owner.token, chatId });
      const answers = (await Promise.all(
        Array.from({ length: 40 }, () => untyped(socket).timeout(5_000).emitWithAck(event, payload(owner.token))),
      )) as { ok: boolean; error?: { code: string } }[];
      const limited = answers.filter((a) => !a.ok && a.error?.code === "rate_limited");
      expect(limited).toHaveLength(10);
      expect(socket.connected).toBe(true);
      socket.disconnect();
    });
  }

  it("disconnects a socket that keeps sending after rate_limited answers", async () => {
    const floodsBefore = await readMetric(gw1.url, "gateway_event_floods_total");
    const socket = await sockets.connect(gw1.url, { token: owner.token });
    const gone = disconnected(socket);
    for (let i = 0; i < 300; i += 1) untyped(socket).emit("no:such-event", { chat_id: chatId }, () => undefined);
    expect(await gone).toBe("transport close");
    expect(await readMetric(gw1.url, "gateway_event_floods_total")).toBe(floodsBefore + 1);

    // One that does not read either: its TCP connection is dropped at once, not after a closing handshake.
    const raw = await connectRaw(gw1.url, owner.token);
    raw.pause();
    for (let i = 0; i < 300; i += 1) raw.emit("no:such-event", {});
    await eventually(async () => (await readMetric(gw1.url, "gateway_event_floods_total")) === floodsBefore + 2, 5_000, "the second flood to be cut");
    raw.resume();
    await raw.closed;
  });

  it("limits posting per user over HTTP and sockets together, on every gateway", async () => {
    const env = { MESSAGE_LIMIT_PER_USER: "12", MESSAGE_LIMIT_WINDOW: "60s" };
    const tightApi = await startApi({ database: cluster.database, redisUrl: cluster.redis.url, env });
    const [a, b] = await Promise.all([
      startGateway({ database: cluster.database, redisUrl: cluster.redis.url, env, id: "tight-a" }),
      startGateway({ database: cluster.database, redisUrl: cluster.redis.url, env, id: "tight-b" }),
    ]);
    try {
      const poster = await registerAndLogin(http(tightApi.url), "poster");
      const room = await chatWith(poster, [], "busy");
      const viaHttp = [];
      for (let i = 0; i < 5; i += 1) viaHttp.push((await poster.http.post(`/chats/${room}/messages`, { text: `http ${i}` })).status);
      expect(viaHttp).toEqual([201, 201, 201, 201, 201]);
      const onA = await sockets.connect(a.url, { token: poster.token, chatId: room });
      const onB = await sockets.connect(b.url, { token: poster.token, chatId: room });
      const codes = [];
      for (const [socket, n] of [[onA, 5], [onB, 5]] as const) {
        for (let i = 0; i < n; i += 1) {
          const res = await ask(socket, "message:send", { chat_id: room, text: `socket ${i}` });
          codes.push(res.ok ? "ok" : res.error.code);
        }
      }
      expect(codes).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "rate_limited", "rate_limited", "rate_limited"]);
      const refused = await poster.http.post(`/chats/${room}/messages`, { text: "one more" });
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe("rate_limited");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      onA.disconnect();
      onB.disconnect();
    } finally {
      await Promise.all([a.close(), b.close(), tightApi.close()]);
    }
  });
});

describe("a parallel login burst", () => {
  it("checks no more wrong passwords for one account than the limit, by username and email alike", async () => {
    const creds = newCredentials("target");
    expect((await http(api.url).post("/register", creds)).status).toBe(201);
    const before = await outcomes();
    const burst = await Promise.all(
      Array.from({ length: 60 }, (_, i) => login(i % 2 ? creds.username : creds.email.toUpperCase(), "Wrong-password-1!", "10.1.0.1")),
    );
    const codes = statuses(burst);
    // The address's 50 failures pass its limit (the rest 429); of those, the account's 5 are checked,
    // and the other 45 are answered as wrong passwords without a check (the lock looks like nothing).
    expect(count(codes, 401)).toBe(50);
    expect(count(codes, 429)).toBe(10);
    expect(burst.find((r) => r.status === 429)!.headers.get("retry-after")).toMatch(/^[1-9]\d*$/);
    const after = await outcomes();
    expect(after.wrong - before.wrong).toBe(5);
    expect(after.locked - before.locked).toBe(45);
    // A stranger's right password is now refused too, as a wrong one, whichever name is typed.
    expect((await login(creds.email, creds.password, "10.1.0.2")).body.code).toBe("invalid_credentials");
    expect((await login(creds.username, creds.password, "10.1.0.3")).body.code).toBe("invalid_credentials");
  });

  it("limits an unknown name alike", async () => {
    const before = await outcomes();
    const codes = statuses(await Promise.all(Array.from({ length: 60 }, () => login("nobody_by_this_name", "Wrong-password-1!", "10.1.1.1"))));
    // One typed name: its 30 attempts per window pass (the rest 429), 5 of them are checked.
    expect(count(codes, 401)).toBe(30);
    expect(count(codes, 429)).toBe(30);
    const after = await outcomes();
    expect(after.wrong - before.wrong).toBe(5);
    expect(after.locked - before.locked).toBe(25);
  });

  it("holds the per-address limit under concurrency", async () => {
    const codes = statuses(await Promise.all(Array.from({ length: 60 }, (_, i) => login(`unknown_${i}`, "Wrong-password-1!", "10.1.2.1"))));
    expect(count(codes, 401)).toBe(50);
    expect(count(codes, 429)).toBe(10);
  });

  it("answers 60 parallel logins to different accounts with 200 or 401, no 5xx", async () => {
    const users = await accounts(60, "many");
    const codes = statuses(await Promise.all(users.map((u, i) => login(u.username, i % 2 ? u.password : "Wrong-password-1!", `10.1.3.${i + 1}`))));
    expect(count(codes, 200)).toBe(30);
    expect(count(codes, 401)).toBe(30);
  });

  it("counts logins in flight against their address: 60 at once from one address get 200, 401 or 429, no 5xx", async () => {
    const users = await accounts(60, "nat");
    const results = await Promise.all(users.map((u, i) => login(u.username, i % 2 ? u.password : "Wrong-password-1!", "10.1.3.200")));
    // A point of the address's 50 is taken before each check and given back after a right password:
    // while many are in flight, some get 429; none gets a 5xx, none a wrong answer.
    results.forEach((r, i) => expect([i % 2 ? 200 : 401, 429]).toContain(r.status));
  });

  it("sheds what does not fit in the argon2 queue with 503 and Retry-After at once, without counting it", async () => {
    // One costly verification at a time (about half a second here) and two waiting: of twelve
    // logins arriving together, three are checked and nine are refused at once.
    const env = { TRUST_PROXY: "loopback", ARGON2_CONCURRENCY: "1", ARGON2_QUEUE: "2", ARGON2_TIME_COST: "20" };
    const tight = await startApi({ database: cluster.database, redisUrl: cluster.redis.url, env });
    try {
      const users = [];
      for (let i = 0; i < 12; i += 1) {
        const creds = newCredentials("shed");
        expect((await http(tight.url).post("/register", creds)).status).toBe(201);
        users.push(creds);
      }
      const burst = await Promise.all(users.map((u, i) => http(tight.url).post("/login", { username: u.username, password: "Wrong-password-1!" }, from(`10.1.4.${i + 1}`))));
      const codes = statuses(burst);
      expect(count(codes, 401)).toBe(3);
      expect(count(codes, 503)).toBe(9);
      const shed = burst.find((r) => r.status === 503)!;
      expect(shed.body.code).toBe("unavailable");
      expect(Number(shed.headers.get("retry-after"))).toBeGreaterThan(0);
      // A refused call counted nothing: each of those accounts still has all five tries.
      const refusedUser = users[burst.findIndex((r) => r.status === 503)]!;
      for (let i = 0; i < 4; i += 1) {
        expect((await http(tight.url).post("/login", { username: refusedUser.username, password: "Wrong-password-1!" }, from("10.1.4.100"))).status).toBe(401);
      }
      expect((await http(tight.url).post("/login", { username: refusedUser.username, password: refusedUser.password }, from("10.1.4.100"))).status).toBe(200);
    } finally {
      await tight.close();
    }
  });
});

describe("membership races", () => {
  it("cancels the invites a member sent when it is removed: the stale invite cannot be accepted", async () => {
    const [owner, member, friend] = await Promise.all(["own", "mem", "fri"].map((p) => registerAndLogin(http(api.url), p)));
    const chatId = await chatWith(owner!, [member!], "stale");
    const invited = await member!.http.post(`/chats/${chatId}/invites`, { username: friend!.username });
    expect(invited.status).toBe(201);
    expect((await owner!.http.get(`/chats/${chatId}/invites`)).body.invites.map((i: { id: string }) => i.id)).toEqual([invited.body.invite.id]);
    expect((await owner!.http.delete(`/chats/${chatId}/members/${member!.user.id}`)).status).toBe(204);

    const accept = await friend!.http.post(`/invites/${invited.body.invite.id}/accept`);
    expect(accept.status).toBe(404);
    expect(accept.body.code).toBe("not_found");
    expect((await friend!.http.get(`/chats/${chatId}/messages`)).status).toBe(404);
    expect((await friend!.http.get("/invites")).body.invites).toEqual([]);
    expect((await owner!.http.get(`/chats/${chatId}/invites`)).body.invites).toEqual([]);
  });

  it("never leaves a chat without an owner when the owner and the next in line leave at once", async () => {
    for (let round = 0; round < 8; round += 1) {
      const [a, b, c] = await Promise.all(["ow", "nx", "th"].map((p) => registerAndLogin(http(api.url), p)));
      const chatId = await chatWith(a!, [b!, c!], `race ${round}`);
      const left = await Promise.all([a!.http.delete(`/chats/${chatId}/members/${a!.user.id}`), b!.http.delete(`/chats/${chatId}/members/${b!.user.id}`)]);
      expect(left.map((r) => r.status)).toEqual([204, 204]);
      const detail = await c!.http.get(`/chats/${chatId}`);
      expect(detail.body.members).toEqual([expect.objectContaining({ user_id: c!.user.id, role: "owner" })]);
    }
  });

  it("deletes the chat with its invites and messages when the last members leave at once", async () => {
    const [a, b, outsider] = await Promise.all(["la", "lb", "lo"].map((p) => registerAndLogin(http(api.url), p)));
    const chatId = await chatWith(a!, [b!], "last");
    await a!.http.post(`/chats/${chatId}/messages`, { text: "bye" });
    await b!.http.post(`/chats/${chatId}/invites`, { username: outsider!.username });
    const left = await Promise.all([a!.http.delete(`/chats/${chatId}/members/${a!.user.id}`), b!.http.delete(`/chats/${chatId}/members/${b!.user.id}`)]);
    expect(left.map((r) => r.status)).toEqual([204, 204]);
    const db = cluster.database.db;
    expect(await db.selectFrom("chats").select("id").where("id", "=", chatId).execute()).toEqual([]);
    expect(await db.selectFrom("messages").select("id").where("chat_id", "=", chatId).execute()).toEqual([]);
    expect(await db.selectFrom("invites").select("id").where("chat_id", "=", chatId).execute()).toEqual([]);
    expect((await outsider!.http.get("/invites")).body.invites).toEqual([]);
  });
});
