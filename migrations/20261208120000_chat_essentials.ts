import { type Kysely, sql } from "kysely";

// Chat essentials:
// - messages.edited_at / deleted_at: an edit keeps the id and position; a deletion leaves a
//   tombstone (text null, id and position kept).
// - chat_members.read_id: the member's read position (a message id; 0 before any), forward only.
// - message_reactions: who reacted with which emoji, gone with its message.
// - chat_changes: every edit, deletion, reaction change and read-position move of a chat, in one
//   sequence, so a reconnecting client catches up on changes from a cursor (`seq`).
// - user_blocks: who blocks whom.
// - message_reports: reports of messages, with a copy of the text as it was reported.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table messages alter column text drop not null`.execute(db);
  await sql`alter table messages drop constraint messages_text_check`.execute(db);
  await sql`alter table messages add column edited_at timestamptz`.execute(db);
  await sql`alter table messages add column deleted_at timestamptz`.execute(db);
  await sql`alter table messages add constraint messages_text_check check (case when deleted_at is null then char_length(text) between 1 and 4000 else text is null end)`.execute(db);

  await sql`alter table chat_members add column read_id bigint not null default 0`.execute(db);

  await db.schema
    .createTable("message_reactions")
    .addColumn("message_id", "bigint", (c) => c.notNull().references("messages.id").onDelete("cascade"))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("emoji", "text", (c) => c.notNull().check(sql`octet_length(emoji) between 1 and 64`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("message_reactions_pkey", ["message_id", "emoji", "user_id"])
    .execute();

  await db.schema
    .createTable("chat_changes")
    .addColumn("seq", "bigint", (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("type", "text", (c) => c.notNull().check(sql`type in ('message:updated', 'message:deleted', 'message:reactions', 'message:read')`))
    .addColumn("message_id", "bigint", (c) => c.notNull())
    // Who made the change (the reader of a read-position move, the reactor, the editor or deleter).
    .addColumn("user_id", "uuid", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // A catch-up walks one chat's changes in sequence order.
  await db.schema.createIndex("chat_changes_chat_seq_idx").on("chat_changes").columns(["chat_id", "seq"]).execute();

  await db.schema
    .createTable("user_blocks")
    .addColumn("blocker_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("blocked_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("user_blocks_pkey", ["blocker_id", "blocked_id"])
    .addCheckConstraint("user_blocks_not_self", sql`blocker_id <> blocked_id`)
    .execute();
  // "Does anyone block this user" (invites, chat creation).
  await db.schema.createIndex("user_blocks_blocked_idx").on("user_blocks").column("blocked_id").execute();

  await db.schema
    .createTable("message_reports")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("message_id", "bigint", (c) => c.notNull().references("messages.id").onDelete("cascade"))
    .addColumn("sender_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    // The text as it was when reported (an edit or a deletion does not change what was reported).
    .addColumn("text", "text")
    .addColumn("reporter_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("reason", "text", (c) => c.notNull().check(sql`char_length(reason) between 1 and 1000`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("resolved_at", "timestamptz")
    .addColumn("resolved_by", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("resolution", "text", (c) => c.check(sql`char_length(resolution) <= 1000`))
    .execute();
  // One report per message and reporter: reporting again returns the first.
  await sql`create unique index message_reports_once on message_reports (message_id, reporter_id)`.execute(db);
  await sql`create index message_reports_chat_idx on message_reports (chat_id, created_at)`.execute(db);
  await sql`create index message_reports_open_idx on message_reports (created_at) where resolved_at is null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("message_reports").execute();
  await db.schema.dropTable("user_blocks").execute();
  await db.schema.dropTable("chat_changes").execute();
  await db.schema.dropTable("message_reactions").execute();
  await sql`alter table chat_members drop column read_id`.execute(db);
  await sql`delete from messages where deleted_at is not null`.execute(db);
  await sql`alter table messages drop constraint messages_text_check`.execute(db);
  await sql`alter table messages drop column deleted_at, drop column edited_at`.execute(db);
  await sql`alter table messages alter column text set not null`.execute(db);
  await sql`alter table messages add constraint messages_text_check check (char_length(text) between 1 and 4000)`.execute(db);
}
