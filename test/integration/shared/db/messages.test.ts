import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MessageBatch } from "../../../../gateway/chats/message-batch";
import { AppError } from "../../../../shared/contract/errors";
import { INSERT_SQL, type NewMessage, type Stored, storeMessage, storeMessages } from "../../../../shared/db/messages";
import { createTestDatabase, databaseAt, type TestDatabase } from "../../../support/database";
import { clockPasses } from "../../../support/waits";

let tdb: TestDatabase;
let alice: string;
let bob: string;
let chat: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const users = await tdb.db
    .insertInto("users")
    .values(["alice", "bob"].map((u) => ({ username: u, email: `${u}@example.test`, password_hash: "x" })))
    .returning(["id", "username"])
    .execute();
  [alice, bob] = [users.find((u) => u.username === "alice")!.id, users.find((u) => u.username === "bob")!.id];
  chat = (await tdb.db.insertInto("chats").values({ name: "batch", created_by: alice }).returning("id").executeTakeFirstOrThrow()).id;
});
afterAll(async () => {
  await tdb?.drop();
});

/** Every answer stored (none an error). */
const storeAll = async (msgs: NewMessage[]): Promise<Stored[]> =>
  (await storeMessages(tdb.db, msgs)).map((s) => {
    if (s instanceof AppError) throw s;
    return s;
  });

const count = async (clientId: string) =>
  Number((await sql<{ n: string }>`select count(*) as n from messages where client_id = ${clientId}`.execute(tdb.db)).rows[0]!.n);

describe("storeMessages (many messages in one statement)", () => {
  it("stores each in the order given, answers in that order, with ids ascending", async () => {
    const given = Array.from({ length: 40 }, (_, i) => ({ chatId: chat, senderId: i % 2 ? bob : alice, text: `batch ${i}` }));
    const stored = await storeAll(given);
    expect(stored.map((s) => s.message.text)).toEqual(given.map((g) => g.text));
    expect(stored.every((s) => s.created)).toBe(true);
    expect(stored.map((s) => s.message.sender.username)).toEqual(given.map((_, i) => (i % 2 ? "bob" : "alice")));
    const ids = stored.map((s) => BigInt(s.message.id));
    expect(ids.every((id, k) => k === 0 || id > ids[k - 1]!)).toBe(true);
  });

  it("answers a repeated client_id with the first copy, within one batch and across batches", async () => {
    const [first, again, other] = await storeAll([
      { chatId: chat, senderId: alice, text: "once", clientId: "dup-1" },
      { chatId: chat, senderId: alice, text: "once (retry)", clientId: "dup-1" },
      { chatId: chat, senderId: bob, text: "bob's own", clientId: "dup-1" },
    ]);
    expect(first!.created).toBe(true);
    expect(again).toEqual({ created: false, message: first!.message });
    expect(other!.created).toBe(true);
    const later = await storeMessage(tdb.db, { chatId: chat, senderId: alice, text: "once (late retry)", clientId: "dup-1" });
    expect(later).toEqual({ created: false, message: first!.message });
    expect(await count("dup-1")).toBe(2);
  });

  it("answers a message to a chat that is gone with not_found and stores the others", async () => {
    const gone = "00000000-0000-4000-8000-000000000001";
    const [a, lost, b] = await storeMessages(tdb.db, [
      { chatId: chat, senderId: alice, text: "kept 1" },
      { chatId: gone, senderId: alice, text: "lost" },
      { chatId: chat, senderId: bob, text: "kept 2" },
    ]);
    expect(lost).toMatchObject({ code: "not_found", status: 404 });
    expect([a, b].map((s) => !(s instanceof AppError) && s!.message.text)).toEqual(["kept 1", "kept 2"]);
  });
});

describe("storeMessages with the sender's session (the gateway's send: checked in the same statement)", () => {
  const session = async (userId: string, opts: { revoked?: boolean; expiresInMs?: number } = {}) =>
    (
      await tdb.db
        .insertInto("sessions")
        .values({ user_id: userId, expires_at: new Date(Date.now() + (opts.expiresInMs ?? 3_600_000)), revoked_at: opts.revoked ? new Date() : null })
        .returning("id")
        .executeTakeFirstOrThrow()
    ).id;

  it("stores only what a live session of a member sends, and answers each other send with its reason", async () => {
    const carol = (await tdb.db.insertInto("users").values({ username: "carol", email: "carol@example.test", password_hash: "x" }).returning("id").executeTakeFirstOrThrow()).id;
    await tdb.db.insertInto("chat_members").values([{ chat_id: chat, user_id: alice, role: "member" }]).onConflict((oc) => oc.doNothing()).execute();
    const [live, revoked, expired, notMember, othersSession, unknown] = [
      await session(alice),
      await session(alice, { revoked: true }),
      await session(alice, { expiresInMs: -1_000 }),
      await session(carol),
      await session(bob),
      "00000000-0000-4000-8000-0000000000aa",
    ];
    const answers = await storeMessages(tdb.db, [
      { chatId: chat, senderId: alice, text: "checked: live", sessionId: live, clientId: "checked-1" },
      { chatId: chat, senderId: alice, text: "checked: revoked", sessionId: revoked, clientId: "checked-2" },
      { chatId: chat, senderId: alice, text: "checked: expired", sessionId: expired, clientId: "checked-3" },
      { chatId: chat, senderId: carol, text: "checked: not a member", sessionId: notMember, clientId: "checked-4" },
      { chatId: chat, senderId: alice, text: "checked: bob's session", sessionId: othersSession, clientId: "checked-5" },
      { chatId: chat, senderId: alice, text: "checked: no such session", sessionId: unknown, clientId: "checked-6" },
      { chatId: chat, senderId: alice, text: "checked: live again", sessionId: live, clientId: "checked-7" },
    ]);
    expect(answers.map((a) => (a instanceof AppError ? a.code : a!.message.text))).toEqual([
      "checked: live",
      "session_revoked",
      "token_expired",
      "chat_forbidden",
      "session_revoked",
      "session_revoked",
      "checked: live again",
    ]);
    const stored = await sql<{ client_id: string }>`select client_id from messages where client_id like 'checked-%' order by id`.execute(tdb.db);
    expect(stored.rows.map((r) => r.client_id)).toEqual(["checked-1", "checked-7"]);
    // A retry of a stored send still answers its first copy; after a revocation it is refused.
    const [again] = await storeMessages(tdb.db, [{ chatId: chat, senderId: alice, text: "retry", sessionId: live, clientId: "checked-1" }]);
    expect(again).toMatchObject({ created: false, message: { text: "checked: live" } });
    await tdb.db.updateTable("sessions").set({ revoked_at: new Date() }).where("id", "=", live).execute();
    const [after] = await storeMessages(tdb.db, [{ chatId: chat, senderId: alice, text: "after revocation", sessionId: live }]);
    expect(after).toMatchObject({ code: "session_revoked", status: 401 });
  });
});

describe("MessageBatch (the gateway's sends from many sockets)", () => {
  it("stores concurrent sends in few statements, each once", async () => {
    // Its own pool, to count the statements it runs (kysely takes a connection per statement).
    const own = databaseAt(tdb.url);
    let statements = 0;
    own.pool.on("acquire", () => (statements += 1));
    const batch = new MessageBatch(own.db, { pool: own.pool });
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => batch.store({ chatId: chat, senderId: alice, text: `many ${i}`, clientId: `many-${i % 150}` })));
    await own.drop();
    expect(results.filter((r) => r.created)).toHaveLength(150);
    for (let i = 150; i < 200; i += 1) expect(results[i]!.message).toEqual(results[i - 150]!.message);
    expect(await count("many-7")).toBe(1);
    expect(statements).toBeGreaterThan(0);
    expect(statements).toBeLessThan(10);
  });

  it("starts statements at least 10 ms apart: sends that arrive one by one under load share them, in order", async () => {
    const own = databaseAt(tdb.url);
    let statements = 0;
    own.pool.on("acquire", () => (statements += 1));
    const batch = new MessageBatch(own.db, { pool: own.pool });
    // 60 sends, one per millisecond or so (a gateway at ~1,000 msg/s): without the interval each
    // statement answers in a millisecond or two and carries one or two of them.
    const sends: ReturnType<MessageBatch["store"]>[] = [];
    const started = performance.now();
    for (let i = 0; i < 60; i += 1) {
      sends.push(batch.store({ chatId: chat, senderId: alice, text: `paced ${i}` }));
      await clockPasses(1, "the pace of the sends: about one a millisecond");
    }
    const results = await Promise.all(sends);
    const elapsed = performance.now() - started;
    await own.drop();
    expect(statements).toBeLessThanOrEqual(Math.ceil(elapsed / 10) + 1);
    expect(statements).toBeLessThan(30);
    const ids = results.map((r) => BigInt(r.message.id));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it("retries a batch that breaks a foreign key one send at a time: only the broken send fails", async () => {
    const batch = new MessageBatch(tdb.db);
    const fine = Array.from({ length: 5 }, (_, i) => batch.store({ chatId: chat, senderId: bob, text: `fine ${i}` }));
    const broken = batch.store({ chatId: chat, senderId: "00000000-0000-4000-8000-000000000000", text: "nobody" });
    await expect(broken).rejects.toMatchObject({ code: "23503" });
    expect((await Promise.all(fine)).map((r) => r.message.text)).toEqual(["fine 0", "fine 1", "fine 2", "fine 3", "fine 4"]);
  });
});

describe("the insert's plan (its cost must not grow with the messages table)", () => {
  it("looks a repeated client_id up through its index, never by reading the whole table", async () => {
    // A table of a few thousand rows, analyzed: a plain join then read and sorted all of them.
    await sql`insert into messages (chat_id, sender_id, text, client_id)
              select ${chat}, ${bob}, 'filler ' || i, 'filler-' || i from generate_series(1, 3000) i`.execute(tdb.db);
    await sql`analyze messages`.execute(tdb.db);
    const batch = Array.from({ length: 50 }, (_, i) => ({ chatId: chat, senderId: bob, text: `again ${i}`, clientId: `filler-${i + 1}` }));
    const values = [batch.map((m) => m.chatId), batch.map((m) => m.senderId), batch.map((m) => m.text), batch.map((m) => m.clientId), batch.map(() => null)];
    const client = await tdb.pool.connect();
    try {
      await client.query("begin");
      const { rows } = await client.query<{ "QUERY PLAN": string }>(`explain (analyze, costs off, timing off) ${INSERT_SQL}`, values);
      await client.query("rollback");
      const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
      expect(plan).toContain("Conflicting Tuples: 50");
      expect(plan).toMatch(/Index Scan using messages_client_id_key on messages/);
      expect(plan).not.toMatch(/Seq Scan on messages/);
    } finally {
      client.release();
    }
    // And the answers are still the first copies.
    const again = await storeAll(batch.slice(0, 3));
    expect(again.map((s) => [s.created, s.message.text])).toEqual([[false, "filler 1"], [false, "filler 2"], [false, "filler 3"]]);
  });
});
