import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, fromAddress, startCluster } from "../support/cluster";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { chatWith, httpClient, registerAndLogin } from "../support/http";
import { type RedisCluster, startRedisCluster } from "../support/redis-cluster";
import { ask, type ClientOptions, SocketClients } from "../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../support/waits";

// `npm run cluster` with REDIS_CLUSTER_NODES: pm2 (api replicas, three gateways, nginx) on a Redis
// Cluster of the test's own, used only through nginx with stock Socket.IO clients.

let tdb: TestDatabase;
let redisCluster: RedisCluster;
let cluster: Cluster;
const sockets = new SocketClients();
let nextAddress = 2;

beforeAll(async () => {
  [tdb, redisCluster] = await Promise.all([createTestDatabase({ migrate: false }), startRedisCluster()]);
  cluster = await startCluster({ databaseUrl: tdb.url, redisClusterNodes: redisCluster.seeds });
}, 180_000);

afterAll(async () => {
  sockets.closeAll();
  await cluster?.stop();
  await redisCluster?.stop();
  await tdb?.drop();
}, 60_000);

/** A socket through nginx from its own loopback address (nginx hashes on it, so these spread over the gateways). */
const connectFrom = (options: ClientOptions) => {
  const address = `127.0.0.${nextAddress++}`;
  return sockets.connect(cluster.url, { agent: fromAddress(address), localAddress: address, ...options });
};

describe("the cluster under pm2 behind nginx, on a Redis Cluster", () => {
  it("is ready with its Redis Cluster", async () => {
    expect((await httpClient(cluster.url).get("/readyz")).body).toEqual({ status: "ready", checks: { database: "up", redis: "up" } });
    for (const port of cluster.gatewayPorts) expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });

  it("chats across gateways and ends a logged-out session's sockets everywhere", async () => {
    const http = httpClient(cluster.url);
    const a = await registerAndLogin(http, "rca");
    const b = await registerAndLogin(http, "rcb");
    const chatId = await chatWith(a, [b]);
    const senders = await Promise.all(Array.from({ length: 3 }, () => connectFrom({ token: a.token, chatId })));
    const receivers = await Promise.all(Array.from({ length: 3 }, () => connectFrom({ token: b.token, chatId })));
    const seen = receivers.map((r) => collect(r, "message:new"));
    for (let i = 0; i < 5; i += 1) expect((await ask(senders[i % 3]!, "message:send", { chat_id: chatId, text: `m${i}` })).ok).toBe(true);
    await eventually(() => seen.every((s) => s.length === 5), 10_000, "five messages on every receiver");
    for (const s of seen) expect(s.map((m) => m.text)).toEqual(["m0", "m1", "m2", "m3", "m4"]);

    const ended = receivers.map((r) => nextEvent(r, "session:ended"));
    const gone = receivers.map((r) => disconnected(r));
    expect((await b.http.post("/logout")).status).toBe(204);
    expect(await Promise.all(ended)).toEqual(receivers.map(() => ({ reason: "revoked" })));
    expect(await Promise.all(gone)).toEqual(receivers.map(() => "io server disconnect"));
  });
});
