import { type Kysely, sql } from "kysely";

// Chats, their members, invites and stored messages.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("chats")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("name", "text", (c) => c.notNull().check(sql`char_length(name) between 1 and 100`))
    .addColumn("created_by", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("chat_members")
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull().check(sql`role in ('owner', 'member')`))
    .addColumn("joined_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("chat_members_pkey", ["chat_id", "user_id"])
    .execute();
  // "Which chats is this user in" is asked on every list and handshake.
  await db.schema.createIndex("chat_members_user_id_idx").on("chat_members").column("user_id").execute();

  await db.schema
    .createTable("invites")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("inviter_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending").check(sql`status in ('pending', 'accepted', 'declined')`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("responded_at", "timestamptz")
    .execute();
  // At most one pending invite per user and chat; answered ones stay as history.
  await sql`create unique index invites_pending_key on invites (chat_id, user_id) where status = 'pending'`.execute(db);
  await sql`create index invites_user_pending_idx on invites (user_id, created_at) where status = 'pending'`.execute(db);

  await db.schema
    .createTable("messages")
    .addColumn("id", "bigint", (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("sender_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("text", "text", (c) => c.notNull().check(sql`char_length(text) between 1 and 4000`))
    .addColumn("client_id", "text", (c) => c.check(sql`char_length(client_id) between 1 and 64`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // History pages walk a chat in id order.
  await db.schema.createIndex("messages_chat_id_id_idx").on("messages").columns(["chat_id", "id"]).execute();
  // A client retrying a send with the same client_id gets the stored message back instead of a duplicate.
  await sql`create unique index messages_client_id_key on messages (chat_id, sender_id, client_id) where client_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("messages").execute();
  await db.schema.dropTable("invites").execute();
  await db.schema.dropTable("chat_members").execute();
  await db.schema.dropTable("chats").execute();
}
