import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, type GatewayFixture, recordingLogger, startApi, startGateway } from "../../support/fixtures";
import { httpClient, registerAndLogin } from "../../support/http";
import { type RedisServer, startRedisServer } from "../../support/redis-server";
import { SocketClients } from "../../support/socket-client";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy";
import { disconnected, eventually, nextEvent } from "../../support/waits";

let tdb: TestDatabase;
let redis: RedisServer;
let proxy: TcpProxy;
let api: ApiFixture;
let gateway: GatewayFixture;
const sockets = new SocketClients();
const apiLog = recordingLogger();

beforeAll(async () => {
  tdb = await createTestDatabase();
  redis = await startRedisServer();
  // Only the api reaches Redis through this relay, so its link can drop while the gateway's stays up.
  proxy = await startTcpProxy({ host: "127.0.0.1", port: redis.port });
  api = await startApi({ database: tdb, redisUrl: `redis://127.0.0.1:${proxy.port}`, logger: apiLog.logger });
  gateway = await startGateway({ database: tdb, redisUrl: redis.url });
});
afterAll(async () => {
  sockets.closeAll();
  await gateway?.close();
  await api?.close();
  await proxy?.close();
  await redis?.stop();
  await tdb?.drop();
});

describe("the control bus", () => {
  it("holds a revocation the api could not publish and delivers it when the api's Redis link is back", async () => {
    const u = await registerAndLogin(httpClient(api.url), "outbox");
    await eventually(async () => (await httpClient(api.url).get("/readyz")).status === 200, 10_000, "the api's Redis link");
    const socket = await sockets.connect(gateway.url, { token: u.token });
    const ended = nextEvent(socket, "session:ended", 20_000);
    await proxy.cut();
    // The revocation commits in PostgreSQL: refused at once at every handshake…
    expect((await u.http.post("/logout")).status).toBe(204);
    await expect(sockets.connect(gateway.url, { token: u.token })).rejects.toMatchObject({ message: "session_revoked" });
    // …but the open socket, on a gateway whose own link never dropped, only hears of it once the api can publish:
    // the api holds the event meanwhile.
    await eventually(() => apiLog.logged("control event held until Redis is back"), 5_000, "the api to hold the revocation");
    expect(socket.connected).toBe(true);
    await proxy.restore();
    expect(await ended).toEqual({ reason: "revoked" });
    expect(apiLog.logged("publishing control events held during the Redis outage")).toBe(true);
    await disconnected(socket);
  }, 30_000);
});
