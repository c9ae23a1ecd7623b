/**
 * What a run needs around the processes: its own PostgreSQL database (created, migrated, seeded,
 * dropped), its own redis-server, and the sessions and tokens the load generators present.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import pino from "pino";
import { createDb, type Db } from "../../shared/db/db";
import { migrateToLatest } from "../../shared/db/migrate";
import type { TokenSigner } from "../../shared/auth/tokens";

export const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `wsac_bench_${randomBytes(5).toString("hex")}`;
  await admin(`create database ${name}`);
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const logger = pino({ level: "silent" });
  const { db, pool } = createDb({ url: url.toString(), logger, max: 4 });
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await db.destroy().catch(() => undefined);
    await admin(`drop database if exists ${name} with (force)`);
  };
  try {
    await migrateToLatest({ db, pool }, logger);
  } catch (err) {
    await drop();
    throw err;
  }
  return { name, url: url.toString(), db, drop };
}

export interface Seeded {
  userId: string;
  sessionId: string;
  token: string;
}

/**
 * `count` users, each with one live session and a token for it (signed as the api signs them),
 * inserted in one statement each (a login per session would cost an argon2 verification).
 * With `chats`, user i is a member of chat i % chats (returned in `chatIds`).
 */
export async function seed(
  url: string,
  tokens: TokenSigner,
  prefix: string,
  count: number,
  chats = 0,
): Promise<{ users: Seeded[]; chatIds: string[]; chatOf: (i: number) => string | undefined }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ user_id: string; session_id: string; expires_at: Date; n: number }>(
      `with u as (
         insert into users (username, email, password_hash)
         select $1 || i, $1 || i || '@bench.test', 'not-a-hash' from generate_series(1, $2::int) i
         returning id, username
       ), s as (
         insert into sessions (user_id, user_agent, ip, expires_at)
         select id, 'bench', '127.0.0.1', now() + interval '1 day' from u
         returning id, user_id, expires_at
       )
       select s.user_id, s.id as session_id, s.expires_at, substr(u.username, length($1) + 1)::int as n
       from s join u on u.id = s.user_id order by n`,
      [prefix, count],
    );
    const users = rows.map((r) => ({ userId: r.user_id, sessionId: r.session_id, token: tokens.sign(r.user_id, r.session_id, r.expires_at).token }));
    const chatIds: string[] = [];
    if (chats > 0) {
      const created = await client.query<{ id: string }>(
        `insert into chats (name, created_by) select $1 || i, $2 from generate_series(1, $3::int) i returning id`,
        [`${prefix}chat`, users[0]!.userId, chats],
      );
      chatIds.push(...created.rows.map((r) => r.id));
      await client.query(
        `insert into chat_members (chat_id, user_id, role)
         select ($2::uuid[])[((i - 1) % $3) + 1], ($1::uuid[])[i], 'member' from generate_series(1, array_length($1::uuid[], 1)) i`,
        [users.map((u) => u.userId), chatIds, chats],
      );
    }
    return { users, chatIds, chatOf: (i) => (chats > 0 ? chatIds[i % chats] : undefined) };
  } finally {
    await client.end();
  }
}

/**
 * `count` messages of `length` characters from `senderId` in `chatId`, after one short marker
 * message; returns the marker's id (`after` for a `chat:join` that brings back all of them; a
 * message id is a positive decimal, so "0" would not do) and the ids stored.
 */
export async function seedMessages(url: string, chatId: string, senderId: string, count: number, length: number): Promise<{ after: string; ids: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const marker = await client.query<{ id: string }>(`insert into messages (chat_id, sender_id, text) values ($1, $2, 'bench marker') returning id::text as id`, [chatId, senderId]);
    const { rows } = await client.query<{ id: string }>(
      `insert into messages (chat_id, sender_id, text)
       select $1, $2, left(repeat(md5(i::text) || ' ', ($4::int / 33) + 1), $4::int) from generate_series(1, $3::int) i
       returning id::text as id`,
      [chatId, senderId, count, length],
    );
    return { after: marker.rows[0]!.id, ids: rows.map((r) => r.id) };
  } finally {
    await client.end();
  }
}
