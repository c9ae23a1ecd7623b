import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, fromAddress, listening, requestFrom, socketsPerGateway } from "../support/cluster";
import { clusterForFile } from "../support/cluster-file";
import type { TestDatabase } from "../support/database";
import { createClient } from "../../client";
import { storeMessage } from "../../shared/db/messages";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../support/http";
import { readMetric } from "../support/metrics";
import { connectRaw } from "../support/raw-socket";
import { ask, type ClientOptions, type ClientSocket, connected } from "../support/socket-client";
import { clockPasses, collect, disconnected, eventually, nextEvent, quiet } from "../support/waits";

// The cluster as operators run it: `npm run cluster` (pm2: api replicas, three gateways, nginx)
// against a real PostgreSQL and Redis, used only through nginx with stock Socket.IO clients.

const file = clusterForFile();
const { sockets } = file;
let cluster: Cluster;
let tdb: TestDatabase;
let nextAddress = 2;
beforeAll(() => {
  cluster = file.cluster;
  tdb = file.database;
});

afterEach(() => sockets.closeAll());

/** A socket through nginx from its own loopback address (nginx hashes on the client address). */
function socketFrom(address: string, options: ClientOptions = {}): ClientSocket {
  return sockets.socket(cluster.url, { agent: fromAddress(address), localAddress: address, ...options });
}

/** Connects sockets from fresh addresses until one lands on a gateway not in `avoid`; returns it and its gateway. */
async function placeSocket(options: ClientOptions, avoid: number[] = []): Promise<{ socket: ClientSocket; gateway: number }> {
  for (let tries = 0; tries < 40; tries++) {
    const address = `127.0.0.${nextAddress++}`;
    const before = await socketsPerGateway(cluster.metricsPorts.gateways);
    const socket = await connected(socketFrom(address, options));
    let gateway = -1;
    await eventually(async () => {
      const now = await socketsPerGateway(cluster.metricsPorts.gateways);
      gateway = now.findIndex((n, i) => n > before[i]!);
      return gateway >= 0;
    }, 5_000, "the socket to show up in a gateway's metrics");
    if (!avoid.includes(gateway)) return { socket, gateway };
    socket.disconnect();
    await eventually(async () => (await socketsPerGateway(cluster.metricsPorts.gateways))[gateway] === before[gateway], 5_000, "the extra socket to go");
  }
  throw new Error("could not place a socket on another gateway");
}

async function twoUsersInAChat(): Promise<{ a: LoggedIn; b: LoggedIn; chatId: string }> {
  const http = httpClient(cluster.url);
  const a = await registerAndLogin(http, "ca");
  const b = await registerAndLogin(http, "cb");
  return { a, b, chatId: await chatWith(a, [b]) };
}

describe("the cluster under pm2 behind nginx", () => {
  it("runs every process: nginx, api replicas in cluster mode, three gateways and a webhook worker", async () => {
    const procs = await cluster.processes();
    const names = procs.map((p) => p.name).sort();
    expect(names).toEqual(["api", "api", "gateway-1", "gateway-2", "gateway-3", "nginx", "worker"]);
    expect((await fetch(`http://127.0.0.1:${cluster.metricsPorts.worker}/readyz`)).status).toBe(200);
    expect(procs.every((p) => p.pm2_env.status === "online")).toBe(true);
    for (const port of [cluster.port, cluster.apiPort, ...cluster.gatewayPorts]) expect(await listening(port)).toBe(true);
    for (const port of cluster.gatewayPorts) expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    const ready = await httpClient(cluster.url).get("/readyz");
    expect(ready.body).toEqual({ status: "ready", checks: { database: "up", redis: "up" } });
    // Metrics are scraped from each process's own metrics listener, never served on the public origin
    // nor on a service's main port.
    for (const path of ["/metrics", "/metrics/", "/METRICS"]) expect((await fetch(`${cluster.url}${path}`)).status).toBe(404);
    for (const port of [cluster.apiPort, ...cluster.gatewayPorts]) expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    for (const port of [...cluster.metricsPorts.api, ...cluster.metricsPorts.gateways]) {
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain("process_cpu_seconds_total");
    }
  });

  it("registers and logs in through nginx, recording the real client address and not a forged one", async () => {
    const http = httpClient(cluster.url);
    const u = await registerAndLogin(http, "edge");
    const login = await requestFrom("127.0.0.77", `${cluster.url}/login`, "POST", { username: u.username, password: u.password }, { "x-forwarded-for": "203.0.113.9" });
    expect(login.status).toBe(200);
    const sessions = await u.http.get("/sessions");
    const s = sessions.body.sessions.find((x: { id: string }) => x.id === login.body?.session_id);
    expect(s.ip).toMatch(/127\.0\.0\.77$/);
    // Bodies over 16 KiB stop at nginx, as at the services.
    const big = await fetch(`${cluster.url}/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "x".repeat(20_000), password: "y" }) });
    expect(big.status).toBe(413);
  });

  it("serves the demo page, the client bundle and the documents through nginx", async () => {
    for (const [path, type] of [["/", "text/html"], ["/client.js", "javascript"], ["/demo.js", "javascript"], ["/docs", "text/html"], ["/openapi.json", "application/json"], ["/asyncapi.json", "application/json"]] as const) {
      const res = await fetch(cluster.url + path);
      expect([path, res.status, res.headers.get("content-type")?.includes(type)]).toEqual([path, 200, true]);
    }
  });

  it("carries sockets over WebSocket and over long-polling that upgrades, through nginx", async () => {
    const { a, b, chatId } = await twoUsersInAChat();
    const ws = await connected(socketFrom(`127.0.0.${nextAddress++}`, { token: a.token, chatId, transports: ["websocket"] }));
    expect(ws.io.engine.transport.name).toBe("websocket");
    const polling = socketFrom(`127.0.0.${nextAddress++}`, { token: b.token, chatId, transports: ["polling", "websocket"] });
    await connected(polling);
    await eventually(() => polling.io.engine.transport.name === "websocket", 10_000, "the upgrade to WebSocket");
    const pollOnly = await connected(socketFrom(`127.0.0.${nextAddress++}`, { token: b.token, chatId, transports: ["polling"] }));
    const received = nextEvent(pollOnly, "message:new");
    const ack = await ask(ws, "message:send", { chat_id: chatId, text: "through nginx" });
    expect(ack.ok).toBe(true);
    expect((await received).text).toBe("through nginx");
  });

  it("lets clients on different gateways chat in one room, in order", async () => {
    const { a, b, chatId } = await twoUsersInAChat();
    const first = await placeSocket({ token: a.token, chatId });
    const second = await placeSocket({ token: b.token, chatId }, [first.gateway]);
    expect(second.gateway).not.toBe(first.gateway);
    const seen = collect(second.socket, "message:new");
    for (let i = 0; i < 10; i++) expect((await ask(first.socket, "message:send", { chat_id: chatId, text: `m${i}` })).ok).toBe(true);
    await eventually(() => seen.length === 10, 5_000, "ten messages across gateways");
    expect(seen.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    const back = nextEvent(first.socket, "message:new");
    await ask(second.socket, "message:send", { chat_id: chatId, text: "reply" });
    expect((await back).text).toBe("reply");
  });

  it("cuts off a client that stops reading behind nginx too", async () => {
    const { a, b, chatId } = await twoUsersInAChat();
    const ids: string[] = [];
    for (let i = 0; i < 100; i += 1) ids.push((await storeMessage(tdb.db, { chatId, senderId: a.user.id, text: `${i} `.padEnd(4000, "z") })).message.id);
    const cutBefore = await Promise.all(cluster.metricsPorts.gateways.map((p) => readMetric(`http://127.0.0.1:${p}`, "gateway_slow_consumers_total")));
    const raw = await connectRaw(cluster.url, b.token, { localAddress: `127.0.0.${nextAddress++}` });
    raw.pause();
    const cutNow = async () => {
      const now = await Promise.all(cluster.metricsPorts.gateways.map((p) => readMetric(`http://127.0.0.1:${p}`, "gateway_slow_consumers_total")));
      return now.reduce((x, n) => x + n, 0) > cutBefore.reduce((x, n) => x + n, 0);
    };
    // 300 answers of about 256 KiB: far more than the kernel's socket buffers on both sides of
    // nginx hold (several MiB). nginx stops reading from the gateway once the client stops reading
    // from nginx, so what is left waits in the gateway, whose bound cuts the connection.
    for (let i = 0; i < 300; i += 1) raw.emit("chat:join", { chat_id: chatId, after: ids[0] });
    await eventually(cutNow, 15_000, "a gateway to cut the slow reader off");
    raw.resume();
    await raw.closed;
    expect(raw.isClosed).toBe(true);
  });

  it("ends a logged-out session's sockets on every gateway", async () => {
    const { a } = await twoUsersInAChat();
    const placed = [await placeSocket({ token: a.token })];
    placed.push(await placeSocket({ token: a.token }, [placed[0]!.gateway]));
    placed.push(await placeSocket({ token: a.token }, placed.map((p) => p.gateway)));
    expect(new Set(placed.map((p) => p.gateway)).size).toBe(3);
    const ended = placed.map((p) => nextEvent(p.socket, "session:ended"));
    const gone = placed.map((p) => disconnected(p.socket));
    expect((await a.http.post("/logout")).status).toBe(204);
    for (const e of await Promise.all(ended)) expect(e).toEqual({ reason: "revoked" });
    await Promise.all(gone);
    const refused = socketFrom(`127.0.0.${nextAddress++}`, { token: a.token });
    await expect(connected(refused)).rejects.toMatchObject({ message: "session_revoked" });
  });

  // Before the kill and reload tests: once a gateway is back, nginx hashes its addresses to it
  // again, which cuts a polling-only session opened on a neighbour meanwhile (see the README).
  it("never writes a token to nginx's access log", async () => {
    const { a, chatId } = await twoUsersInAChat();
    const viaQuery = await connected(socketFrom(`127.0.0.${nextAddress++}`, { query: { token: a.token, chat_id: chatId }, transports: ["polling"] }));
    await ask(viaQuery, "chat:join", { chat_id: chatId });
    await httpClient(cluster.url).get(`/me?access_token=${a.token}&x=1`);
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const file = join(cluster.env.CLUSTER_RUN_DIR!, "logs", "access.log");
    // nginx logs a request once it has finished it, which can be just after the client has the answer.
    await eventually(async () => readFileSync(file, "utf8").includes("GET /me?"), 5_000, "nginx to log GET /me");
    const log = readFileSync(file, "utf8");
    expect(log).toContain("/ws/?[masked]");
    expect(log).toContain("/me?[masked]");
    expect(log).not.toContain(a.token);
    expect(log).not.toContain(a.token.split(".")[2]!);
  });

  it("reconnects a client through nginx to a live gateway after kill -9 of its own, and pm2 brings that one back", async () => {
    const http = httpClient(cluster.url);
    const [a, b, c] = [await registerAndLogin(http, "ka"), await registerAndLogin(http, "kb"), await registerAndLogin(http, "kc")];
    const chatId = await chatWith(a, [b, c]);
    const watcher = await placeSocket({ token: b.token, chatId });
    const victim = await placeSocket({ token: a.token, chatId, reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1_000 }, [watcher.gateway]);
    // A user on the same gateway that does not come back: its presence:leave must still go out.
    await placeSocket({ token: c.token, chatId, reconnection: false }, [0, 1, 2].filter((g) => g !== victim.gateway));
    // Its join reached Redis (a user the gateway dies before announcing was never online: no leave is owed).
    await eventually(async () => (await a.http.get(`/chats/${chatId}/presence`)).body.users.some((u: { id: string }) => u.id === c.user.id), 5_000, "the stranded user online");
    const leaves = collect(watcher.socket, "presence:leave");
    const name = `gateway-${victim.gateway + 1}`;
    const before = (await cluster.processes()).find((p) => p.name === name)!;
    let reconnectedAt: number | undefined;
    victim.socket.io.once("reconnect", () => (reconnectedAt = Date.now()));
    const killedAt = Date.now();
    process.kill(before.pid, "SIGKILL");
    await eventually(() => reconnectedAt !== undefined, 15_000, "a reconnect within 15 s");
    process.stdout.write(`cluster: client reconnected ${reconnectedAt! - killedAt} ms after kill -9 of ${name}\n`);
    // It keeps chatting, and the room (from chat_id on the handshake) is back.
    const got = nextEvent(watcher.socket, "message:new");
    expect((await ask(victim.socket, "message:send", { chat_id: chatId, text: "still here" })).ok).toBe(true);
    expect((await got).text).toBe("still here");
    await eventually(async () => {
      const now = (await cluster.processes()).find((p) => p.name === name);
      return !!now && now.pid !== before.pid && now.pm2_env.status === "online" && now.pm2_env.restart_time > before.pm2_env.restart_time;
    }, 20_000, "pm2 to restart the killed gateway");
    await eventually(async () => (await fetch(`http://127.0.0.1:${cluster.gatewayPorts[victim.gateway]}/readyz`).then((r) => r.status, () => 0)) === 200, 20_000, "the restarted gateway to be ready");
    // Presence: the stranded user's leave within 15 s of the kill; none for the user back elsewhere.
    await eventually(() => leaves.some((l) => l.user_id === c.user.id), Math.max(1, killedAt + 15_000 - Date.now()), "the stranded user's presence:leave within 15 s of the kill");
    process.stdout.write(`cluster: presence:leave ${Date.now() - killedAt} ms after kill -9 of ${name} (seen by then)\n`);
    // The user back elsewhere was swept with the stranded one; a wrong leave for it goes out with (or a
    // held announcement after) the stranded user's, in the gateway processes.
    await clockPasses(1_000, "a window in which a wrong presence:leave for the user back elsewhere would have arrived");
    expect(leaves.filter((l) => l.user_id === a.user.id)).toEqual([]);
    // The operator's record: a gateway (a survivor, or the killed one back under pm2) logged its sweep of the dead one (its users, and how long it took).
    const { readFileSync, existsSync } = await import("node:fs");
    const { join } = await import("node:path");
    const sweeps = () =>
      [0, 1, 2]
        .map((g) => join(cluster.env.PM2_HOME!, "logs", `gateway-${g + 1}-out.log`))
        .flatMap((file) => (existsSync(file) ? readFileSync(file, "utf8").split("\n") : []))
        .filter((line) => line.includes("swept dead gateways"))
        .map((line) => JSON.parse(line) as { users: number; ms: number; gateways: string[] });
    await eventually(() => sweeps().length > 0, 5_000, "a gateway's log line for its sweep");
    // Its users who are gone only there count (here 0 or 1: a socket placed on another gateway first left the stranded user in its grace there).
    expect(sweeps().some((s) => s.gateways.some((id) => id.startsWith(`${name}:`)) && Number.isInteger(s.users) && s.ms >= 0)).toBe(true);
  }, 60_000);

  it("keeps the typed client chatting across kill -9 of its gateway: it reconnects elsewhere and misses no message nor change", async () => {
    const http = httpClient(cluster.url);
    const [owner, reader] = [await registerAndLogin(http, "to"), await registerAndLogin(http, "tr")];
    const chatId = await chatWith(owner, [reader]);
    const address = `127.0.0.${nextAddress++}`;
    // In Node, engine.io-client hands these to its WebSocket (its option types leave them out).
    const node: object = { agent: fromAddress(address), localAddress: address };
    const client = createClient({ url: cluster.url, socket: { transports: ["websocket"], reconnectionDelay: 200, reconnectionDelayMax: 1_000, ...node } });
    await client.login({ username: reader.username, password: reader.password });
    const before = await socketsPerGateway(cluster.metricsPorts.gateways);
    const socket = client.connect();
    const received: string[] = [];
    const statuses: string[] = [];
    const changes: string[] = [];
    socket.on("message", (m) => received.push(m.text));
    socket.on("status", (s) => statuses.push(s));
    socket.on("message:updated", (m) => changes.push(`updated ${m.id} ${m.text}`));
    socket.on("message:deleted", (d) => changes.push(`deleted ${d.message_id}`));
    socket.on("message:reactions", (r) => changes.push(`reactions ${r.message_id} ${r.reactions.map((x) => `${x.emoji}${x.count}`).join(",")}`));
    socket.on("message:read", (r) => changes.push(`read ${r.user_id === owner.user.id ? "owner" : r.user_id} ${r.message_id}`));
    try {
      await socket.join(chatId);
      let gateway = -1;
      await eventually(async () => {
        const now = await socketsPerGateway(cluster.metricsPorts.gateways);
        return (gateway = now.findIndex((n, i) => n > before[i]!)) >= 0;
      }, 5_000, "the client's socket on a gateway");
      const post = (text: string) => owner.http.post(`/chats/${chatId}/messages`, { text });
      const first = (await post("before")).body.message.id as string;
      const doomed = (await post("doomed")).body.message.id as string;
      await eventually(() => received.includes("doomed"), 5_000, "the first messages");
      const name = `gateway-${gateway + 1}`;
      const victim = (await cluster.processes()).find((p) => p.name === name)!;
      process.kill(victim.pid, "SIGKILL");
      await eventually(() => statuses.includes("reconnecting"), 10_000, "the client to notice the kill");
      // Sent while the client has no gateway: they reach it through the catch-up of its re-join.
      let last = "";
      for (let i = 0; i < 5; i++) {
        const res = await post(`while down ${i}`);
        expect(res.status).toBe(201);
        last = res.body.message.id as string;
      }
      // And an edit, a deletion, a reaction and a read position: its catch-up brings each once, in order.
      expect((await owner.http.request("PATCH", `/chats/${chatId}/messages/${first}`, { text: "before, edited" })).status).toBe(200);
      expect((await owner.http.delete(`/chats/${chatId}/messages/${doomed}`)).status).toBe(204);
      expect((await owner.http.post(`/chats/${chatId}/messages/${first}/reactions`, { emoji: "👍" })).status).toBe(200);
      expect((await owner.http.put(`/chats/${chatId}/read`, { message_id: last })).status).toBe(200);
      await eventually(() => statuses.at(-1) === "connected", 15_000, "the client back on a live gateway");
      await post("after");
      await eventually(() => received.includes("after"), 10_000, "the message after the reconnect");
      expect(received).toEqual(["before", "doomed", "while down 0", "while down 1", "while down 2", "while down 3", "while down 4", "after"]);
      expect(changes).toEqual([`updated ${first} before, edited`, `deleted ${doomed}`, `reactions ${first} 👍1`, `read owner ${last}`]);
      expect((await socket.send(chatId, "from the typed client")).text).toBe("from the typed client");
      await eventually(async () => {
        const now = (await cluster.processes()).find((p) => p.name === name);
        return !!now && now.pid !== victim.pid && now.pm2_env.status === "online";
      }, 20_000, "pm2 to restart the killed gateway");
      await eventually(async () => (await fetch(`http://127.0.0.1:${cluster.gatewayPorts[gateway]}/readyz`).then((r) => r.status, () => 0)) === 200, 20_000, "the restarted gateway to be ready");
    } finally {
      socket.close();
    }
  }, 60_000);

  it("loses no message across a pm2 reload of every gateway, and the clients reconnect", async () => {
    const { a, b, chatId } = await twoUsersInAChat();
    const opts = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1_000 };
    const sender = await placeSocket({ token: a.token, chatId, ...opts });
    const reader = await placeSocket({ token: b.token, chatId, ...opts }, [sender.gateway]);
    const total = 30;
    const acked: string[] = [];
    let drops = 0;
    sender.socket.on("disconnect", () => drops++);
    reader.socket.on("disconnect", () => drops++);
    // Presence as both clients see it (each misses what comes while it reconnects; together they see it
    // all), counted from once both users' own joins have gone out: announcements are held up to half
    // a second and then cross Redis, so on a busy machine they may arrive a second after the count
    // shows both users. Heard from the start, then the baseline is taken once 1.5 s passed without one.
    const presenceEvents: string[] = [];
    // What each client went through, with times, shown if the presence check fails.
    const started = Date.now();
    const timeline: string[] = [];
    /** Each client's longest time without a connection (ms): past presence's grace, its user really was away. */
    const away: Record<"a" | "b", { since: number | undefined; longest: number }> = { a: { since: undefined, longest: 0 }, b: { since: undefined, longest: 0 } };
    const mark = (who: string, what: string) => timeline.push(`+${Date.now() - started} ms ${who} ${what}`);
    for (const [who, s] of [["a", sender.socket], ["b", reader.socket]] as const) {
      s.on("presence:join", (e) => {
        presenceEvents.push(`join ${e.user.id}`);
        mark(who, `heard join of ${e.user.id === a.user.id ? "a" : "b"}`);
      });
      s.on("presence:leave", (e) => {
        presenceEvents.push(`leave ${e.user_id}`);
        mark(who, `heard leave of ${e.user_id === a.user.id ? "a" : "b"}`);
      });
      s.on("disconnect", (reason) => {
        mark(who, `disconnected (${reason})`);
        away[who].since ??= Date.now();
      });
      s.on("connect", () => {
        mark(who, "connected");
        const since = away[who].since;
        if (since !== undefined) away[who].longest = Math.max(away[who].longest, Date.now() - since);
        away[who].since = undefined;
      });
      s.on("connect_error", (err) => mark(who, `connect_error ${err.message}`));
    }
    await eventually(async () => (await a.http.get(`/chats/${chatId}/presence`)).body.count === 2, 5_000, "both users online");
    await quiet(() => presenceEvents.length, 1_500, 12_000, "the presence events of the start to have all come").catch((err: Error) => {
      throw new Error(`${err.message}\n${timeline.join("\n")}`);
    });
    const baseline = presenceEvents.length;
    mark("-", `baseline (${baseline} presence events before it)`);
    // The sender retries an unanswered send with the same client_id: at most once stored.
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        const deadline = Date.now() + 30_000;
        for (;;) {
          if (Date.now() > deadline) throw new Error(`message ${i} never acknowledged`);
          if (!sender.socket.connected) {
            await eventually(() => sender.socket.connected, Math.max(0, deadline - Date.now()), "the sender to reconnect").catch(() => undefined);
            continue;
          }
          const ack = await ask(sender.socket, "message:send", { chat_id: chatId, text: `r${i}`, client_id: `reload-${i}` }, 2_000).catch(() => undefined);
          if (ack?.ok) {
            acked.push(ack.message.id);
            break;
          }
          await clockPasses(100, "a pause before sending a refused message again, as an app's retry makes");
        }
        await clockPasses(50, "the pace of the stream across the reload: a message every 50 ms");
      }
    })();
    // The stream under way before the reload.
    await eventually(() => acked.length >= 3, 10_000, "the first messages acknowledged");
    mark("-", "pm2 reload");
    await cluster.pm2("reload", "/^gateway-/");
    mark("-", "pm2 reload done");
    await sending;
    expect(acked).toHaveLength(total);
    // The reload really happened under the clients: both were cut off and came back.
    expect(drops).toBeGreaterThanOrEqual(2);
    const stored = await a.http.get(`/chats/${chatId}/messages?limit=100`);
    const texts = stored.body.messages.map((m: { text: string }) => m.text).reverse();
    expect(texts).toEqual(Array.from({ length: total }, (_, i) => `r${i}`));
    await eventually(() => sender.socket.connected && reader.socket.connected, 15_000, "both clients to be reconnected");
    const got = nextEvent(reader.socket, "message:new");
    await ask(sender.socket, "message:send", { chat_id: chatId, text: "after reload" });
    expect((await got).text).toBe("after reload");
    const procs = await cluster.processes();
    expect(procs.filter((p) => p.name.startsWith("gateway-")).every((p) => p.pm2_env.status === "online")).toBe(true);
    // No presence flood: a user back within the grace (10 s) had no leave or join announced. The grace runs on the
    // clocks of the gateway processes pm2 runs: it really passes. A client that could not reconnect for longer
    // (nginx keeps a failed gateway out for 5 s, and a loaded machine restarts slowly) was away: its user gets
    // exactly a leave and then a join, heard by each socket, and nothing more.
    await clockPasses(11_000, "past the presence grace in the gateway processes: a leave for a user the reload cut off would have gone out");
    for (const [who, user] of [["a", a], ["b", b]] as const) {
      const heard = presenceEvents.slice(baseline).filter((e) => e.endsWith(user.user.id));
      const what = `${who}'s presence events (away at most ${away[who].longest} ms)\n${timeline.join("\n")}`;
      if (away[who].longest < 9_000) expect(heard, what).toEqual([]);
      else if (away[who].longest > 11_000) expect([...new Set(heard)], what).toEqual([`leave ${user.user.id}`, `join ${user.user.id}`]);
      // Within a second of the grace either is right.
      else expect(heard.every((e) => e === `leave ${user.user.id}` || e === `join ${user.user.id}`), what).toBe(true);
    }
  }, 120_000);

  it("npm run cluster:stop leaves no listening port and no process", async () => {
    const { execFileSync } = await import("node:child_process");
    const { readFileSync } = await import("node:fs");
    // This cluster's processes (another test file's cluster may run beside it): nginx and pm2 by
    // their command line, the api and gateways by the PM2_HOME in their environment.
    const ours = () =>
      execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" })
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => {
          const [pid, stat] = l.split(/\s+/);
          if (!pid || stat?.startsWith("Z")) return false;
          if (l.includes(cluster.runDir) || l.includes(cluster.env.PM2_HOME!)) return true;
          if (!/dist\/bin\/(api|gateway)\.js/.test(l)) return false;
          try {
            return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`PM2_HOME=${cluster.env.PM2_HOME}`);
          } catch {
            return false;
          }
        });
    expect(ours().filter((l) => /dist\/bin\/gateway\.js/.test(l)).length).toBeGreaterThan(0); // the check sees them while they run
    await cluster.stop();
    for (const port of [cluster.port, cluster.apiPort, ...cluster.gatewayPorts]) expect(await listening(port)).toBe(false);
    expect(ours()).toEqual([]);
  }, 60_000);
});
