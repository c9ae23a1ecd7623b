import { type Kysely, sql } from "kysely";

// A user's session epoch: bumped by a password change and by "log out everywhere". A login
// creates its session only under the epoch its password was checked against, so a login that
// was in flight during the change cannot leave a session behind it.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table users add column session_epoch integer not null default 0`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table users drop column session_epoch`.execute(db);
}
