import { sql } from "kysely";
import type { PoolClient } from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatSummaryView, MessageView } from "../../../shared/contract/views";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { type HttpClient, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";

/**
 * GET /chats lists every chat of the caller with its unread count, read position and last message
 * in one statement, however many chats: counted here on the api's own connection pool (without
 * Redis the api fixture runs on this file's database handles), so one query per chat would show as
 * hundreds of statements.
 */

let tdb: TestDatabase;
let server: ApiFixture;
let http: HttpClient;

/** The SQL text of every statement the api's pool runs while `counting`. */
const statements: string[] = [];
let counting = false;

beforeAll(async () => {
  tdb = await createTestDatabase();
  // Every statement goes through a client checked out of the pool (kysely, pool.query and
  // transactions alike): wrap each client's query() once, at its first checkout.
  const wrapped = new WeakSet<PoolClient>();
  tdb.pool.on("acquire", (client: PoolClient) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      if (counting) {
        const first = args[0] as string | { text?: string } | undefined;
        statements.push(typeof first === "string" ? first : (first?.text ?? "(no text)"));
      }
      return query(...args);
    };
  });
  server = await startApi({ database: tdb });
  http = httpClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});

/** The statements `work` makes the api run. */
async function statementsOf<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  statements.length = 0;
  counting = true;
  try {
    const result = await work();
    return { result, statements: [...statements] };
  } finally {
    counting = false;
  }
}

const CHATS = 500;
const CAP = 1_000;

describe("GET /chats with 500 chats", () => {
  it("answers every chat's unread count, read position and last message in one statement", async () => {
    const [me, other, blocked] = (await Promise.all(["lme", "lother", "lblocked"].map((p) => registerAndLogin(http, p)))) as [LoggedIn, LoggedIn, LoggedIn];
    const db = tdb.db;
    // 500 chats of `other`'s, each with `me` as a member: first my message, then 1 to 7 of other's (all unread).
    const chats = (
      await sql<{ id: string }>`
        with c as (insert into chats (name, created_by) select 'chat ' || lpad(g::text, 3, '0'), ${other.user.id}::uuid from generate_series(1, ${CHATS}) g returning id, name),
        m as (insert into chat_members (chat_id, user_id, role) select id, ${other.user.id}::uuid, 'owner' from c union all select id, ${me.user.id}::uuid, 'member' from c)
        select id from c order by name`.execute(db)
    ).rows.map((r) => r.id);
    await sql`insert into messages (chat_id, sender_id, text) select c, ${me.user.id}::uuid, 'mine' from unnest(${chats}::uuid[]) c`.execute(db);
    await sql`
      insert into messages (chat_id, sender_id, text)
      select c.id, ${other.user.id}::uuid, 'theirs ' || k from unnest(${chats}::uuid[]) with ordinality as c(id, n), generate_series(1, 7) k
      where k <= (c.n % 7) + 1 order by c.n, k`.execute(db);
    const idsIn = async (chat: string, sender: string) =>
      (await sql<{ id: string }>`select id::text as id from messages where chat_id = ${chat} and sender_id = ${sender} order by messages.id`.execute(db)).rows.map((r) => r.id);

    // Chats that are not like the others:
    const [readHalf, withDeleted, overCap, withBlocked, ownLast, deletedLast] = chats.slice(0, 6) as [string, string, string, string, string, string];
    // read up to other's 1st message (through the api): the rest is unread
    const theirs = await idsIn(readHalf, other.user.id);
    expect((await me.http.put(`/chats/${readHalf}/read`, { message_id: theirs[0]! })).body).toEqual({ chat_id: readHalf, message_id: theirs[0]! });
    // one of other's messages deleted: not counted
    const toDelete = (await idsIn(withDeleted, other.user.id))[0]!;
    expect((await other.http.delete(`/chats/${withDeleted}/messages/${toDelete}`)).status).toBe(204);
    // more than the cap
    await sql`insert into messages (chat_id, sender_id, text) select ${overCap}::uuid, ${other.user.id}::uuid, 'many ' || g from generate_series(1, ${CAP + 5}) g`.execute(db);
    // the newest messages from a user I block: neither counted nor the last message
    await sql`insert into chat_members (chat_id, user_id, role) values (${withBlocked}, ${blocked.user.id}, 'member')`.execute(db);
    await sql`insert into messages (chat_id, sender_id, text) select ${withBlocked}::uuid, ${blocked.user.id}::uuid, 'blocked ' || g from generate_series(1, 3) g`.execute(db);
    expect((await me.http.put(`/me/blocks/${blocked.user.id}`)).status).toBe(200);
    // my own message last: the last message, not unread
    expect((await me.http.post(`/chats/${ownLast}/messages`, { text: "my last word" })).status).toBe(201);
    // the newest message deleted: a tombstone, as history shows it
    const gone = await other.http.post(`/chats/${deletedLast}/messages`, { text: "regretted" });
    expect((await other.http.delete(`/chats/${deletedLast}/messages/${gone.body.message.id}`)).status).toBe(204);

    const started = Date.now();
    const { result: res, statements: ran } = await statementsOf(() => me.http.get<{ chats: ChatSummaryView[] }>("/chats"));
    const took = Date.now() - started;
    expect(res.status).toBe(200);
    const listed = res.body.chats;
    expect(listed).toHaveLength(CHATS);
    console.info(`GET /chats, ${CHATS} chats: ${took} ms, ${ran.length} statements:\n${ran.map((s) => `  ${s.replace(/\s+/g, " ").slice(0, 140)}`).join("\n")}`);
    // One statement reads the chats with their messages; besides it only the session check of the request.
    expect(ran.filter((s) => /\bmessages\b/.test(s)), "statements that read messages").toHaveLength(1);
    expect(ran.length, ran.join("\n---\n")).toBeLessThanOrEqual(3);

    // The expected numbers, from the rows themselves.
    const rows = (
      await sql<{ chat_id: string; id: string; sender_id: string; deleted: boolean }>`
        select chat_id, id::text as id, sender_id, deleted_at is not null as deleted from messages where chat_id = any(${chats}::uuid[]) order by messages.id`.execute(db)
    ).rows;
    const reads = new Map(
      (await sql<{ chat_id: string; read_id: string }>`select chat_id, read_id::text as read_id from chat_members where user_id = ${me.user.id}`.execute(db)).rows.map((r) => [r.chat_id, r.read_id]),
    );
    const byChat = new Map<string, typeof rows>();
    for (const r of rows) byChat.set(r.chat_id, [...(byChat.get(r.chat_id) ?? []), r]);
    const unreadOf = (chat: string) =>
      Math.min(CAP, byChat.get(chat)!.filter((m) => m.sender_id === other.user.id && !m.deleted && BigInt(m.id) > BigInt(reads.get(chat)!)).length);
    const lastOf = (chat: string) => byChat.get(chat)!.filter((m) => m.sender_id !== blocked.user.id).at(-1)!.id;
    const got = new Map(listed.map((c) => [c.id, c]));
    const mismatches = chats.flatMap((chat) => {
      const c = got.get(chat);
      const want = { unread_count: unreadOf(chat), last: lastOf(chat), read: reads.get(chat) === "0" ? null : reads.get(chat) };
      const have = { unread_count: c?.unread_count, last: c?.last_message?.id, read: c?.read_message_id };
      return JSON.stringify(want) === JSON.stringify(have) ? [] : [{ chat, want, have }];
    });
    expect(mismatches).toEqual([]);

    // The special ones, by name.
    expect(got.get(readHalf)).toMatchObject({ read_message_id: theirs[0], unread_count: theirs.length - 1 });
    expect(got.get(overCap)!.unread_count).toBe(CAP);
    expect(got.get(withBlocked)!.last_message).toMatchObject({ sender: { id: other.user.id } });
    expect(got.get(ownLast)!.last_message).toMatchObject({ text: "my last word", sender: { id: me.user.id } });
    expect(got.get(deletedLast)!.last_message).toMatchObject({ id: gone.body.message.id, deleted: true, text: "" });
    // The last message is the newest one history shows the caller, as history shows it.
    for (const chat of [...chats.slice(0, 6), ...chats.slice(-10)]) {
      const [newest] = (await me.http.get<{ messages: MessageView[] }>(`/chats/${chat}/messages?limit=1`)).body.messages;
      expect(got.get(chat)!.last_message, chat).toEqual(newest);
    }
    // Blocking is the blocker's: the chat's owner counts the blocked user's messages.
    const owners = (await other.http.get<{ chats: ChatSummaryView[] }>("/chats")).body.chats;
    expect(owners.find((c) => c.id === withBlocked)).toMatchObject({ unread_count: 4, last_message: { text: "blocked 3" } });
  }, 60_000);
});
