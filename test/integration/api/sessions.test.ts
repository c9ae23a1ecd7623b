import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ControlEvent } from "../../../shared/control/events";
import { createHmac, generateKeyPairSync } from "node:crypto";
import { es256SigningKey } from "../../../shared/auth/keys";
import { TEST_PRIVATE_KEY, TEST_PUBLIC_KEY, TEST_SECRET, testSigner } from "../../support/config";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { type HttpClient, httpClient, registerAndLogin } from "../../support/http";

let tdb: TestDatabase;
let server: ApiFixture;
let http: HttpClient;
const events: ControlEvent[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
  server = await startApi({ database: tdb });
  server.bus.subscribe((e) => events.push(e));
  http = httpClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});

const revokedEventsFor = (sessionId: string) =>
  events.filter((e) => e.type === "session_revoked" && e.session_ids.includes(sessionId));

describe("POST /token/refresh", () => {
  it("rotates: same session, new access and refresh tokens", async () => {
    const u = await registerAndLogin(http, "rot");
    const res = await http.post("/token/refresh", { refresh_token: u.refreshToken });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: "Bearer", session_id: u.sessionId, user: { id: u.user.id } });
    expect(res.body.refresh_token).not.toBe(u.refreshToken);
    expect(res.body.token).not.toBe(u.token);
    expect((await httpClient(server.url, res.body.token).get("/me")).status).toBe(200);
    // And again with the new one.
    expect((await http.post("/token/refresh", { refresh_token: res.body.refresh_token })).status).toBe(200);
  });

  it("stores refresh tokens only as hashes", async () => {
    const u = await registerAndLogin(http, "hash");
    const rows = await tdb.db.selectFrom("refresh_tokens").select("token_hash").where("session_id", "=", u.sessionId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(u.refreshToken);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("revokes the whole session when a spent refresh token is presented again", async () => {
    const u = await registerAndLogin(http, "reuse");
    const first = await http.post("/token/refresh", { refresh_token: u.refreshToken });
    expect(first.status).toBe(200);
    const replay = await http.post("/token/refresh", { refresh_token: u.refreshToken });
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe("session_revoked");
    // Every token of the session is dead now, the fresh ones included.
    expect((await http.post("/token/refresh", { refresh_token: first.body.refresh_token })).body.code).toBe("session_revoked");
    const me = await httpClient(server.url, first.body.token).get("/me");
    expect(me.status).toBe(401);
    expect(me.body.code).toBe("session_revoked");
    expect(revokedEventsFor(u.sessionId)).toHaveLength(1);
  });

  it("refuses an unknown refresh token without touching any session", async () => {
    const res = await http.post("/token/refresh", { refresh_token: "made-up-token" });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("unauthorized");
  });
});

describe("logout and sessions", () => {
  it("logout revokes the caller's session at once and tells the gateways", async () => {
    const u = await registerAndLogin(http, "logout");
    const other = await u.http.post("/login", { username: u.username, password: u.password });
    expect((await u.http.post("/logout")).status).toBe(204);
    const me = await u.http.get("/me");
    expect(me.status).toBe(401);
    expect(me.body.code).toBe("session_revoked");
    expect((await httpClient(server.url, other.body.token).get("/me")).status).toBe(200);
    expect(revokedEventsFor(u.sessionId)).toEqual([{ type: "session_revoked", user_id: u.user.id, session_ids: [u.sessionId], reason: "revoked" }]);
    expect((await http.post("/token/refresh", { refresh_token: u.refreshToken })).body.code).toBe("session_revoked");
  });

  it("lists active sessions with the current one marked", async () => {
    const u = await registerAndLogin(http, "list");
    const second = await http.post("/login", { username: u.username, password: u.password }, { "user-agent": "phone/2" });
    const res = await u.http.get("/sessions");
    expect(res.status).toBe(200);
    expect(res.body.sessions).toHaveLength(2);
    const current = res.body.sessions.find((s: { current: boolean }) => s.current);
    expect(current.id).toBe(u.sessionId);
    const phone = res.body.sessions.find((s: { id: string }) => s.id === second.body.session_id);
    expect(phone).toMatchObject({ user_agent: "phone/2", current: false });
    for (const k of ["created_at", "expires_at", "last_seen_at"]) expect(new Date(phone[k]).toISOString()).toBe(phone[k]);
    expect(phone.ip).toMatch(/127\.0\.0\.1/);
  });

  it("DELETE /sessions/:id revokes only the caller's own session", async () => {
    const u = await registerAndLogin(http, "del1");
    const stranger = await registerAndLogin(http, "stranger");
    const second = await http.post("/login", { username: u.username, password: u.password });
    expect((await stranger.http.delete(`/sessions/${second.body.session_id}`)).status).toBe(404);
    expect((await u.http.delete("/sessions/not-a-uuid")).status).toBe(404);
    expect((await u.http.delete(`/sessions/${second.body.session_id}`)).status).toBe(204);
    expect((await httpClient(server.url, second.body.token).get("/me")).body.code).toBe("session_revoked");
    expect((await u.http.get("/me")).status).toBe(200);
    expect((await u.http.delete(`/sessions/${second.body.session_id}`)).status).toBe(404);
    expect(revokedEventsFor(second.body.session_id)).toHaveLength(1);
  });

  it("DELETE /sessions logs out everywhere", async () => {
    const u = await registerAndLogin(http, "all");
    const more = await Promise.all([1, 2].map(() => http.post("/login", { username: u.username, password: u.password })));
    expect((await u.http.delete("/sessions")).status).toBe(204);
    for (const token of [u.token, ...more.map((m) => m.body.token)]) {
      expect((await httpClient(server.url, token).get("/me")).body.code).toBe("session_revoked");
    }
    const event = events.find((e) => e.type === "session_revoked" && e.user_id === u.user.id);
    expect(event?.type === "session_revoked" && [...event.session_ids].sort()).toEqual([u.sessionId, ...more.map((m) => m.body.session_id)].sort());
  });
});

describe("PUT /me/password", () => {
  const put = (c: HttpClient, body: unknown) => c.put("/me/password", body);

  it("changes the password and revokes every other session, keeping the caller's", async () => {
    const u = await registerAndLogin(http, "pw");
    const other = await http.post("/login", { username: u.username, password: u.password });
    const next = `${u.password}-Nx9`;
    expect((await put(u.http, { current_password: u.password, new_password: next })).status).toBe(204);
    expect((await u.http.get("/me")).status).toBe(200);
    expect((await httpClient(server.url, other.body.token).get("/me")).body.code).toBe("session_revoked");
    expect(revokedEventsFor(other.body.session_id)).toHaveLength(1);
    expect(revokedEventsFor(u.sessionId)).toEqual([]);
    expect((await http.post("/login", { username: u.username, password: u.password })).status).toBe(401);
    expect((await http.post("/login", { username: u.username, password: next })).status).toBe(200);
  });

  it("refuses a wrong current password as a failed login, and a weak new one with feedback", async () => {
    const u = await registerAndLogin(http, "pw2");
    const wrong = await put(u.http, { current_password: "not-my-password-1!", new_password: `${u.password}-Nx9` });
    expect(wrong.status).toBe(401);
    expect(wrong.body.code).toBe("invalid_credentials");
    const weak = await put(u.http, { current_password: u.password, new_password: "password123" });
    expect(weak.status).toBe(400);
    expect(weak.body.code).toBe("weak_password");
    expect(weak.body.feedback.score).toBeLessThan(3);
    expect((await put(u.http, { current_password: u.password })).body.code).toBe("invalid_body");
    expect((await put(httpClient(server.url), { current_password: u.password, new_password: `${u.password}-Nx9` })).status).toBe(401);
    // Four more wrong guesses reach the session's own limit of five failures: it may not check the
    // password any more, but the account's owner elsewhere is not locked out by it.
    for (let i = 0; i < 4; i += 1) await put(u.http, { current_password: `wrong-${i}-password!`, new_password: `${u.password}-Nx9` });
    expect((await put(u.http, { current_password: u.password, new_password: `${u.password}-Nx9` })).body.code).toBe("invalid_credentials");
    expect((await http.post("/login", { username: u.username, password: u.password })).status).toBe(200);
  });
});

describe("MAX_SESSIONS_PER_USER and large revocations", () => {
  it("revokes the oldest session when a login goes past the limit, and tells the gateways", async () => {
    const capped = await startApi({ database: tdb, env: { MAX_SESSIONS_PER_USER: "3" } });
    const seen: ControlEvent[] = [];
    capped.bus.subscribe((e) => seen.push(e));
    try {
      const u = await registerAndLogin(httpClient(capped.url), "cap");
      const logins = [];
      for (let i = 0; i < 3; i += 1) logins.push(await httpClient(capped.url).post("/login", { username: u.username, password: u.password }));
      // Four logins, three allowed: the first session is gone, the newest three stay.
      expect((await u.http.get("/me")).body.code).toBe("session_revoked");
      const active = (await httpClient(capped.url, logins[2]!.body.token).get("/sessions")).body.sessions.map((x: { id: string }) => x.id);
      expect(active.sort()).toEqual(logins.map((l) => l.body.session_id).sort());
      expect(seen).toContainEqual({ type: "session_revoked", user_id: u.user.id, session_ids: [u.sessionId], reason: "revoked" });
    } finally {
      await capped.close();
    }
  });

  it("publishes the revocation of thousands of sessions in events every gateway accepts", async () => {
    const u = await registerAndLogin(http, "many");
    await tdb.db
      .insertInto("sessions")
      .columns(["user_id", "expires_at"])
      .expression((eb) => eb.selectFrom(eb.fn("generate_series", [eb.lit(1), eb.lit(2_500)]).as("i")).select([eb.val(u.user.id).as("user_id"), eb.val(new Date(Date.now() + 3_600_000)).as("expires_at")]))
      .execute();
    const before = events.length;
    expect((await u.http.delete("/sessions")).status).toBe(204);
    const published = events.slice(before).filter((e) => e.type === "session_revoked" && e.user_id === u.user.id);
    const sizes = published.map((e) => (e.type === "session_revoked" ? e.session_ids.length : 0));
    expect(sizes.every((n) => n <= 1_000)).toBe(true);
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(2_501);
  });
});

describe("token checks on the api", () => {
  it("answers token_expired for an expired access token", async () => {
    const u = await registerAndLogin(http, "exp");
    // A one-second token signed 2.1 s ago (on the signer's clock, moved back: no waiting for it to expire).
    const shortLived = (() => {
      vi.useFakeTimers({ toFake: ["Date"], now: Date.now() - 2_100 });
      try {
        return testSigner(1).sign(u.user.id, u.sessionId, new Date(Date.now() + 60_000));
      } finally {
        vi.useRealTimers();
      }
    })();
    const res = await httpClient(server.url, shortLived.token).get("/me");
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("token_expired");
  });

  it("keeps accepting tokens of the previous key after a key rotation", async () => {
    const u = await registerAndLogin(http, "rotate");
    const next = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const rotated = await startApi({ database: tdb, env: { JWT_PRIVATE_KEY: next, JWT_PUBLIC_KEYS: TEST_PUBLIC_KEY } });
    try {
      const rc = httpClient(rotated.url);
      expect((await rc.as(u.token).get("/me")).status).toBe(200);
      const fresh = await rc.post("/login", { username: u.username, password: u.password });
      expect(JSON.parse(Buffer.from(fresh.body.token.split(".")[0], "base64url").toString())).toMatchObject({ alg: "ES256", kid: es256SigningKey(next).kid });
      expect((await rc.as(fresh.body.token).get("/me")).status).toBe(200);
      // The old-key-only replica does not know the new key.
      expect((await httpClient(server.url, fresh.body.token).get("/me")).body.code).toBe("unauthorized");
      // Both keys are published while the old one's tokens live.
      const jwks = (await rc.get("/.well-known/jwks.json")).body as { keys: { kid: string }[] };
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([es256SigningKey(next).kid, es256SigningKey(TEST_PRIVATE_KEY).kid].sort());
    } finally {
      await rotated.close();
    }
  });

  it("moves an HS256 deployment to ES256: tokens of the old secret verify until they expire", async () => {
    const hs = await startApi({ database: tdb, env: { JWT_PRIVATE_KEY: "", JWT_SECRET: TEST_SECRET } });
    const both = await startApi({ database: tdb, env: { JWT_SECRET: TEST_SECRET } });
    try {
      const u = await registerAndLogin(httpClient(hs.url), "hs256");
      expect(JSON.parse(Buffer.from(u.token.split(".")[0]!, "base64url").toString()).alg).toBe("HS256");
      // The ES256 replica that still knows the secret accepts the HS256 token; its own tokens are ES256.
      expect((await httpClient(both.url, u.token).get("/me")).status).toBe(200);
      const fresh = await httpClient(both.url).post("/login", { username: u.username, password: u.password });
      expect(JSON.parse(Buffer.from(fresh.body.token.split(".")[0], "base64url").toString()).alg).toBe("ES256");
      // Published: the public key only, never the secret.
      expect(JSON.stringify((await httpClient(both.url).get("/.well-known/jwks.json")).body)).not.toContain(TEST_SECRET);
    } finally {
      await hs.close();
      await both.close();
    }
  });

  it("refuses HS256 tokens keyed with the public key (algorithm confusion)", async () => {
    const u = await registerAndLogin(http, "confuse");
    const kid = es256SigningKey(TEST_PRIVATE_KEY).kid;
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const input = `${b64({ alg: "HS256", typ: "JWT", kid })}.${u.token.split(".")[1]}`;
    for (const secret of [TEST_PUBLIC_KEY, JSON.stringify((await http.get("/.well-known/jwks.json")).body.keys[0])]) {
      const forged = `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
      expect((await httpClient(server.url, forged).get("/me")).body.code).toBe("unauthorized");
    }
  });

  it("refuses a validly signed token whose session belongs to someone else", async () => {
    const a = await registerAndLogin(http, "own-a");
    const b = await registerAndLogin(http, "own-b");
    const forged = testSigner(60).sign(a.user.id, b.sessionId, new Date(Date.now() + 60_000));
    expect((await httpClient(server.url, forged.token).get("/me")).body.code).toBe("session_revoked");
  });
});
