import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { type HttpClient, httpClient, newCredentials, registerAndLogin } from "../../support/http";

let tdb: TestDatabase;
let server: ApiFixture;
let http: HttpClient;

beforeAll(async () => {
  tdb = await createTestDatabase();
  server = await startApi({ database: tdb, env: { LOGIN_MAX_FAILURES_PER_ACCOUNT: "3", LOGIN_MAX_FAILURES_PER_IP: "1000" } });
  http = httpClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});

describe("POST /register", () => {
  it("creates a user and stores only an argon2id hash", async () => {
    const creds = newCredentials("reg");
    const res = await http.post("/register", creds);
    expect(res.status).toBe(201);
    expect(res.body.user).toMatchObject({ username: creds.username, email: creds.email });
    expect(res.body.user.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(res.body.user.created_at).toISOString()).toBe(res.body.user.created_at);
    expect(res.body.user).not.toHaveProperty("password_hash");
    const row = await tdb.db.selectFrom("users").select("password_hash").where("id", "=", res.body.user.id).executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(row.password_hash).not.toContain(creds.password);
  });

  it("refuses a weak password with zxcvbn feedback", async () => {
    const creds = newCredentials("weak");
    const res = await http.post("/register", { ...creds, password: "password123" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ type: "about:blank", title: "Bad Request", status: 400, code: "weak_password" });
    expect(res.body.feedback.score).toBeLessThan(3);
    expect(typeof res.body.feedback.warning).toBe("string");
    expect(res.body.feedback.warning.length).toBeGreaterThan(0);
    expect(Array.isArray(res.body.feedback.suggestions)).toBe(true);
  });

  it("counts the username and email as guessable", async () => {
    const creds = newCredentials("guess");
    const res = await http.post("/register", { ...creds, password: `${creds.username}1` });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("weak_password");
  });

  it("accepts a strong 128-character password", async () => {
    const creds = newCredentials("long");
    const password = "Zq8#".repeat(8) + "correct-horse-battery-staple-".repeat(3) + "x".repeat(128 - 32 - 87);
    expect([...password].length).toBe(128);
    const res = await http.post("/register", { ...creds, password });
    expect(res.status).toBe(201);
    expect((await http.post("/login", { username: creds.username, password })).status).toBe(200);
  });

  it("treats usernames and emails as unique without regard to case", async () => {
    const creds = newCredentials("dup");
    expect((await http.post("/register", creds)).status).toBe(201);
    const other = newCredentials("dup2");
    const sameName = await http.post("/register", { ...other, username: creds.username.toUpperCase() });
    expect(sameName.status).toBe(409);
    expect(sameName.body.code).toBe("username_taken");
    const sameEmail = await http.post("/register", { ...other, email: creds.email.toUpperCase() });
    expect(sameEmail.status).toBe(409);
    expect(sameEmail.body.code).toBe("email_taken");
  });

  it("settles concurrent registrations of one name with exactly one winner", async () => {
    const creds = newCredentials("race");
    const results = await Promise.all(
      [0, 1, 2].map((i) => http.post("/register", { ...creds, email: `r${i}.${creds.email}` })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409]);
  });

  it("limits registrations per client address, counting refused attempts too", async () => {
    const limited = await startApi({ database: tdb, env: { REGISTER_MAX_PER_IP: "3", TRUST_PROXY: "loopback" } });
    try {
      const reg = (body: unknown, address: string) => httpClient(limited.url).post("/register", body, { "x-forwarded-for": address });
      expect((await reg(newCredentials("ip"), "10.2.0.1")).status).toBe(201);
      expect((await reg({ ...newCredentials("ip"), password: "password123" }, "10.2.0.1")).status).toBe(400);
      expect((await reg(newCredentials("ip"), "10.2.0.1")).status).toBe(201);
      const refused = await reg(newCredentials("ip"), "10.2.0.1");
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe("rate_limited");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await reg(newCredentials("ip"), "10.2.0.2")).status).toBe(201);
    } finally {
      await limited.close();
    }
  });

  it("validates each field", async () => {
    const res = await http.post("/register", { username: "a b", email: "nope", password: "short" });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_body");
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(["email", "password", "username"]);
  });
});

describe("POST /login", () => {
  it("logs in by username or email and records the session", async () => {
    const creds = newCredentials("login");
    await http.post("/register", creds);
    const byName = await http.post("/login", { username: creds.username, password: creds.password }, { "user-agent": "vitest-agent/1.0" });
    expect(byName.status).toBe(200);
    expect(byName.body).toMatchObject({ type: "Bearer", expires_in: 900, user: { username: creds.username } });
    expect(byName.body.token.split(".")).toHaveLength(3);
    expect(typeof byName.body.refresh_token).toBe("string");
    const session = await tdb.db.selectFrom("sessions").selectAll().where("id", "=", byName.body.session_id).executeTakeFirstOrThrow();
    expect(session.user_agent).toBe("vitest-agent/1.0");
    expect(session.ip).toMatch(/127\.0\.0\.1/);
    expect(session.revoked_at).toBeNull();
    expect(session.expires_at.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);

    const byEmail = await http.post("/login", { username: creds.email.toUpperCase(), password: creds.password });
    expect(byEmail.status).toBe(200);
    expect(byEmail.body.session_id).not.toBe(byName.body.session_id);
  });

  it("lets two logins in the same second both work", async () => {
    const creds = newCredentials("same");
    await http.post("/register", creds);
    const [a, b] = await Promise.all([0, 1].map(() => http.post("/login", { username: creds.username, password: creds.password })));
    expect(a!.status).toBe(200);
    expect(b!.status).toBe(200);
    expect(a!.body.token).not.toBe(b!.body.token);
    expect((await httpClient(server.url, a!.body.token).get("/me")).status).toBe(200);
    expect((await httpClient(server.url, b!.body.token).get("/me")).status).toBe(200);
  });

  it("answers an unknown user and a wrong password with the same body", async () => {
    const creds = newCredentials("same-body");
    await http.post("/register", creds);
    const wrong = await http.post("/login", { username: creds.username, password: "Wrong-password-123!" });
    const unknown = await http.post("/login", { username: "nobody_at_all_here", password: "Wrong-password-123!" });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(wrong.body.code).toBe("invalid_credentials");
  });

  it("locks strangers out of an account after repeated failures, answering as to a wrong password", async () => {
    const creds = newCredentials("limit");
    await http.post("/register", creds);
    let guess;
    for (let i = 0; i < 3; i++) expect((guess = await http.post("/login", { username: creds.username, password: "Nope-nope-nope-1" })).status).toBe(401);
    const limited = await http.post("/login", { username: creds.username, password: creds.password });
    expect(limited.status).toBe(401);
    expect(limited.body).toEqual(guess!.body);
    // Another account from the same address is not affected by this account's counter.
    const other = await registerAndLogin(http, "unaffected");
    expect(other.token).toBeTruthy();
  });
});

describe("GET /me", () => {
  it("returns the caller and refuses missing or bad tokens", async () => {
    const u = await registerAndLogin(http, "me");
    const me = await u.http.get("/me");
    expect(me.status).toBe(200);
    expect(me.body.user).toEqual(u.user);
    for (const auth of [undefined, "Bearer", "Bearer nonsense", "Basic abc", `Bearer ${u.token}x`]) {
      const res = await http.get("/me", auth ? { authorization: auth } : {});
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("unauthorized");
    }
  });
});

describe("health and metrics", () => {
  it("serves /healthz, /readyz and Prometheus /metrics with login outcomes", async () => {
    expect((await http.get("/healthz")).body).toEqual({ status: "ok" });
    const ready = await http.get("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ database: "up" });
    const metrics = await http.get("/metrics");
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain("process_resident_memory_bytes");
    expect(metrics.text).toMatch(/http_requests_total\{method="POST",route="\/login",status="200"/);
    expect(metrics.text).toMatch(/login_attempts_total\{outcome="invalid_credentials"/);
    expect(metrics.text).toMatch(/http_request_duration_seconds_bucket\{/);
  });
});
