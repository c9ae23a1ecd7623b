import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { factsOfColumns, liveSessionSql, type SessionFactsColumns, sessionFactsSql, sessionVerdict } from "../../../../shared/db/sessions";
import { createTestDatabase, type TestDatabase } from "../../../support/database";

/**
 * The session rule is written once (`sessionVerdict`); its SQL form (`liveSessionSql`) exists only
 * for statements that must act on it inside the statement. This holds the two to one answer.
 */
let tdb: TestDatabase;
let alice: string;
let bob: string;
const sessions: Record<string, string> = {};

beforeAll(async () => {
  tdb = await createTestDatabase();
  const user = async (name: string) =>
    (await tdb.db.insertInto("users").values({ username: name, email: `${name}@example.test`, password_hash: "x" }).returning("id").executeTakeFirstOrThrow()).id;
  alice = await user("rule_alice");
  bob = await user("rule_bob");
  const hour = 3_600_000;
  const rows = {
    live: { user_id: alice, expires_at: new Date(Date.now() + hour), revoked_at: null },
    revoked: { user_id: alice, expires_at: new Date(Date.now() + hour), revoked_at: new Date() },
    expired: { user_id: alice, expires_at: new Date(Date.now() - hour), revoked_at: null },
    revokedAndExpired: { user_id: alice, expires_at: new Date(Date.now() - hour), revoked_at: new Date(Date.now() - 2 * hour) },
    bobs: { user_id: bob, expires_at: new Date(Date.now() + hour), revoked_at: null },
  };
  for (const [name, values] of Object.entries(rows)) {
    sessions[name] = (await tdb.db.insertInto("sessions").values(values).returning("id").executeTakeFirstOrThrow()).id;
  }
  sessions.missing = randomUUID();
});
afterAll(async () => {
  await tdb?.drop();
});

describe("the session rule and its SQL form", () => {
  it("agree on every kind of session, asked for its own user and for another", async () => {
    const asks = Object.entries(sessions).flatMap(([name, sid]) => [alice, bob].map((user) => ({ name, sid, user })));
    const { rows } = await tdb.pool.query<SessionFactsColumns & { i: number; live: boolean }>(
      `select r.i::int as i, ${sessionFactsSql("s")}, coalesce(${liveSessionSql("s", "r.user_id")}, false) as live
         from unnest($1::uuid[], $2::uuid[]) with ordinality as r(sid, user_id, i)
         left join sessions s on s.id = r.sid
         order by r.i`,
      [asks.map((a) => a.sid), asks.map((a) => a.user)],
    );
    const now = Date.now();
    const answers = asks.map((a, k) => ({ ask: `${a.name} by ${a.user === alice ? "alice" : "bob"}`, sql: rows[k]!.live, rule: sessionVerdict(factsOfColumns(rows[k]), a.user, now) === "live" }));
    for (const a of answers) expect(a).toEqual({ ask: a.ask, sql: a.rule, rule: a.rule });
    expect(answers.filter((a) => a.rule).map((a) => a.ask).sort()).toEqual(["bobs by bob", "live by alice"]);
  });

  it("serves as a kysely filter of live rows", async () => {
    const live = await tdb.db.selectFrom("sessions").select("id").where("user_id", "=", alice).where(sql.raw<boolean>(liveSessionSql("sessions"))).execute();
    expect(live.map((r) => r.id)).toEqual([sessions.live]);
  });
});
