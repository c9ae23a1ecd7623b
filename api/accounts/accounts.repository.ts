import { sql } from "kysely";
import type { Db } from "../../shared/db/db";
import type { UserRow } from "../../shared/db/schema";
import { inTransaction, userRegistered } from "../../shared/webhooks/events";

/** A new account, and its `user.registered` webhook event in the same transaction. */
export async function insertUser(db: Db, user: { username: string; email: string; password_hash: string }): Promise<UserRow> {
  return inTransaction(db, async (trx) => {
    const row = await trx.insertInto("users").values(user).returningAll().executeTakeFirstOrThrow();
    await userRegistered(trx, row);
    return row;
  });
}

/** Which of username / email is already taken, case-insensitively. */
export async function findTaken(db: Db, username: string, email: string): Promise<{ username: boolean; email: boolean }> {
  const rows = await db
    .selectFrom("users")
    .select(["username", "email"])
    .where((eb) => eb.or([eb(sql`lower(username)`, "=", username.toLowerCase()), eb(sql`lower(email)`, "=", email.toLowerCase())]))
    .execute();
  return {
    username: rows.some((r) => r.username.toLowerCase() === username.toLowerCase()),
    email: rows.some((r) => r.email?.toLowerCase() === email.toLowerCase()),
  };
}

/** By username, or by email when the identifier holds an `@` (usernames cannot). */
export async function findByLogin(db: Db, identifier: string): Promise<UserRow | undefined> {
  const column = identifier.includes("@") ? sql`lower(email)` : sql`lower(username)`;
  return db.selectFrom("users").selectAll().where(column, "=", identifier.toLowerCase()).executeTakeFirst();
}

export async function findById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
}

export async function findByUsernames(db: Db, usernames: string[]): Promise<Pick<UserRow, "id" | "username">[]> {
  if (usernames.length === 0) return [];
  return db
    .selectFrom("users")
    .select(["id", "username"])
    .where(
      sql`lower(username)`,
      "in",
      usernames.map((u) => u.toLowerCase()),
    )
    .execute();
}
