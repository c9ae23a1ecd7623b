import { type Kysely, sql } from "kysely";

// chat_changes keeps one row per thing that changed: a message's text, its reactions, its deletion
// (which also ends the other two), a member's read position. A new change deletes the row it
// supersedes in the same transaction, so the table grows with what changed, not with how often.
// A catch-up merges repeats into the latest anyway, so what it answers is the same.
// - chat_changes_message_idx: the earlier rows of a message (edits, reactions, deletion).
// - chat_changes_reader_idx: a member's earlier read move in a chat.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index chat_changes_message_idx on chat_changes (message_id, type) where type <> 'message:read'`.execute(db);
  await sql`create index chat_changes_reader_idx on chat_changes (chat_id, user_id) where type = 'message:read'`.execute(db);
  // Rows that a later one already supersedes, as the writes now leave them.
  await sql`
    delete from chat_changes c using chat_changes n
    where n.seq > c.seq and n.chat_id = c.chat_id
      and (
        (c.type = 'message:read' and n.type = 'message:read' and n.user_id = c.user_id)
        or (c.type <> 'message:read' and n.message_id = c.message_id and (n.type = c.type or n.type = 'message:deleted'))
      )`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index chat_changes_reader_idx`.execute(db);
  await sql`drop index chat_changes_message_idx`.execute(db);
}
