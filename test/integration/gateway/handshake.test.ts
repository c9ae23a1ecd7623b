import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHmac, generateKeyPairSync } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { es256SigningKey } from "../../../shared/auth/keys";
import { TokenSigner } from "../../../shared/auth/tokens";
import { TEST_PRIVATE_KEY, TEST_PUBLIC_KEY, testSigner } from "../../support/config";
import { databaseAt, holdTableLock } from "../../support/database";
import { type SingleNode, startGateway, startSingleNode } from "../../support/fixtures";
import { chatWith, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { freePort } from "../../support/redis-server";
import { ask, connected, type SocketClients } from "../../support/socket-client";
import { readMetric } from "../../support/metrics";
import { connectRaw } from "../../support/raw-socket";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy";
import { disconnected, eventually, nextEvent } from "../../support/waits";

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
  alice = await registerAndLogin(http(url), "alice");
  bob = await registerAndLogin(http(url), "bob");
  chatId = await chatWith(alice, [bob]);
});

afterAll(async () => {
  await node?.close();
});

/** A full garbage collection (V8's gc(), exposed for this test), then a turn for weak references to clear. */
async function collectGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  await new Promise((resolve) => setTimeout(resolve, 10));
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("gateway handshake", () => {
  it("accepts the token from auth.token, the Authorization header or the token query parameter", async () => {
    const viaAuth = await sockets.connect(url, { token: alice.token });
    const viaHeader = await sockets.connect(url, { extraHeaders: { authorization: `Bearer ${alice.token}` } });
    const viaQuery = await sockets.connect(url, { query: { token: alice.token, chat_id: chatId } });
    for (const socket of [viaAuth, viaHeader, viaQuery]) expect(socket.connected).toBe(true);
    // The query carrier also joined the chat from chat_id: it hears a message at once.
    const heard = nextEvent(viaQuery, "message:new");
    await alice.http.post(`/chats/${chatId}/messages`, { text: "via query" });
    expect((await heard).text).toBe("via query");
  });

  it("takes auth.token first, then the header, then the query", async () => {
    const authFirst = await sockets.refusal(url, { auth: { token: "not-a-jwt" }, extraHeaders: { authorization: `Bearer ${alice.token}` } });
    expect(authFirst.data).toEqual({ code: "invalid_token", status: 401 });
    const headerSecond = await sockets.refusal(url, { extraHeaders: { authorization: "Bearer not-a-jwt" }, query: { token: alice.token } });
    expect(headerSecond.data).toEqual({ code: "invalid_token", status: 401 });
  });

  it("works over WebSocket only and over long-polling upgrading to WebSocket", async () => {
    const ws = await sockets.connect(url, { token: alice.token, transports: ["websocket"] });
    const polling = sockets.socket(url, { token: bob.token, transports: ["polling", "websocket"] });
    let opened = "";
    polling.io.once("open", () => {
      opened = polling.io.engine.transport.name;
    });
    await connected(polling);
    expect(opened).toBe("polling");
    await eventually(() => polling.io.engine.transport.name === "websocket", 5_000, "the upgrade to websocket");
    for (const socket of [ws, polling]) expect((await ask(socket, "chat:join", { chat_id: chatId })).ok).toBe(true);
    const heard = nextEvent(polling, "message:new");
    const sent = await ask(ws, "message:send", { chat_id: chatId, text: "over both transports" });
    expect(sent.ok).toBe(true);
    expect((await heard).text).toBe("over both transports");
  });

  it("keeps long-polling working when the upgrade is not offered", async () => {
    const polling = await sockets.connect(url, { token: bob.token, transports: ["polling"], upgrade: false });
    expect((await ask(polling, "chat:join", { chat_id: chatId })).ok).toBe(true);
    const heard = nextEvent(polling, "message:new");
    await alice.http.post(`/chats/${chatId}/messages`, { text: "polled" });
    expect((await heard).text).toBe("polled");
  });

  it("refuses a browser Origin that is neither this host nor listed in CORS_ORIGINS", async () => {
    const foreign = await sockets.refusal(url, { token: alice.token, extraHeaders: { origin: "http://evil.example" } });
    expect(foreign.data).toBeUndefined(); // refused at the transport, before any Socket.IO handshake
    const polled = await sockets.refusal(url, { token: alice.token, transports: ["polling"], extraHeaders: { origin: "http://evil.example" } });
    expect(polled.data).toBeUndefined();
    // Same host on another port (nginx forwards Host without the port), and no Origin at all (apps).
    await sockets.connect(url, { token: alice.token, extraHeaders: { origin: "http://127.0.0.1:1" } });
    await sockets.connect(url, { token: alice.token });
  });

  it("puts a connected socket in its chat's room, and in no room per user or session", async () => {
    const socket = await sockets.connect(url, { token: alice.token, chatId });
    expect((await node.gateway.io.in(`chat:${chatId}`).fetchSockets()).map((s) => s.id)).toContain(socket.id);
    // Users and sessions are the gateway's local maps (with the sharded adapter a room costs a Redis subscription).
    for (const room of [`user:${alice.user.id}`, `session:${alice.sessionId}`]) expect(await node.gateway.io.in(room).fetchSockets()).toEqual([]);
  });

  it("lets go of the upgrade's HTTP request and its middleware response once connected; a connect again on that transport is refused as unavailable", async () => {
    const texts: string[] = [];
    let request: WeakRef<object> | undefined;
    let response: WeakRef<object> | undefined;
    const seeRequest = (conn: { request: object }) => void (request = new WeakRef(conn.request));
    node.gateway.io.engine.once("connection", seeRequest);
    // A middleware after the gateway's: the upgrade's response (engine.io's WebSocketResponse).
    let watching = true;
    node.gateway.io.engine.use((_req: unknown, res: object, next: () => void) => {
      if (watching) response = new WeakRef(res);
      watching = false;
      next();
    });
    const raw = await connectRaw(url, alice.token, { auth: { chat_id: chatId }, onText: (t) => void texts.push(t) });
    try {
      const sid = raw.open.sid as string;
      const server = [...node.gateway.io.of("/").sockets.values()].find((s) => (s.conn as unknown as { id: string }).id === sid);
      expect(server?.data.userId).toBe(alice.user.id);
      // Collected while the connection lives (gateway/transport/release-request.ts); what the handshake recorded stays.
      expect(request).toBeDefined();
      await eventually(async () => (await collectGarbage(), request!.deref() === undefined), 5_000, "the upgrade's request collected");
      expect(response).toBeDefined();
      await eventually(async () => (await collectGarbage(), response!.deref() === undefined), 5_000, "the upgrade's response collected");
      expect(server!.handshake.headers.host).toBeDefined();
      // Socket.IO closes a transport that connects twice; one that disconnected first (41) and connects
      // again (40) reaches the handshake, which has no request to read any more: a clear refusal.
      raw.sendText("41");
      raw.sendText(`40${JSON.stringify({ token: alice.token })}`);
      await eventually(() => texts.some((t) => t.startsWith("44")), 5_000, "the second connect's answer");
      expect(JSON.parse(texts.find((t) => t.startsWith("44"))!.slice(2))).toMatchObject({ message: "unavailable", data: { code: "unavailable", status: 503 } });
    } finally {
      raw.destroy();
    }
    // A new transport is welcome.
    expect((await sockets.connect(url, { token: alice.token, chatId })).connected).toBe(true);
  });

  it("keeps no token or cookie in a connected socket's handshake, whichever way the token came", async () => {
    const viaAuth = await sockets.connect(url, { auth: { token: alice.token, chat_id: chatId } });
    const viaHeader = await sockets.connect(url, { extraHeaders: { authorization: `Bearer ${alice.token}`, cookie: "app_session=secret-cookie" } });
    const viaQuery = await sockets.connect(url, { query: { token: alice.token, chat_id: chatId } });
    for (const client of [viaAuth, viaHeader, viaQuery]) {
      const server = node.gateway.io.of("/").sockets.get(client.id!);
      expect(server?.data.userId).toBe(alice.user.id);
      const { handshake } = server!;
      expect(JSON.stringify(handshake)).not.toContain(alice.token);
      expect(JSON.stringify(handshake)).not.toContain("secret-cookie");
      // What identifies the connection stays for whoever inspects it; the upgrade's own headers go.
      expect(handshake.headers.host).toBeDefined();
      expect(handshake.url).toBe("/ws/");
      for (const name of ["upgrade", "connection", "sec-websocket-key", "sec-websocket-version"]) expect(handshake.headers[name]).toBeUndefined();
    }
    expect(node.gateway.io.of("/").sockets.get(viaAuth.id!)!.handshake.auth).toEqual({ chat_id: chatId });
    expect(node.gateway.io.of("/").sockets.get(viaQuery.id!)!.handshake.query).toMatchObject({ chat_id: chatId, EIO: "4" });
  });

  it("refuses a handshake without a token as missing_token", async () => {
    expect(await sockets.refusal(url)).toEqual({ message: "missing_token", data: { code: "missing_token", status: 401 } });
    expect((await sockets.refusal(url, { auth: { token: "" }, query: { token: "" } })).data?.code).toBe("missing_token");
  });

  it("refuses malformed, foreign-key, unsigned and algorithm-confused tokens as invalid_token", async () => {
    const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const foreign = new TokenSigner(es256SigningKey(otherKey), 900).sign(alice.user.id, alice.sessionId, new Date(Date.now() + 3_600_000));
    const [, payload] = alice.token.split(".");
    const kid = es256SigningKey(TEST_PRIVATE_KEY).kid;
    const unsigned = `${b64({ alg: "none", typ: "JWT", kid })}.${payload}.`;
    const hs512 = `${b64({ alg: "HS512", typ: "JWT", kid })}.${payload}.${"A".repeat(86)}`;
    // The classic confusion: HS256 keyed with the public key's PEM (which anyone can fetch), naming the ES256 key.
    const confusedInput = `${b64({ alg: "HS256", typ: "JWT", kid })}.${payload}`;
    const confused = `${confusedInput}.${createHmac("sha256", TEST_PUBLIC_KEY).update(confusedInput).digest("base64url")}`;
    const noKid = `${b64({ alg: "ES256", typ: "JWT" })}.${payload}.${alice.token.split(".")[2]}`;
    for (const token of ["garbage", foreign.token, unsigned, hs512, confused, noKid, alice.token.slice(0, -3) + "abc"]) {
      expect(await sockets.refusal(url, { token })).toEqual({ message: "invalid_token", data: { code: "invalid_token", status: 401 } });
    }
  });

  it("refuses an expired access token as token_expired", async () => {
    const expired = testSigner(900).sign(alice.user.id, alice.sessionId, new Date(Date.now() - 5_000));
    expect(await sockets.refusal(url, { token: expired.token })).toEqual({ message: "token_expired", data: { code: "token_expired", status: 401 } });
  });

  it("refuses the token of a session revoked a moment ago as session_revoked", async () => {
    const carol = await registerAndLogin(http(url), "carol");
    await sockets.connect(url, { token: carol.token });
    expect((await carol.http.post("/logout")).status).toBe(204);
    expect(await sockets.refusal(url, { token: carol.token })).toEqual({ message: "session_revoked", data: { code: "session_revoked", status: 401 } });
  });

  it("refuses a chat_id that is not a UUID as invalid_chat_id, in the query or in auth", async () => {
    expect(await sockets.refusal(url, { token: alice.token, chatId: "not-a-uuid" })).toEqual({
      message: "invalid_chat_id",
      data: { code: "invalid_chat_id", status: 400 },
    });
    expect((await sockets.refusal(url, { auth: { token: alice.token, chat_id: 42 } })).data?.code).toBe("invalid_chat_id");
  });

  it("refuses a chat the user is not a member of as chat_forbidden", async () => {
    const dave = await registerAndLogin(http(url), "dave");
    expect(await sockets.refusal(url, { token: dave.token, chatId })).toEqual({ message: "chat_forbidden", data: { code: "chat_forbidden", status: 403 } });
    expect((await sockets.refusal(url, { token: dave.token, chatId: crypto.randomUUID() })).data?.code).toBe("chat_forbidden");
  });

  it("refuses handshakes over the per-address limit as rate_limited", async () => {
    const tight = await startGateway({ database, bus, limits: { handshakesPerIpPerMinute: 2 } });
    try {
      await sockets.connect(tight.url, { token: alice.token });
      await sockets.connect(tight.url, { token: alice.token });
      expect(await sockets.refusal(tight.url, { token: alice.token })).toEqual({ message: "rate_limited", data: { code: "rate_limited", status: 429 } });
    } finally {
      await tight.close();
    }
  });

  it("refuses handshakes past HANDSHAKE_MAX_PENDING as unavailable at once, and takes them again once there is room", async () => {
    const tight = await startGateway({ database, bus, limits: { handshakesPending: 2 } });
    // The session read waits on this lock: two handshakes are being worked on and stay so.
    const lock = await holdTableLock(database.url, "sessions", "access exclusive");
    let released = false;
    try {
      const waiting = [sockets.connect(tight.url, { token: alice.token }), sockets.connect(tight.url, { token: bob.token })];
      await eventually(async () => (await database.pool.query("select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")).rowCount! >= 1, 5_000, "the two handshakes' session read waiting on the lock");
      // A third is refused while they wait, without waiting itself.
      expect(await sockets.refusal(tight.url, { token: alice.token })).toEqual({ message: "unavailable", data: { code: "unavailable", status: 503 } });
      await lock.release();
      released = true;
      for (const socket of await Promise.all(waiting)) expect(socket.connected).toBe(true);
      // Room again: the next is taken on.
      expect((await sockets.connect(tight.url, { token: alice.token })).connected).toBe(true);
    } finally {
      if (!released) await lock.release();
      await tight.close();
    }
  });

  it("refuses new transports while its event loop lags past HANDSHAKE_MAX_LAG_MS, keeps its connected sockets, and takes new ones once caught up", async () => {
    // The gateways run in this process: a busy loop here holds their event loops (no timer, no I/O).
    const lagFor = (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        // Busy.
      }
    };
    // The default bound is a quarter of the pong's 20 s time-out: a lag of 1.5 s refuses nobody.
    lagFor(1_500);
    const taken = await sockets.connect(url, { token: bob.token });
    expect(taken.connected).toBe(true);
    taken.disconnect();

    const strict = await startGateway({ database, bus, limits: { handshakesMaxLagMs: 1_000 } });
    try {
      const held = await sockets.connect(strict.url, { token: alice.token, chatId });
      // None yet is no line yet (-1).
      const lagging = async () => Math.max(0, await readMetric(strict.url, "gateway_handshakes_total", { result: "lagging" }));
      const refusedBefore = await lagging();
      lagFor(1_500);
      // Refused before Socket.IO (a transport error, which stock clients retry after their back-off).
      expect(await sockets.refusal(strict.url, { token: bob.token })).toEqual({ message: "websocket error", data: undefined });
      expect(await lagging()).toBe(refusedBefore + 1);
      expect(held.connected).toBe(true);
      // Caught up (a second later): new transports are taken again.
      const tryConnect = () => sockets.connect(strict.url, { token: bob.token }).then((s) => s.connected, () => false);
      await eventually(tryConnect, 5_000, "a new transport taken again");
      expect(held.connected).toBe(true);
    } finally {
      await strict.close();
    }
  });

  it("refuses handshakes as unavailable when PostgreSQL cannot be reached", async () => {
    const closedPort = await freePort();
    const db = databaseAt(`postgres://postgres@127.0.0.1:${closedPort}/nowhere`);
    const broken = await startGateway({ database: db, bus });
    try {
      expect(await sockets.refusal(broken.url, { token: alice.token })).toEqual({ message: "unavailable", data: { code: "unavailable", status: 503 } });
      const ready = await fetch(`${broken.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ code: "unavailable", checks: { database: "down" } });
    } finally {
      await broken.close();
      await db.drop();
    }
  });

  it("keeps connected sockets through a PostgreSQL outage and recovers by itself", async () => {
    const pgUrl = new URL(database.url);
    let proxy: TcpProxy | undefined;
    proxy = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    const db = databaseAt(viaProxy.toString());
    const flaky = await startGateway({ database: db, bus });
    try {
      const socket = await sockets.connect(flaky.url, { token: alice.token, chatId });
      const other = await sockets.connect(flaky.url, { token: bob.token, chatId });
      await proxy.cut();
      expect(await sockets.refusal(flaky.url, { token: bob.token })).toEqual({ message: "unavailable", data: { code: "unavailable", status: 503 } });
      expect(socket.connected).toBe(true);
      const send = await ask(socket, "message:send", { chat_id: chatId, text: "while the database is away" });
      expect(send).toEqual({ ok: false, error: { code: "unavailable", message: expect.any(String) } });
      // Events that need no database still go between the connected sockets.
      const heard = nextEvent(socket, "typing");
      expect(await ask(other, "chat:typing", { chat_id: chatId })).toEqual({ ok: true });
      expect((await heard).user.id).toBe(bob.user.id);

      await proxy.restore();
      await eventually(async () => {
        const s = sockets.socket(flaky.url, { token: bob.token });
        try {
          await connected(s);
          return true;
        } catch {
          return false;
        } finally {
          s.disconnect();
        }
      }, 10_000, "handshakes to succeed again");
      expect((await ask(socket, "message:send", { chat_id: chatId, text: "database is back" })).ok).toBe(true);
    } finally {
      await flaky.close();
      await db.drop();
      await proxy.close();
    }
  });

  it("serves /healthz, /readyz and /metrics with the gateway's figures, on the node's one port and on a gateway's own", async () => {
    const own = await startGateway({ database, bus });
    try {
      await sockets.refusal(own.url); // a missing_token of its own (the node has had several above)
      for (const base of [url, own.url]) {
        expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok" });
        const ready = await fetch(`${base}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toMatchObject({ status: "ready", checks: { database: "up" } });
        await sockets.connect(base, { token: alice.token });
        const metrics = await (await fetch(`${base}/metrics`)).text();
        expect(metrics).toMatch(/^gateway_connected_sockets\{[^}]*\} [1-9]/m);
        expect(metrics).toMatch(/^gateway_handshakes_total\{[^}]*result="ok"[^}]*\} [1-9]/m);
        expect(metrics).toMatch(/^gateway_handshakes_total\{[^}]*result="missing_token"[^}]*\} [1-9]/m);
      }
    } finally {
      await own.close();
    }
  });

  it("on close drops its sockets without a disconnect packet, so clients reconnect elsewhere", async () => {
    const leaving = await startGateway({ database, bus });
    const socket = await sockets.connect(leaving.url, { token: alice.token, reconnection: true, reconnectionDelay: 50 });
    const reason = disconnected(socket);
    await leaving.close();
    expect(await reason).toBe("transport close");
    expect(socket.active).toBe(true); // socket.io-client keeps trying: a balancer sends it to another gateway
    expect((await sockets.refusal(leaving.url, { token: alice.token })).message).toMatch(/websocket error|timeout/);
    socket.disconnect();
  });
});
