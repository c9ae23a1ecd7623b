import { type Kysely, sql } from "kysely";

// Invites can be cancelled (their inviter left or was removed, or the inviter or owner withdrew
// them); cancelling an inviter's pending invites looks them up by chat and inviter.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table invites drop constraint invites_status_check`.execute(db);
  await sql`alter table invites add constraint invites_status_check check (status in ('pending', 'accepted', 'declined', 'cancelled'))`.execute(db);
  await sql`create index invites_inviter_pending_idx on invites (chat_id, inviter_id) where status = 'pending'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index invites_inviter_pending_idx`.execute(db);
  // Cancelled invites were never answered: the nearest earlier status is "declined".
  await sql`update invites set status = 'declined' where status = 'cancelled'`.execute(db);
  await sql`alter table invites drop constraint invites_status_check`.execute(db);
  await sql`alter table invites add constraint invites_status_check check (status in ('pending', 'accepted', 'declined'))`.execute(db);
}
