import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createServerKey, revokeServerKey } from "../../api/server-api/server-keys";
import type { Cluster } from "../support/cluster";
import { clusterForFile } from "../support/cluster-file";
import { chatWith, type HttpClient, httpClient, type LoggedIn, registerAndLogin } from "../support/http";
import { ask, type ClientSocket } from "../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../support/waits";
import { WebhookReceiver } from "../support/webhook-receiver";

// The server API and webhooks on the cluster as operators run it (pm2: 2 api replicas behind one
// port, 3 gateways, a webhook worker; nginx in front), on a PostgreSQL and a redis-server of its own.

const file = clusterForFile({ env: { WEBHOOK_ALLOW_PRIVATE: "on", WEBHOOK_RETRY_MIN: "1s", WEBHOOK_RETRY_MAX: "2s" } });
const { sockets } = file;
let cluster: Cluster;
let admin: HttpClient;
beforeAll(async () => {
  cluster = file.cluster;
  admin = httpClient(cluster.url, (await createServerKey(file.database.db, "cluster-test", ["publish", "moderate", "read"])).key);
});
afterEach(() => sockets.closeAll());

const api = () => httpClient(cluster.url);
/** One socket of the user on each gateway (each gateway's own port: which gateway is then certain). */
const onEveryGateway = (token: string, chatId?: string): Promise<ClientSocket[]> =>
  Promise.all(cluster.gatewayPorts.map((port) => sockets.connect(`http://127.0.0.1:${port}`, { token, ...(chatId ? { chatId } : {}) })));

describe("the server API on the cluster", () => {
  it("disconnects a user's sockets on all three gateways within a second", async () => {
    const user = await registerAndLogin(api(), "cdis");
    const open = await onEveryGateway(user.token);
    const ended = open.map((s) => Promise.all([nextEvent(s, "session:ended"), disconnected(s)]));
    const started = Date.now();
    expect((await admin.post(`/server/v1/users/${user.user.id}/disconnect`)).status).toBe(204);
    for (const e of ended) expect((await e)[0]).toEqual({ reason: "revoked" });
    const took = Date.now() - started;
    console.log(`cluster: server API disconnect ended 3 sockets on 3 gateways in ${took} ms`);
    expect(took).toBeLessThan(1_000);
  });

  it("refuses the next handshake of a banned user through nginx, on every gateway", async () => {
    const user = await registerAndLogin(api(), "cban");
    const open = await onEveryGateway(user.token);
    const ended = open.map((s) => nextEvent(s, "session:ended"));
    expect((await admin.put(`/server/v1/users/${user.user.id}/ban`, { reason: "test" })).body.user.banned).toBe(true);
    await Promise.all(ended);
    expect(await sockets.refusal(cluster.url, { token: user.token })).toEqual({ message: "account_banned", data: { code: "account_banned", status: 403 } });
    for (const port of cluster.gatewayPorts) expect((await sockets.refusal(`http://127.0.0.1:${port}`, { token: user.token })).message).toBe("account_banned");
    expect((await api().post("/login", { username: user.username, password: user.password })).body.code).toBe("account_banned");
  });

  it("delivers a published message to every member's socket once, however often it is retried across the api replicas", async () => {
    const [a, b] = (await Promise.all(["cpa", "cpb"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
    const chatId = await chatWith(a, [b]);
    const receivers = [...(await onEveryGateway(a.token, chatId)), ...(await onEveryGateway(b.token, chatId))];
    const seen = receivers.map((s) => collect(s, "message:new"));
    const body = { text: "published once", idempotency_key: "cluster-1" };
    const answers = await Promise.all(Array.from({ length: 8 }, () => admin.post(`/server/v1/chats/${chatId}/messages`, body)));
    const ids = new Set(answers.map((r) => r.body.message.id as string));
    expect(ids.size).toBe(1);
    expect(answers.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);
    const [id] = [...ids];
    const marker = await admin.post(`/server/v1/chats/${chatId}/messages`, { text: "marker" });
    await eventually(() => seen.every((s) => s.some((m) => m.id === marker.body.message.id)), 5_000, "the marker on every socket");
    for (const s of seen) expect(s.filter((m) => m.id === id)).toHaveLength(1);
  });

  it("refuses a revoked key at once on every api replica", async () => {
    const made = await createServerKey(file.database.db, "to-revoke", ["read"]);
    const keyed = httpClient(cluster.url, made.key);
    // pm2 spreads the connections over both replicas.
    expect((await Promise.all(Array.from({ length: 10 }, () => keyed.get("/server/v1/stats")))).every((r) => r.status === 200)).toBe(true);
    expect(await revokeServerKey(file.database.db, made.id)).toBe(true);
    const after = await Promise.all(Array.from({ length: 20 }, () => keyed.get("/server/v1/stats")));
    expect(after.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 401));
  });
});

describe("webhooks on the cluster", () => {
  it("loses nothing when the worker is killed with -9 in the middle of deliveries: every event arrives, duplicates keep their webhook-id, per-chat order holds", async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      receiver.delayMs = 400; // deliveries are in flight when the worker dies
      const worker = JSON.parse(await cluster.pm2("jlist")).find((p: { name: string }) => p.name === "worker") as { pid: number; pm2_env: { restart_time: number } };
      const made = await admin.post("/server/v1/webhooks", { url: receiver.url, events: ["message.created"] });
      receiver.secret = made.body.secret;
      const [a, b] = (await Promise.all(["cka", "ckb"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
      const chats = await Promise.all(Array.from({ length: 4 }, (_, i) => chatWith(a, [b], `k${i}`)));
      const socket = await sockets.connect(`http://127.0.0.1:${cluster.gatewayPorts[0]}`, { token: a.token });
      for (const chat of chats) expect((await ask(socket, "chat:join", { chat_id: chat })).ok).toBe(true);
      const sent: { chat: string; text: string }[] = [];
      for (let i = 0; i < 10; i += 1) {
        for (const chat of chats) {
          const text = `m${i}`;
          expect((await ask(socket, "message:send", { chat_id: chat, text })).ok).toBe(true);
          sent.push({ chat, text });
        }
      }
      await eventually(() => receiver.received.length >= 4, 10_000, "the first deliveries");
      process.kill(worker.pid, "SIGKILL");
      const atKill = receiver.received.length;
      expect(atKill).toBeLessThan(sent.length);
      await eventually(() => new Set(receiver.received.map((r) => r.id)).size === sent.length, 60_000, "every event after the restart");
      const restarted = JSON.parse(await cluster.pm2("jlist")).find((p: { name: string }) => p.name === "worker") as { pid: number; pm2_env: { restart_time: number } };
      expect(restarted.pid).not.toBe(worker.pid);
      console.log(`cluster: worker killed after ${atKill} of ${sent.length} deliveries; all ${sent.length} arrived (${receiver.received.length} receipts)`);
      // A duplicate is the same event: same webhook-id, same body.
      const byId = new Map<string, string>();
      for (const r of receiver.received) {
        const text = JSON.stringify(r.data);
        expect(byId.get(r.id) ?? text).toBe(text);
        byId.set(r.id, text);
      }
      expect(receiver.received.every((r) => r.verified)).toBe(true);
      for (const chat of chats) {
        const firsts = [...new Map(receiver.received.map((r) => [r.id, r.data.message as { chat_id: string; text: string }])).values()].filter((m) => m.chat_id === chat).map((m) => m.text);
        expect(firsts).toEqual(sent.filter((s) => s.chat === chat).map((s) => s.text));
      }
    } finally {
      await receiver.stop();
    }
  }, 90_000);
});
