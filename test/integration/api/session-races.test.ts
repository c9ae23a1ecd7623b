import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryBus } from "../../../shared/control/bus";
import { createTestDatabase, holdTableLock, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { type HttpClient, httpClient, registerAndLogin } from "../../support/http";
import { eventually } from "../../support/waits";

/**
 * Races between a login in flight and the calls that end every session, forced with PostgreSQL's
 * own locks: the test holds a lock on `refresh_tokens` (which only a login writes), so a login
 * that has checked its password waits just before it creates its session, for as long as the
 * test wants. What each call answers, and which sessions are live at the end, is what a client sees.
 */

let tdb: TestDatabase;
let replicas: ApiFixture[];
let http: HttpClient[];

beforeAll(async () => {
  tdb = await createTestDatabase();
  // Two api replicas on one database, as in the cluster (the memory bus stands in for Redis here).
  const bus = createMemoryBus();
  replicas = [await startApi({ database: tdb, bus, env: { MAX_SESSIONS_PER_USER: "2" } }), await startApi({ database: tdb, bus, env: { MAX_SESSIONS_PER_USER: "2" } })];
  http = replicas.map((r) => httpClient(r.url));
});
afterAll(async () => {
  for (const r of replicas ?? []) await r.close();
  await tdb?.drop();
});

/** Holds `lock table refresh_tokens` until `release()`: logins stop just before they insert their session. */
const holdLoginInserts = () => holdTableLock(tdb.url, "refresh_tokens", "share");

/** Backends of this database waiting on a lock (the logins and changes the test is holding back). */
async function lockWaiters(): Promise<number> {
  const { rows } = await tdb.pool.query<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
  );
  return rows[0]!.n;
}

/** A promise and whether it has settled yet. */
function settled<T>(promise: Promise<T>): { promise: Promise<T>; done: boolean } {
  const s = { promise, done: false };
  promise.finally(() => (s.done = true)).catch(() => undefined);
  return s;
}

const liveSessions = async (userId: string) =>
  (await tdb.db.selectFrom("sessions").select("id").where("user_id", "=", userId).where("revoked_at", "is", null).execute()).map((r) => r.id);

describe("a login in flight", () => {
  it("leaves no live session once a password change has answered", async () => {
    const owner = await registerAndLogin(http[0]!, "race_pw");
    const lock = await holdLoginInserts();
    // The attacker knows the old password; its login passes argon2 and reaches the database.
    const attacker = http[1]!.post("/login", { username: owner.username, password: owner.password });
    await eventually(async () => (await lockWaiters()) === 1, 10_000, "the login to wait at its insert");
    const change = settled(owner.http.put("/me/password", { current_password: owner.password, new_password: `${owner.password}-Changed!` }));
    await eventually(async () => change.done || (await lockWaiters()) === 2, 10_000, "the change to answer or wait for the login");
    await lock.release();
    const [login, changed] = await Promise.all([attacker, change.promise]);
    expect(changed.status).toBe(204);
    // After the change answered: whatever the login got, it gives no access.
    if (login.status === 200) {
      const me = await httpClient(replicas[0]!.url, login.body.token).get("/me");
      expect(me.status).toBe(401);
      expect((await http[0]!.post("/token/refresh", { refresh_token: login.body.refresh_token })).status).toBe(401);
    } else {
      expect(login.status).toBe(401);
      expect(login.body.code).toBe("invalid_credentials");
    }
    expect(await liveSessions(owner.user.id)).toEqual([owner.sessionId]);
  });

  it("leaves no live session once log out everywhere has answered", async () => {
    const owner = await registerAndLogin(http[0]!, "race_all");
    const lock = await holdLoginInserts();
    const attacker = http[1]!.post("/login", { username: owner.username, password: owner.password });
    await eventually(async () => (await lockWaiters()) === 1, 10_000, "the login to wait at its insert");
    const everywhere = settled(owner.http.delete("/sessions"));
    await eventually(async () => everywhere.done || (await lockWaiters()) === 2, 10_000, "log out everywhere to answer or wait for the login");
    await lock.release();
    const [login, out] = await Promise.all([attacker, everywhere.promise]);
    expect(out.status).toBe(204);
    if (login.status === 200) expect((await httpClient(replicas[0]!.url, login.body.token).get("/me")).status).toBe(401);
    else expect(login.status).toBe(401);
    expect(await liveSessions(owner.user.id)).toEqual([]);
  });

  it("keeps MAX_SESSIONS_PER_USER under simultaneous logins on two replicas", async () => {
    const owner = await registerAndLogin(http[0]!, "race_cap");
    const lock = await holdLoginInserts();
    const logins = Array.from({ length: 6 }, (_, i) => http[i % 2]!.post("/login", { username: owner.username, password: owner.password }));
    // Every login has checked its password and waits (at its insert, or behind another's turn).
    await eventually(async () => (await lockWaiters()) === 6, 15_000, "six logins to wait");
    await lock.release();
    for (const login of await Promise.all(logins)) expect(login.status).toBe(200);
    expect((await liveSessions(owner.user.id)).length).toBe(2);
  });
});
