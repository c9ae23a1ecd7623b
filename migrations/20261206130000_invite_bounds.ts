import { type Kysely, sql } from "kysely";

// After a decline, the same inviter may not invite the same user to the same chat again for a
// while: the invite path looks up that inviter's latest declined invite of the pair.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index invites_declined_idx on invites (chat_id, user_id, inviter_id, responded_at) where status = 'declined'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index invites_declined_idx`.execute(db);
}
