import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionCheck } from "../../../gateway/auth/session-check";
import { isAppError } from "../../../shared/contract/errors";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { clockPasses } from "../../support/waits";

/**
 * The handshake's and chat:join's session check (gateway/auth/session-check.ts) on a real
 * PostgreSQL: batched, at least an interval between two queries, each check read after it arrived.
 */
let tdb: TestDatabase;
let user: string;
let live: string;
let revoked: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  user = (await tdb.db.insertInto("users").values({ username: "checked", email: "checked@example.test", password_hash: "x" }).returning("id").executeTakeFirstOrThrow()).id;
  const session = async (revokedAt: Date | null) =>
    (await tdb.db.insertInto("sessions").values({ user_id: user, expires_at: new Date(Date.now() + 3_600_000), revoked_at: revokedAt }).returning("id").executeTakeFirstOrThrow()).id;
  live = await session(null);
  revoked = await session(new Date());
});
afterAll(async () => {
  await tdb?.drop();
});

describe("SessionCheck", () => {
  it("under a stream of checks, queries at most once per interval, each check answered by its own row", async () => {
    let queries = 0;
    const onAcquire = () => (queries += 1);
    tdb.pool.on("acquire", onAcquire);
    try {
      const check = new SessionCheck(tdb.pool, { minIntervalMs: 100 });
      // 40 checks over ~200 ms: one every 5 ms, as handshakes arrive under load.
      const answers: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i += 1) {
        const sid = i % 4 === 3 ? revoked : live;
        answers.push(check.check({ sid, sub: user }, undefined).then((r) => r, (err: unknown) => err));
        await clockPasses(5, "the pace of the checks: one every 5 ms");
      }
      const results = await Promise.all(answers);
      results.forEach((r, i) => {
        if (i % 4 === 3) expect(isAppError(r) && r.code).toBe("session_revoked");
        else expect(r).toMatchObject({ username: "checked" });
      });
      // Back to back, 40 checks 5 ms apart would take a query each (or one per few); the interval
      // bounds them by the time they span: ~200 ms / 100 ms, plus the first.
      expect(queries).toBeGreaterThanOrEqual(2);
      expect(queries).toBeLessThanOrEqual(5);
    } finally {
      tdb.pool.off("acquire", onAcquire);
    }
  });

  it("sees a revocation that committed before the check arrived, even within the interval", async () => {
    const check = new SessionCheck(tdb.pool, { minIntervalMs: 200 });
    const session = (await tdb.db.insertInto("sessions").values({ user_id: user, expires_at: new Date(Date.now() + 3_600_000) }).returning("id").executeTakeFirstOrThrow()).id;
    await expect(check.check({ sid: session, sub: user }, undefined)).resolves.toMatchObject({ username: "checked" });
    // The next query may begin only 200 ms after the first: the revocation commits meanwhile.
    await tdb.db.updateTable("sessions").set({ revoked_at: new Date() }).where("id", "=", session).execute();
    await expect(check.check({ sid: session, sub: user }, undefined)).rejects.toMatchObject({ code: "session_revoked" });
  });
});
