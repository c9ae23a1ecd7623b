import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrations } from "../../../../migrations";
import { migrateDown, migrateToLatest } from "../../../../shared/db/migrate";
import { createTestDatabase, type TestDatabase } from "../../../support/database";

let tdb: TestDatabase;
const logger = pino({ level: "silent" });

beforeAll(async () => {
  tdb = await createTestDatabase({ migrate: false });
});
afterAll(async () => {
  await tdb?.drop();
});

const tables = async () =>
  (await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public' and tablename not like 'kysely_%' order by 1`.execute(tdb.db)).rows.map(
    (r) => r.tablename,
  );

describe("migrations", () => {
  it("are timestamped and apply, revert and re-apply cleanly", async () => {
    for (const name of Object.keys(migrations)) expect(name).toMatch(/^\d{14}_[a-z_]+$/);
    await migrateToLatest(tdb, logger);
    expect(await tables()).toEqual([
      "chat_changes",
      "chat_members",
      "chats",
      "invites",
      "message_reactions",
      "message_reports",
      "messages",
      "refresh_tokens",
      "server_idempotency",
      "server_keys",
      "sessions",
      "user_blocks",
      "users",
      "webhook_deliveries",
      "webhook_endpoints",
      "webhook_events",
      "webhook_workers",
    ]);
    for (let i = 0; i < Object.keys(migrations).length; i++) await migrateDown(tdb.db, logger);
    expect(await tables()).toEqual([]);
    await migrateToLatest(tdb, logger);
    await migrateToLatest(tdb, logger); // idempotent
    expect(await tables()).toHaveLength(17);
  });

  it("enforce the data rules in the database itself", async () => {
    const db = tdb.db;
    const [u1, u2] = await Promise.all(
      ["Alice", "Bob"].map((n) =>
        db.insertInto("users").values({ username: n, email: `${n}@x.test`, password_hash: "h" }).returning("id").executeTakeFirstOrThrow(),
      ),
    );
    const dupName = db.insertInto("users").values({ username: "ALICE", email: "other@x.test", password_hash: "h" }).execute();
    await expect(dupName).rejects.toMatchObject({ code: "23505", constraint: "users_username_lower_key" });
    const dupEmail = db.insertInto("users").values({ username: "carol", email: "alice@X.TEST", password_hash: "h" }).execute();
    await expect(dupEmail).rejects.toMatchObject({ code: "23505", constraint: "users_email_lower_key" });

    const chat = await db.insertInto("chats").values({ name: "c", created_by: u1!.id }).returning("id").executeTakeFirstOrThrow();
    // A role the schema's types do not allow, so written as SQL.
    await expect(sql`insert into chat_members (chat_id, user_id, role) values (${chat.id}, ${u1!.id}, 'admin')`.execute(db)).rejects.toMatchObject({ code: "23514" });
    const invite = { chat_id: chat.id, user_id: u2!.id, inviter_id: u1!.id };
    await db.insertInto("invites").values(invite).execute();
    await expect(db.insertInto("invites").values(invite).execute()).rejects.toMatchObject({ code: "23505", constraint: "invites_pending_key" });
    await db.updateTable("invites").set({ status: "declined" }).where("user_id", "=", u2!.id).execute();
    await db.insertInto("invites").values(invite).execute(); // a new pending one after an answer is fine

    await expect(db.insertInto("messages").values({ chat_id: chat.id, sender_id: u1!.id, text: "" }).execute()).rejects.toMatchObject({ code: "23514" });
    await expect(
      db.insertInto("messages").values({ chat_id: "00000000-0000-0000-0000-000000000000", sender_id: u1!.id, text: "x" }).execute(),
    ).rejects.toMatchObject({ code: "23503" });

    // Deleting a user removes what hangs off it.
    await db.deleteFrom("users").where("id", "=", u1!.id).execute();
    expect(await db.selectFrom("chats").selectAll().execute()).toEqual([]);
  });

  it("has the indexes the queries need", async () => {
    const rows = (await sql<{ indexname: string }>`select indexname from pg_indexes where schemaname = 'public'`.execute(tdb.db)).rows.map((r) => r.indexname);
    for (const ix of ["sessions_user_id_idx", "messages_chat_id_id_idx", "chat_members_user_id_idx", "refresh_tokens_session_id_idx", "invites_user_pending_idx"]) {
      expect(rows).toContain(ix);
    }
  });
});
