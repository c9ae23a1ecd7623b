import { generateKeyPairSync } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryBus } from "../../../shared/control/bus";
import { es256SigningKey } from "../../../shared/auth/keys";
import { TokenSigner } from "../../../shared/auth/tokens";
import { TEST_PUBLIC_KEY } from "../../support/config";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, type GatewayFixture, startApi, startGateway } from "../../support/fixtures";
import { httpClient, registerAndLogin } from "../../support/http";
import { SocketClients } from "../../support/socket-client";
import { eventually } from "../../support/waits";

/**
 * A gateway that holds no key of its own: it verifies with the api's JWKS (JWKS_URL). The JWKS
 * reaches it through a small HTTP relay of the test's, which counts the fetches and can answer
 * 503 or switch to another api replica (a rotation).
 */

let tdb: TestDatabase;
const bus = createMemoryBus();
let apiA: ApiFixture;
let apiB: ApiFixture | undefined;
let gateway: GatewayFixture;
let relay: Server;
let upstream: () => string | undefined;
let fetches = 0;
const sockets = new SocketClients();

beforeAll(async () => {
  tdb = await createTestDatabase();
  apiA = await startApi({ database: tdb, bus });
  upstream = () => undefined; // the api's JWKS is unreachable at first
  relay = createServer(async (req, res) => {
    fetches += 1;
    const target = upstream();
    if (!target) return void res.writeHead(503).end();
    const answer = await fetch(`${target}${req.url}`);
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(await answer.text());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const jwksUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/.well-known/jwks.json`;
  gateway = await startGateway({ database: tdb, bus, env: { JWKS_URL: jwksUrl, JWT_PUBLIC_KEYS: "" } });
});
afterAll(async () => {
  sockets.closeAll();
  await gateway?.close();
  await apiB?.close();
  await apiA?.close();
  relay?.close();
  await tdb?.drop();
});

describe("a gateway on the api's JWKS", () => {
  it("holds no signing key, is not ready and answers unavailable until the keys arrive, then verifies", async () => {
    expect(gateway.config.tokens.signing).toBeUndefined();
    expect(gateway.config.tokens.verifying).toEqual([]);
    const alice = await registerAndLogin(httpClient(apiA.url), "jwks_a");
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503);
    expect((await sockets.refusal(gateway.url, { token: alice.token })).data).toEqual({ code: "unavailable", status: 503 });

    upstream = () => apiA.url;
    await eventually(async () => (await fetch(`${gateway.url}/readyz`)).status === 200, 15_000, "the gateway to load the JWKS");
    const socket = await sockets.connect(gateway.url, { token: alice.token });
    expect(socket.connected).toBe(true);
  });

  it("learns a rotated-in key when the new api replica starts, and keeps the old key's sockets", async () => {
    const alice = await registerAndLogin(httpClient(apiA.url), "jwks_rot");
    const old = await sockets.connect(gateway.url, { token: alice.token });
    let dropped = false;
    old.on("disconnect", () => (dropped = true));

    // The new replica signs with a new key and still publishes the old one; the relay now reaches it.
    const next = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    upstream = () => apiB?.url;
    apiB = await startApi({ database: tdb, bus, env: { JWT_PRIVATE_KEY: next, JWT_PUBLIC_KEYS: TEST_PUBLIC_KEY } });
    const before = fetches;
    // Its start announced the key ids: the gateway fetched the JWKS by itself, before any token named the new key.
    await eventually(() => fetches > before && gateway.gateway.stats().jwksKeys === 2, 10_000, "the gateway to fetch the rotated JWKS");

    const fresh = await httpClient(apiB.url).post("/login", { username: alice.username, password: alice.password });
    expect(JSON.parse(Buffer.from(fresh.body.token.split(".")[0], "base64url").toString()).kid).toBe(es256SigningKey(next).kid);
    expect((await sockets.connect(gateway.url, { token: fresh.body.token })).connected).toBe(true);
    // The old socket renews in band with a token of the new key, and nothing was dropped.
    const renewed = await httpClient(apiB.url).post("/token/refresh", { refresh_token: alice.refreshToken });
    expect(await old.emitWithAck("auth:refresh", { token: renewed.body.token })).toMatchObject({ ok: true });
    expect((await sockets.connect(gateway.url, { token: alice.token })).connected).toBe(true);
    expect(dropped).toBe(false);
  });

  it("fetches at most once for any number of tokens naming unknown keys", async () => {
    const u = await registerAndLogin(httpClient(apiA.url), "jwks_flood");
    const before = fetches;
    for (let i = 0; i < 15; i += 1) {
      const stranger = es256SigningKey(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString());
      const forged = new TokenSigner(stranger, 900).sign(u.user.id, u.sessionId, new Date(Date.now() + 60_000)).token;
      expect((await sockets.refusal(gateway.url, { token: forged })).data).toEqual({ code: "invalid_token", status: 401 });
    }
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});
