import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { httpClient, newCredentials, registerAndLogin } from "../../support/http";
import { loginOutcomes } from "../../support/metrics";

/**
 * The smart lockout, as an attacker and an owner would meet it. Addresses are given in
 * X-Forwarded-For (the api trusts the loopback proxy here), so each attacker request may come
 * from a new address.
 */

let tdb: TestDatabase;
let api: ApiFixture;
const env = { LOGIN_MAX_FAILURES_PER_ACCOUNT: "5", LOGIN_MAX_FAILURES_PER_IP: "1000", LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "1000", TRUST_PROXY: "loopback" };

beforeAll(async () => {
  tdb = await createTestDatabase();
  api = await startApi({ database: tdb, env });
});
afterAll(async () => {
  await api?.close();
  await tdb?.drop();
});

let address = 0;
/** A login from an address never seen before (an attacker with many), optionally bringing a device value. */
const login = (username: string, password: string, headers: Record<string, string> = {}) =>
  httpClient(api.url).post("/login", { username, password }, { "x-forwarded-for": `10.9.${Math.floor(++address / 250)}.${address % 250}`, ...headers });

/** Passwords argon2 checked and found wrong, and guesses not checked because locked. */
const outcomes = () => loginOutcomes(api.url);

describe("a lockout strangers cannot aim", () => {
  it("keeps the owner's own device in while strangers from any number of addresses are refused", async () => {
    const owner = await registerAndLogin(httpClient(api.url), "owner");
    const first = await login(owner.username, owner.password);
    const device = first.headers.get("x-device")!;
    // The device value also comes as an httpOnly cookie, for browsers.
    expect(first.headers.get("set-cookie")).toMatch(/^wsac_device=[^;]+;.*HttpOnly/i);
    expect(first.headers.get("set-cookie")).toMatch(/SameSite=Strict/i);

    for (let i = 0; i < 8; i += 1) expect((await login(owner.username, `Wrong-guess-${i}!`)).status).toBe(401);
    // A stranger with the right password is refused as if it were wrong...
    const stranger = await login(owner.username, owner.password);
    expect(stranger.status).toBe(401);
    expect(stranger.body.code).toBe("invalid_credentials");
    // ...the owner's device gets in, by cookie or by header, and keeps its device.
    const byHeader = await login(owner.username, owner.password, { "x-device": device });
    expect(byHeader.status).toBe(200);
    expect(byHeader.headers.get("x-device")!.split(".")[2]).toBe(device.split(".")[2]);
    expect((await login(owner.user.email, owner.password, { cookie: `other=1; wsac_device=${device}` })).status).toBe(200);
  });

  it("gives every attacker together no more than the configured number of checked guesses", async () => {
    const victim = await registerAndLogin(httpClient(api.url), "victim");
    const before = await outcomes();
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => login(i % 2 ? victim.username : victim.user.email, `Parallel-guess-${i}!`)));
    expect(guesses.every((g) => g.status === 401)).toBe(true);
    const after = await outcomes();
    expect(after.wrong - before.wrong).toBe(5);
    expect(after.locked - before.locked).toBe(15);
    // Nor can a device value of another account, a forged or a tampered one buy more guesses here.
    const someoneElses = (await login(newAccount.username, newAccount.password)).headers.get("x-device")!;
    for (const value of [someoneElses, `v1.${victim.user.id}.made-up-device.${"A".repeat(43)}`, `${someoneElses.slice(0, -2)}AA`]) {
      expect((await login(victim.username, victim.password, { "x-device": value })).status).toBe(401);
    }
  });

  it("answers a locked account and an unknown name alike, whichever name of the account is typed", async () => {
    const locked = await registerAndLogin(httpClient(api.url), "locked");
    for (let i = 0; i < 5; i += 1) await login(locked.username, `Wrong-guess-${i}!`);
    const byEmail = await login(locked.user.email, "Any-guess-1!");
    const unknownEmail = await login(`nobody-${Date.now()}@example.test`, "Any-guess-1!");
    const byName = await login(locked.username, locked.password);
    for (const res of [byEmail, unknownEmail, byName]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual(unknownEmail.body);
      expect(res.headers.get("retry-after")).toBeNull();
    }
  });

  it("lets the session change its password while strangers hold the account locked", async () => {
    const u = await registerAndLogin(httpClient(api.url), "pwlock");
    for (let i = 0; i < 6; i += 1) await login(u.username, `Wrong-guess-${i}!`);
    expect((await login(u.username, u.password)).status).toBe(401);
    expect((await u.http.put("/me/password", { current_password: u.password, new_password: `${u.password}-Rotated!` })).status).toBe(204);
  });
});

const newAccount = newCredentials("device");
beforeAll(async () => {
  expect((await httpClient(api.url).post("/register", newAccount)).status).toBe(201);
});

describe("attempts per name", () => {
  it("bound the argon2 work of a client that knows the password, counted per typed name", async () => {
    const bounded = await startApi({ database: tdb, env: { ...env, LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "3" } });
    try {
      const u = await registerAndLogin(httpClient(bounded.url), "attempts"); // one attempt by name
      const at = (name: string) => httpClient(bounded.url).post("/login", { username: name, password: u.password });
      expect((await at(u.username)).status).toBe(200);
      expect((await at(u.username)).status).toBe(200);
      const over = await at(u.username);
      expect(over.status).toBe(429);
      expect(over.body.code).toBe("rate_limited");
      expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
      // The email is a name of its own: the count says nothing about which names share an account.
      expect((await at(u.user.email)).status).toBe(200);
    } finally {
      await bounded.close();
    }
  });
});
