import { Redis } from "ioredis";
import pino from "pino";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerKey } from "../../../api/server-api/server-keys";
import { startWebhookWorker, sweepOldRows, type WebhookWorker } from "../../../api/webhooks/worker";
import { sql } from "kysely";
import { RedisPresence } from "../../../shared/presence/redis-presence";
import { testConfig } from "../../support/config";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, type HttpClient, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { ask, type SocketClients } from "../../support/socket-client";
import { clockPasses, eventually } from "../../support/waits";
import { WebhookReceiver } from "../../support/webhook-receiver";

/**
 * How long the failing receiver answers 500: 4 s here; `WEBHOOK_TEST_OUTAGE=60` runs the full minute
 * (the retry window then grows to outlast it).
 */
const OUTAGE_MS = Number(process.env.WEBHOOK_TEST_OUTAGE ?? 4) * 1000;
/** Quick retries and a short retry window, so that retrying and dead-lettering happen within the test. */
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: "on",
  WEBHOOK_RETRY_MIN: "1s",
  WEBHOOK_RETRY_MAX: "1s",
  WEBHOOK_RETRY_WINDOW: `${Math.max(8, Math.ceil((2 * OUTAGE_MS) / 1000))}s`,
  WEBHOOK_TIMEOUT: "2s",
};

let cluster: InProcessCluster & { redis: { url: string } };
let gateways: GatewayFixture[];
let sockets: SocketClients;
let admin: HttpClient;
let worker: WebhookWorker;
let redis: Redis;
const registry = new Registry();

const api = () => http(cluster.api.url);

/** A receiver with an endpoint of its own (every type, or the listed ones). */
async function endpointFor(receiver: WebhookReceiver, events: string[] = []): Promise<string> {
  const made = await admin.post("/server/v1/webhooks", { url: receiver.url, events });
  expect(made.status).toBe(201);
  receiver.secret = made.body.secret;
  return made.body.endpoint.id as string;
}

/** The gateways read which webhook types are wanted every 5 s (shared/webhooks/interest.ts). */
const clockPassesForInterest = () => clockPasses(5_500, "the gateways' next look at the webhook endpoints");

beforeAll(async () => {
  cluster = await startInProcessCluster(3, ENV);
  ({ gateways, sockets } = cluster);
  admin = api().as((await createServerKey(cluster.database.db, "webhooks", ["publish", "moderate", "read"])).key);
  redis = new Redis(cluster.redis.url);
  worker = await startWebhookWorker({
    db: cluster.database.db,
    pool: cluster.database.pool,
    presence: new RedisPresence(redis),
    config: testConfig(ENV, "worker").webhooks,
    logger: pino({ level: "silent" }),
    registry,
  });
});

afterAll(async () => {
  await worker?.stop();
  redis?.disconnect();
  await cluster?.close();
});

describe("webhooks", () => {
  it("delivers every event type, signed as Standard Webhooks, message.created with the members who had no socket in the chat", async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      await endpointFor(receiver);
      const [alice, bob] = (await Promise.all(["wha", "whb"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
      const carol = await registerAndLogin(api(), "whc");
      const chatId = await chatWith(alice, [bob, carol]);
      const socket = await sockets.connect(gateways[1]!.url, { token: alice.token, chatId });
      await sockets.connect(gateways[2]!.url, { token: bob.token, chatId });
      await eventually(async () => (await admin.get(`/server/v1/chats/${chatId}/presence`)).body.count === 2, 5_000, "alice and bob online");
      const sent = await ask(socket, "message:send", { chat_id: chatId, text: "hello hooks" });
      expect(sent.ok).toBe(true);
      // The push list is read at the delivery's first attempt: carol is removed only after it, or she
      // would be no member to push to.
      await eventually(() => receiver.of("message.created").some((r) => (r.data.message as { text?: string } | null)?.text === "hello hooks"), 10_000, "message.created delivered");
      expect((await alice.http.delete(`/chats/${chatId}/members/${carol.user.id}`)).status).toBe(204);
      expect((await bob.http.post("/logout")).status).toBe(204);

      await eventually(() => ["user.registered", "invite.created", "member.added", "message.created", "member.removed", "session.revoked"].every((t) => receiver.of(t).length > 0), 10_000, "every event type");
      expect(receiver.received.every((r) => r.verified)).toBe(true);
      const created = receiver.of("message.created").find((r) => (r.data.message as { text?: string } | null)?.text === "hello hooks")!;
      expect(created.data).toMatchObject({ message: { chat_id: chatId, sender: { id: alice.user.id, username: alice.username } }, offline_member_ids: [carol.user.id] });
      expect(created.id).toMatch(/^evt_\d+$/);
      expect(receiver.of("member.removed")[0]!.data).toEqual({ chat_id: chatId, user_id: carol.user.id });
      expect(receiver.of("session.revoked").some((r) => (r.data.session_ids as string[]).includes(bob.sessionId))).toBe(true);
      expect(receiver.of("user.registered").map((r) => (r.data.user as { id: string }).id)).toEqual(expect.arrayContaining([alice.user.id, bob.user.id, carol.user.id]));
    } finally {
      await receiver.stop();
    }
  });

  it("keeps per-chat order through a receiver answering 500 for a while, then delivers everything once it recovers", { timeout: OUTAGE_MS + 40_000 }, async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const endpointId = await endpointFor(receiver, ["message.created"]);
      receiver.answer = 500;
      const outageEnds = Date.now() + OUTAGE_MS;
      const [dan, eve] = (await Promise.all(["whd", "whe"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
      const chatA = await chatWith(dan, [eve], "a");
      const chatB = await chatWith(eve, [dan], "b");
      const sa = await sockets.connect(gateways[0]!.url, { token: dan.token, chatId: chatA });
      const sb = await sockets.connect(gateways[1]!.url, { token: eve.token, chatId: chatB });
      for (let i = 0; i < 5; i += 1) {
        expect((await ask(sa, "message:send", { chat_id: chatA, text: `a${i}` })).ok).toBe(true);
        expect((await ask(sb, "message:send", { chat_id: chatB, text: `b${i}` })).ok).toBe(true);
      }
      await eventually(() => [...receiver.attempts.values()].reduce((a, b) => a + b, 0) >= 4, 10_000, "failed attempts");
      await clockPasses(outageEnds - Date.now(), "the rest of the receiver's outage");
      expect(receiver.received).toHaveLength(0);
      receiver.answer = 200;
      await eventually(() => receiver.of("message.created").length >= 10, 15_000, "all ten after recovery");
      const texts = (chat: string) => receiver.of("message.created").map((r) => r.data.message as { chat_id: string; text: string }).filter((m) => m.chat_id === chat).map((m) => m.text);
      expect(texts(chatA)).toEqual(["a0", "a1", "a2", "a3", "a4"]);
      expect(texts(chatB)).toEqual(["b0", "b1", "b2", "b3", "b4"]);
      const log = await admin.get(`/server/v1/webhooks/${endpointId}/deliveries?status=delivered&limit=20`);
      expect(log.body.deliveries).toHaveLength(10);
      expect(log.body.deliveries.some((d: { attempts: number }) => d.attempts > 1)).toBe(true);
    } finally {
      await receiver.stop();
    }
  });

  it("dead-letters after the retry window, and redelivers a dead letter with the same webhook-id", async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      const endpointId = await endpointFor(receiver, ["user.registered"]);
      receiver.answer = 302; // a redirect is not followed: it is a failure
      const frank = await registerAndLogin(api(), "whf");
      await eventually(async () => (await admin.get(`/server/v1/webhooks/${endpointId}/deliveries?status=dead`)).body.deliveries.length === 1, 20_000, "a dead letter");
      const [dead] = (await admin.get(`/server/v1/webhooks/${endpointId}/deliveries?status=dead`)).body.deliveries;
      expect(dead).toMatchObject({ type: "user.registered", status: "dead", last_status: 302 });
      expect(dead.attempts).toBeGreaterThan(1);
      receiver.answer = 200;
      const again = await admin.post(`/server/v1/webhooks/${endpointId}/deliveries/${dead.id}/redeliver`);
      expect(again.body.delivery).toMatchObject({ status: "pending", webhook_id: dead.webhook_id });
      await eventually(() => receiver.received.length === 1, 10_000, "the redelivery");
      expect(receiver.received[0]).toMatchObject({ id: dead.webhook_id, type: "user.registered", verified: true, data: { user: { id: frank.user.id } } });
      expect(receiver.attempts.get(dead.webhook_id)).toBe(dead.attempts + 1);
    } finally {
      await receiver.stop();
    }
  });

  it("does not let a receiver that never answers slow message:send or another endpoint", async () => {
    const hung = await new WebhookReceiver().start();
    const healthy = await new WebhookReceiver().start();
    try {
      hung.answer = "hang";
      await endpointFor(hung, ["message.created"]);
      await endpointFor(healthy, ["message.created"]);
      const [gus, hal] = (await Promise.all(["whg", "whh"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
      const chats = await Promise.all(Array.from({ length: 6 }, (_, i) => chatWith(gus, [hal], `c${i}`)));
      const socket = await sockets.connect(gateways[2]!.url, { token: gus.token });
      for (const chat of chats) expect((await ask(socket, "chat:join", { chat_id: chat })).ok).toBe(true);
      const acks = await Promise.all(chats.map((chat) => ask(socket, "message:send", { chat_id: chat, text: `to ${chat}` })));
      expect(acks.every((a) => a.ok)).toBe(true);
      // The healthy endpoint gets all six while the hung one holds at most its share of the worker.
      await eventually(() => healthy.of("message.created").length === 6, 10_000, "the healthy endpoint's deliveries");
      expect(hung.received).toHaveLength(0);
    } finally {
      await hung.stop();
      await healthy.stop();
    }
  });

  it("tells user.online once for a user's first socket anywhere, nothing for a reconnect within the grace, and user.offline a grace after the last", async () => {
    const receiver = await new WebhookReceiver().start();
    try {
      await endpointFor(receiver, ["user.online", "user.offline"]);
      const ida = await registerAndLogin(api(), "whi");
      // The gateways look for endpoints wanting user presence every 5 s.
      await clockPassesForInterest();
      const first = await sockets.connect(gateways[0]!.url, { token: ida.token });
      const second = await sockets.connect(gateways[1]!.url, { token: ida.token });
      await eventually(() => receiver.of("user.online").length === 1, 10_000, "user.online");
      expect(receiver.of("user.online")[0]!.data).toEqual({ user_id: ida.user.id });
      // A reconnect within the grace (to another gateway) is no leave and no join.
      first.disconnect();
      await sockets.connect(gateways[2]!.url, { token: ida.token });
      second.disconnect();
      const marker = await registerAndLogin(api(), "whj");
      const other = await sockets.connect(gateways[0]!.url, { token: marker.token });
      await eventually(() => receiver.of("user.online").some((r) => r.data.user_id === marker.user.id), 10_000, "the marker's user.online");
      expect(receiver.of("user.online").filter((r) => r.data.user_id === ida.user.id)).toHaveLength(1);
      expect(receiver.of("user.offline")).toHaveLength(0);
      other.disconnect();
      await eventually(() => receiver.of("user.offline").some((r) => r.data.user_id === marker.user.id), 20_000, "user.offline a grace after the last socket");
      expect(receiver.of("user.offline").filter((r) => r.data.user_id === ida.user.id)).toHaveLength(0);
      expect(receiver.received.every((r) => r.verified)).toBe(true);
    } finally {
      await receiver.stop();
    }
  }, 45_000);

  it("delivers to WEBHOOK_URL's endpoint, with two workers sharing the work and no event delivered twice; metrics count it", async () => {
    const receiver = await new WebhookReceiver().start();
    receiver.secret = `whsec_${Buffer.alloc(32, 3).toString("base64")}`;
    const second = await startWebhookWorker({
      db: cluster.database.db,
      pool: cluster.database.pool,
      presence: new RedisPresence(redis),
      config: testConfig({ ...ENV, WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: receiver.secret }, "worker").webhooks,
      logger: pino({ level: "silent" }),
      registry: new Registry(),
    });
    try {
      const listed = (await admin.get("/server/v1/webhooks")).body.endpoints as { url: string; source: string; events: string[] }[];
      expect(listed.find((e) => e.url === receiver.url)).toMatchObject({ source: "env", events: [] });
      const users = await Promise.all(Array.from({ length: 20 }, (_, i) => registerAndLogin(api(), `env${i}`)));
      await eventually(() => users.every((u) => receiver.of("user.registered").some((r) => (r.data.user as { id: string }).id === u.user.id)), 15_000, "every user.registered");
      const ids = receiver.received.map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(receiver.received.every((r) => r.verified)).toBe(true);
      const metrics = await registry.getMetricsAsJSON();
      const attempts = metrics.find((m) => m.name === "webhook_attempts_total")!.values;
      expect(attempts.find((v) => v.labels.outcome === "delivered")!.value).toBeGreaterThan(0);
      expect(metrics.map((m) => m.name)).toEqual(expect.arrayContaining(["webhook_retrying", "webhook_oldest_pending_seconds", "webhook_attempt_seconds"]));
    } finally {
      await second.stop();
      await receiver.stop();
    }
  });

  it("refuses a wrong body, an unknown endpoint, and (without the setting) an internal URL", async () => {
    expect((await admin.post("/server/v1/webhooks", { url: "ftp://example.com/x" })).body).toMatchObject({ status: 400, code: "invalid_body" });
    expect((await admin.post("/server/v1/webhooks", { url: "https://example.com/x", events: ["no.such"] })).body).toMatchObject({ status: 400, code: "invalid_body" });
    expect((await admin.get("/server/v1/webhooks/6f1c0c5e-0000-4000-8000-000000000000/deliveries")).body).toMatchObject({ status: 404 });
    expect((await admin.post("/server/v1/webhooks/6f1c0c5e-0000-4000-8000-000000000000/deliveries/1/redeliver")).body).toMatchObject({ status: 404 });
    expect((await admin.delete("/server/v1/webhooks/6f1c0c5e-0000-4000-8000-000000000000")).body).toMatchObject({ status: 404 });
    const listed = await admin.get("/server/v1/webhooks");
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain("whsec_");
  });
});

describe("old rows", () => {
  it("are cleared: idempotency keys past 24 h, finished events past 7 days; pending deliveries and recent dead letters stay", async () => {
    const db = cluster.database.db;
    const [owner] = (await Promise.all(["swp"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn];
    const chatId = await chatWith(owner, []);
    await admin.post(`/server/v1/chats/${chatId}/messages`, { text: "old", idempotency_key: "old-key" });
    await admin.post(`/server/v1/chats/${chatId}/messages`, { text: "new", idempotency_key: "new-key" });
    await sql`update server_idempotency set created_at = now() - interval '25 hours' where key = 'old-key'`.execute(db);
    const endpoint = (await sql<{ id: string }>`insert into webhook_endpoints (url, secret, disabled_at) values ('https://example.com/x', 'whsec_x', now()) returning id`.execute(db)).rows[0]!.id;
    // Old events made by hand, with the fan-out trigger off (the file's other endpoints would get deliveries).
    const event = (state: string) =>
      db.transaction().execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx);
        return sql<{ id: string }>`
          with ev as (insert into webhook_events (type, order_key, data, created_at) values ('user.registered', 'k', '{}', now() - interval '8 days') returning id)
          insert into webhook_deliveries (endpoint_id, event_id, order_key, status, finished_at)
          select ${endpoint}::uuid, ev.id, 'k', ${state}, case when ${state} = 'pending' then null else now() - interval '8 days' end from ev
          returning event_id::text as id`.execute(trx);
      });
    const delivered = (await event("delivered")).rows[0]!.id;
    const pending = (await event("pending")).rows[0]!.id;
    const dead = (await event("dead")).rows[0]!.id;
    const swept = await sweepOldRows(db);
    expect(swept.idempotency).toBeGreaterThanOrEqual(1);
    const keys = (await sql<{ key: string }>`select key from server_idempotency`.execute(db)).rows.map((r) => r.key);
    expect(keys).toContain("new-key");
    expect(keys).not.toContain("old-key");
    const left = (await sql<{ id: string }>`select id::text from webhook_events where id in (${delivered}::bigint, ${pending}::bigint, ${dead}::bigint)`.execute(db)).rows.map((r) => r.id);
    expect(left.sort()).toEqual([pending, dead].sort());
    await sql`delete from webhook_endpoints where id = ${endpoint}::uuid`.execute(db);
  });
});
