import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerKey } from "../../../api/server-api/server-keys";
import { type InProcessCluster, startOnRedisCluster } from "../../support/fixtures";
import { chatWith, type HttpClient, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { type RedisCluster, startRedisCluster } from "../../support/redis-cluster";
import { collect, eventually, nextEvent } from "../../support/waits";

/** The server API with the api and three gateways on a Redis Cluster (sharded rooms, replies in the cluster). */
let redisCluster: RedisCluster;
let cluster: InProcessCluster;
let admin: HttpClient;

beforeAll(async () => {
  redisCluster = await startRedisCluster();
  cluster = await startOnRedisCluster(redisCluster, 3);
  admin = httpClient(cluster.api.url, (await createServerKey(cluster.database.db, "on-cluster", ["publish", "moderate", "read"])).key);
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  await redisCluster?.stop();
});

describe("the server API on a Redis Cluster", () => {
  it("publishes messages and app events to sockets on every gateway, and every gateway answers presence and stats", async () => {
    const [a, b] = (await Promise.all(["rca", "rcb"].map((p) => registerAndLogin(httpClient(cluster.api.url), p)))) as [LoggedIn, LoggedIn];
    const chatId = await chatWith(a, [b]);
    const open = await Promise.all(cluster.gateways.map((g, i) => cluster.sockets.connect(g.url, { token: (i % 2 ? b : a).token, chatId })));
    const seen = open.map((s) => collect(s, "message:new"));
    const events = open.map((s) => nextEvent(s, "app:event"));
    const posted = await admin.post(`/server/v1/chats/${chatId}/messages`, { text: "sharded", idempotency_key: "rc-1" });
    expect(posted.status).toBe(201);
    await eventually(() => seen.every((s) => s.some((m) => m.id === posted.body.message.id)), 5_000, "the message on every gateway");
    expect((await admin.post(`/server/v1/chats/${chatId}/events`, { event: "tick", data: [1, 2] })).status).toBe(204);
    for (const e of events) expect(await e).toEqual({ chat_id: chatId, event: "tick", data: [1, 2] });

    const presence = await admin.get(`/server/v1/users/${a.user.id}/presence`);
    expect(presence.body).toMatchObject({ online: true, sockets: 2, chats: [chatId], gateways_answered: 3 });
    const stats = await admin.get("/server/v1/stats");
    expect(stats.body.gateways.map((g: { id: string }) => g.id).sort()).toEqual(["gw1", "gw2", "gw3"]);
    expect(stats.body.connections).toBeGreaterThanOrEqual(3);
  });
});
