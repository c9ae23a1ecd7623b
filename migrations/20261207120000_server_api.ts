import { type Kysely, sql } from "kysely";

/** The sender of server API messages that name no bot (see shared/db/system-user.ts). */
const SYSTEM_USER_ID = "00000000-0000-0000-0000-000000000000";

// The server API (the app's own backend):
// - server_keys: API keys, stored only as the SHA-256 of the key; scopes; revocable.
// - users.external_id: the app's own id for accounts it manages (no password, maybe no email).
// - users.banned_until / ban_reason: a ban ('infinity' until lifted) refuses login, refresh and handshakes.
// - server_idempotency: a message's idempotency key, per chat, for 24 h.
// - the system user, sender of server messages that name no bot. Its name is "system" unless an
//   account took that name before; it has no password and cannot log in.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("server_keys")
    .addColumn("id", "uuid", (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn("name", "text", (c) => c.notNull().check(sql`char_length(name) between 1 and 64`))
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("key_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_used_at", "timestamptz")
    .addColumn("revoked_at", "timestamptz")
    .execute();

  await sql`alter table users alter column password_hash drop not null`.execute(db);
  await sql`alter table users alter column email drop not null`.execute(db);
  await sql`alter table users add column external_id text check (char_length(external_id) between 1 and 128)`.execute(db);
  await sql`create unique index users_external_id_key on users (external_id) where external_id is not null`.execute(db);
  await sql`alter table users add column banned_until timestamptz`.execute(db);
  await sql`alter table users add column ban_reason text`.execute(db);

  await db.schema
    .createTable("server_idempotency")
    .addColumn("chat_id", "uuid", (c) => c.notNull().references("chats.id").onDelete("cascade"))
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("request_hash", "text", (c) => c.notNull())
    .addColumn("message_id", "bigint", (c) => c.references("messages.id").onDelete("cascade"))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("server_idempotency_pkey", ["chat_id", "key"])
    .execute();
  await db.schema.createIndex("server_idempotency_created_idx").on("server_idempotency").column("created_at").execute();

  await sql`
    insert into users (id, username, email, password_hash)
    select ${SYSTEM_USER_ID}::uuid,
           case when exists (select 1 from users where lower(username) = 'system') then 'system-' || substr(md5(random()::text), 1, 6) else 'system' end,
           null, null
    on conflict (id) do nothing`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`delete from users where id = ${SYSTEM_USER_ID}::uuid`.execute(db);
  await db.schema.dropTable("server_idempotency").execute();
  await sql`alter table users drop column ban_reason, drop column banned_until, drop column external_id`.execute(db);
  await db.schema.dropTable("server_keys").execute();
}
