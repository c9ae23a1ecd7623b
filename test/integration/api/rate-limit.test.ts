import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { httpClient, newCredentials } from "../../support/http";
import { type RedisServer, startRedisServer } from "../../support/redis-server";
import { eventually } from "../../support/waits";

let tdb: TestDatabase;
let redis: RedisServer;
let a: ApiFixture;
let b: ApiFixture;

const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT: "4", LOGIN_MAX_FAILURES_PER_IP: "6" };

beforeAll(async () => {
  tdb = await createTestDatabase();
  redis = await startRedisServer();
  a = await startApi({ database: tdb, redisUrl: redis.url, env });
  b = await startApi({ database: tdb, redisUrl: redis.url, env });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await redis?.stop();
  await tdb?.drop();
});

const wrong = (server: ApiFixture, username: string) => httpClient(server.url).post("/login", { username, password: "Definitely-wrong-1!" });
/** Both replicas ready: their Redis link up again after a restart. */
const bothReady = () => eventually(async () => (await Promise.all([a, b].map((s) => httpClient(s.url).get("/readyz")))).every((r) => r.status === 200), 10_000, "both replicas' Redis link");

describe("login rate limits across api replicas (Redis)", () => {
  it("counts strangers' failures at an account on every replica together; the owner's device still gets in", async () => {
    const creds = newCredentials("acct");
    expect((await httpClient(a.url).post("/register", creds)).status).toBe(201);
    const owner = await httpClient(a.url).post("/login", { username: creds.username, password: creds.password });
    const device = owner.headers.get("x-device")!;
    expect(device).toBeTruthy();
    expect((await wrong(a, creds.username)).status).toBe(401);
    expect((await wrong(b, creds.username)).status).toBe(401);
    expect((await wrong(a, creds.username)).status).toBe(401);
    const guess = await wrong(b, creds.username);
    expect(guess.status).toBe(401);
    // Four failures in all: both replicas now refuse strangers even the right password, with the wrong password's answer.
    for (const server of [a, b]) {
      expect((await httpClient(server.url).post("/login", { username: creds.username, password: creds.password }, { "x-device": device })).status).toBe(200);
      const res = await httpClient(server.url).post("/login", { username: creds.username.toUpperCase(), password: creds.password });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(guess.body);
    }
  });

  it("counts a client address's failures across accounts and replicas", async () => {
    await redis.restart(); // a clean slate for the address counter
    await bothReady();
    const creds = newCredentials("addr");
    expect((await httpClient(b.url).post("/register", creds)).status).toBe(201);
    for (let i = 0; i < 6; i++) expect((await wrong(i % 2 ? a : b, `someone_${i}`)).status).toBe(401);
    const res = await httpClient(a.url).post("/login", { username: creds.username, password: creds.password });
    expect(res.status).toBe(429);
  });

  it("keeps logging people in on per-replica counters while Redis is down, and shares again after", async () => {
    await redis.kill();
    try {
      const creds = newCredentials("down");
      expect((await httpClient(a.url).post("/register", creds)).status).toBe(201);
      const ok = await httpClient(a.url).post("/login", { username: creds.username, password: creds.password });
      expect(ok.status).toBe(200);
      // Failures are still counted (in memory) and enforced: a stranger is refused the right password too.
      for (let i = 0; i < 4; i++) expect((await wrong(a, creds.username)).status).toBe(401);
      expect((await httpClient(a.url).post("/login", { username: creds.username, password: creds.password })).body.code).toBe("invalid_credentials");
      expect((await httpClient(a.url).post("/login", { username: creds.username, password: creds.password }, { "x-device": ok.headers.get("x-device")! })).status).toBe(200);
      const ready = await httpClient(a.url).get("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body.checks).toEqual({ database: "up", redis: "down" });
    } finally {
      await redis.restart();
    }
    await bothReady();
    const creds = newCredentials("back");
    expect((await httpClient(b.url).post("/register", creds)).status).toBe(201);
    for (let i = 0; i < 4; i++) expect((await wrong(i % 2 ? a : b, creds.username)).status).toBe(401);
    expect((await httpClient(a.url).post("/login", { username: creds.username, password: creds.password })).status).toBe(401);
  });
});
