import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../../client/index";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi } from "../../support/fixtures";
import { chatWith, type HttpClient, type HttpResult, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import { type RedisServer, startRedisServer } from "../../support/redis-server";
import { signedUp } from "../../support/typed-client";

/** Small bounds, so each test reaches them in a few calls. */
const ENV = { CHAT_CREATE_LIMIT_PER_USER: "2", INVITE_LIMIT_PER_USER: "5", INVITES_PENDING_MAX: "3", INVITE_DECLINE_COOLDOWN: "1h" };

let tdb: TestDatabase;
let redis: RedisServer;
/** Two api replicas on one Redis: the per-user limits are counted across both. */
let one: ApiFixture;
let two: ApiFixture;
let http: HttpClient;

beforeAll(async () => {
  tdb = await createTestDatabase();
  redis = await startRedisServer();
  [one, two] = await Promise.all([startApi({ database: tdb, redisUrl: redis.url, env: ENV }), startApi({ database: tdb, redisUrl: redis.url, env: ENV })]);
  http = httpClient(one.url);
});
afterAll(async () => {
  await one?.close();
  await two?.close();
  await redis?.stop();
  await tdb?.drop();
});

const users = (n: number, prefix: string) => Promise.all(Array.from({ length: n }, (_, i) => registerAndLogin(http, `${prefix}${i}`)));
/** The same user's calls through the second replica. */
const onTwo = (u: LoggedIn) => httpClient(two.url, u.token);
const ids = (r: HttpResult) => (r.body.invites as { id: string }[]).map((i) => i.id);

function expectRateLimited(res: HttpResult, maxSeconds: number): number {
  expect(res.status).toBe(429);
  expect(res.body.code).toBe("rate_limited");
  const retryAfter = Number(res.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThan(0);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
  return retryAfter;
}

function expectTooManyInvites(res: HttpResult): void {
  expect(res.status).toBe(409);
  expect(res.body.code).toBe("too_many_invites");
  expect(res.body.detail).toMatch(/too many pending invites/);
}

async function pendingOf(userId: string): Promise<number> {
  const rows = await tdb.db.selectFrom("invites").select("id").where("user_id", "=", userId).where("status", "=", "pending").execute();
  return rows.length;
}

describe("creating chats", () => {
  it("is limited per user across api replicas: 429 rate_limited with Retry-After", async () => {
    const [alice, bob] = await users(2, "cc");
    expect((await alice!.http.post("/chats", { name: "one" })).status).toBe(201);
    expect((await onTwo(alice!).post("/chats", { name: "two" })).status).toBe(201);
    expectRateLimited(await alice!.http.post("/chats", { name: "three" }), 3600);
    expectRateLimited(await onTwo(alice!).post("/chats", { name: "three" }), 3600);
    expect((await alice!.http.get("/chats")).body.chats).toHaveLength(2);
    // Another user's count is its own.
    expect((await onTwo(bob!).post("/chats", { name: "bob's" })).status).toBe(201);
  });

  it("counts only the chats that were created", async () => {
    const [alice] = await users(1, "cr");
    for (let i = 0; i < 3; i++) expect((await alice!.http.post("/chats", { name: "x", members: ["no_such_user_zz"] })).status).toBe(400);
    expect((await alice!.http.post("/chats", { name: "one" })).status).toBe(201);
    expect((await alice!.http.post("/chats", { name: "two" })).status).toBe(201);
    expectRateLimited(await alice!.http.post("/chats", { name: "three" }), 3600);
  });
});

describe("sending invites", () => {
  it("is limited per user, and every member a new chat invites counts", async () => {
    const [alice, ...others] = await users(7, "il");
    const [m1, m2, m3, m4, m5, m6] = others as [LoggedIn, LoggedIn, LoggedIn, LoggedIn, LoggedIn, LoggedIn];
    // Three invites (alice listing herself invites nobody).
    const created = await alice!.http.post("/chats", { name: "first", members: [m1.username, m2.username, m3.username, alice!.username] });
    expect(created.status).toBe(201);
    // Three more would pass the limit of 5: refused as a whole, on the other replica too.
    expectRateLimited(await onTwo(alice!).post("/chats", { name: "second", members: [m4.username, m5.username, m6.username] }), 3600);
    expect((await alice!.http.get("/chats")).body.chats).toHaveLength(1);
    for (const m of [m4, m5, m6]) expect((await m.http.get("/invites")).body.invites).toEqual([]);
    const chatId: string = created.body.chat.id;
    expect((await alice!.http.post(`/chats/${chatId}/invites`, { username: m4.username })).status).toBe(201);
    expect((await onTwo(alice!).post(`/chats/${chatId}/invites`, { username: m5.username })).status).toBe(201);
    expectRateLimited(await alice!.http.post(`/chats/${chatId}/invites`, { username: m6.username }), 3600);
    expect((await m6.http.get("/invites")).body.invites).toEqual([]);
    // The refused chat took no chat-creation point: a second chat (inviting nobody) is still allowed.
    expect((await alice!.http.post("/chats", { name: "second" })).status).toBe(201);
  });

  it("counts only the invites that were made", async () => {
    const [alice, member, ...guests] = await users(7, "ir");
    const chatId = await chatWith(alice!, [member!]);
    // Refused invites give their point back: unknown users, members, and a caller who is not a member.
    for (let i = 0; i < 3; i++) expect((await alice!.http.post(`/chats/${chatId}/invites`, { username: "no_such_user_zz" })).status).toBe(404);
    for (let i = 0; i < 3; i++) expect((await alice!.http.post(`/chats/${chatId}/invites`, { username: member!.username })).status).toBe(409);
    const [stranger] = await users(1, "irs");
    for (let i = 0; i < 6; i++) expect((await stranger!.http.post(`/chats/${chatId}/invites`, { username: guests[0]!.username })).status).toBe(404);
    // One point went on `member`; four more invites fit.
    for (const g of guests.slice(0, 4)) expect((await alice!.http.post(`/chats/${chatId}/invites`, { username: g.username })).status).toBe(201);
    expectRateLimited(await alice!.http.post(`/chats/${chatId}/invites`, { username: guests[4]!.username }), 3600);
    // The stranger spent nothing either.
    expect((await stranger!.http.post("/chats", { name: "mine", members: guests.slice(0, 5).map((g) => g.username) })).status).toBe(201);
  });
});

describe("an invitee's pending invites", () => {
  it("are capped: a further invite is 409 too_many_invites", async () => {
    const [target, a, b, c, d] = await users(5, "pc");
    for (const inviter of [a!, b!, c!]) expect((await inviter.http.post("/chats", { name: `from ${inviter.username}`, members: [target!.username] })).status).toBe(201);
    const chatOfA: string = (await a!.http.get("/chats")).body.chats[0].id;
    // Inviting again to a chat the user already has a pending invite for is not a new invite.
    expect((await a!.http.post(`/chats/${chatOfA}/invites`, { username: target!.username })).status).toBe(201);
    const own = await d!.http.post("/chats", { name: "d's" });
    const refused = await d!.http.post(`/chats/${own.body.chat.id}/invites`, { username: target!.username });
    expectTooManyInvites(refused);
    expect(await pendingOf(target!.user.id)).toBe(3);
    // Declining one makes room for one.
    const first = (await target!.http.get("/invites")).body.invites[0];
    expect((await target!.http.post(`/invites/${first.id}/decline`)).status).toBe(204);
    expect((await d!.http.post(`/chats/${own.body.chat.id}/invites`, { username: target!.username })).status).toBe(201);
    expect(await pendingOf(target!.user.id)).toBe(3);
  });

  it("refuse a new chat as a whole when one of its members holds too many", async () => {
    const [target, other, a, b, c, d] = await users(6, "pw");
    for (const inviter of [a!, b!, c!]) expect((await inviter.http.post("/chats", { name: "x", members: [target!.username] })).status).toBe(201);
    const res = await d!.http.post("/chats", { name: "spam", members: [other!.username, target!.username] });
    expectTooManyInvites(res);
    expect(res.body.errors).toEqual([{ field: "members", message: `${target!.username} has too many pending invites` }]);
    expect((await d!.http.get("/chats")).body.chats).toEqual([]);
    expect((await other!.http.get("/invites")).body.invites).toEqual([]);
    // Nothing was counted: d may still create its two chats.
    expect((await d!.http.post("/chats", { name: "one", members: [other!.username] })).status).toBe(201);
    expect((await d!.http.post("/chats", { name: "two" })).status).toBe(201);
  });

  it("stay within the cap under a burst of parallel invites from many inviters on two replicas", async () => {
    const [target] = await users(1, "pb");
    const inviters = await users(12, "pbi");
    const chats = await Promise.all(inviters.slice(0, 6).map(async (u) => (await u.http.post("/chats", { name: "burst" })).body.chat.id as string));
    const answers = await Promise.all(
      inviters.map((u, i) => {
        const client = i % 2 === 0 ? u.http : onTwo(u);
        return i < 6 ? client.post(`/chats/${chats[i]}/invites`, { username: target!.username }) : client.post("/chats", { name: "burst", members: [target!.username] });
      }),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    for (const r of answers.filter((a) => a.status !== 201)) expectTooManyInvites(r);
    expect(await pendingOf(target!.user.id)).toBe(3);
    const listed = await target!.http.get("/invites");
    expect(listed.body.invites).toHaveLength(3);
    expect(listed.body.has_more).toBe(false);
  });
});

describe("listing invites", () => {
  it("pages GET /invites oldest first with after, limit and has_more", async () => {
    const [target, a, b, c] = await users(4, "lp");
    const sent: string[] = [];
    for (const inviter of [a!, b!, c!]) {
      const chat = (await inviter.http.post("/chats", { name: `by ${inviter.username}` })).body.chat;
      sent.push((await inviter.http.post(`/chats/${chat.id}/invites`, { username: target!.username })).body.invite.id);
    }
    const all = await target!.http.get("/invites");
    expect(all.status).toBe(200);
    expect(ids(all)).toEqual(sent);
    expect(all.body.has_more).toBe(false);
    const page1 = await target!.http.get("/invites?limit=2");
    expect([ids(page1), page1.body.has_more]).toEqual([sent.slice(0, 2), true]);
    const page2 = await target!.http.get(`/invites?after=${sent[1]}&limit=2`);
    expect([ids(page2), page2.body.has_more]).toEqual([sent.slice(2), false]);
    const empty = await target!.http.get(`/invites?after=${sent[2]}`);
    expect([ids(empty), empty.body.has_more]).toEqual([[], false]);
    // A cursor stays good after its invite was answered.
    expect((await target!.http.post(`/invites/${sent[0]}/decline`)).status).toBe(204);
    const after = await target!.http.get(`/invites?after=${sent[0]!.toUpperCase()}&limit=1`);
    expect([ids(after), after.body.has_more]).toEqual([[sent[1]], true]);
    for (const q of ["limit=0", "limit=101", "limit=abc", "limit=1.5", "after=1", "after=not-a-uuid", "limit=1&limit=2", "after=", "other=1", `after=${randomUUID()}`]) {
      const res = await target!.http.get(`/invites?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code, q).toBe("invalid_body");
    }
    // Another user's invite is no cursor for this list.
    const [someone] = await users(1, "lpx");
    expect((await someone!.http.get(`/invites?after=${sent[1]}`)).status).toBe(400);
  });

  it("pages GET /chats/:id/invites oldest first with after, limit and has_more", async () => {
    const [owner, ...guests] = await users(5, "lc");
    const chatId: string = (await owner!.http.post("/chats", { name: "paged" })).body.chat.id;
    const sent: string[] = [];
    for (const g of guests) sent.push((await owner!.http.post(`/chats/${chatId}/invites`, { username: g.username })).body.invite.id);
    const all = await owner!.http.get(`/chats/${chatId}/invites`);
    expect([ids(all), all.body.has_more]).toEqual([sent, false]);
    const page1 = await owner!.http.get(`/chats/${chatId}/invites?limit=3`);
    expect([ids(page1), page1.body.has_more]).toEqual([sent.slice(0, 3), true]);
    const page2 = await owner!.http.get(`/chats/${chatId}/invites?limit=3&after=${sent[2]}`);
    expect([ids(page2), page2.body.has_more]).toEqual([sent.slice(3), false]);
    for (const q of ["limit=0", "limit=500", "after=xyz", "foo=bar", `after=${randomUUID()}`]) {
      const res = await owner!.http.get(`/chats/${chatId}/invites?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code, q).toBe("invalid_body");
    }
    expect((await guests[0]!.http.get(`/chats/${chatId}/invites`)).status).toBe(404);
  });
});

describe("the typed client", () => {
  it("pages invites with after and limit, tells has_more, and reports the refusals", async () => {
    const [target, a, b, c] = await Promise.all(["tc", "tca", "tcb", "tcc"].map((p) => signedUp({ url: one.url }, p)));
    const sent: string[] = [];
    for (const inviter of [a!, b!, c!]) {
      const chat = await inviter.client.chats.create({ name: "typed" });
      sent.push((await inviter.client.chats.invite(chat.id, target!.user.username)).id);
    }
    // Without parameters, as before: the first page (here all of them).
    expect((await target!.client.invites.list()).map((i) => i.id)).toEqual(sent);
    expect((await target!.client.invites.list({ limit: 2 })).map((i) => i.id)).toEqual(sent.slice(0, 2));
    const first = await target!.client.invites.page({ limit: 2 });
    expect([first.invites.map((i) => i.id), first.has_more]).toEqual([sent.slice(0, 2), true]);
    const next = await target!.client.invites.page({ after: first.invites[1]!.id, limit: 2 });
    expect([next.invites.map((i) => i.id), next.has_more]).toEqual([sent.slice(2), false]);
    const chatOfA = (await a!.client.chats.list())[0]!.id;
    const ofChat = await a!.client.chats.invitesPage(chatOfA, { limit: 1 });
    expect([ofChat.invites.map((i) => i.id), ofChat.has_more]).toEqual([[sent[0]], false]);
    expect((await a!.client.chats.invites(chatOfA)).map((i) => i.id)).toEqual([sent[0]]);

    const refused = await c!.client.chats.create({ name: "more", members: [target!.user.username] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ code: "too_many_invites", status: 409 });
    await target!.client.invites.decline(sent[0]!);
    const cooling = await a!.client.chats.invite(chatOfA, target!.user.username).catch((err: unknown) => err);
    expect(cooling).toMatchObject({ code: "rate_limited", status: 429, retryAfter: expect.any(Number) });
  });
});

describe("a declined invite", () => {
  it("keeps its inviter from inviting the same user to the same chat for the cooldown", async () => {
    const [owner, member, target] = await users(3, "dc");
    const chatId = await chatWith(owner!, [member!]);
    const invite = (await owner!.http.post(`/chats/${chatId}/invites`, { username: target!.username })).body.invite;
    expect((await target!.http.post(`/invites/${invite.id}/decline`)).status).toBe(204);
    const retryAfter = expectRateLimited(await owner!.http.post(`/chats/${chatId}/invites`, { username: target!.username }), 3600);
    expect(retryAfter).toBeGreaterThan(3500);
    expectRateLimited(await onTwo(owner!).post(`/chats/${chatId}/invites`, { username: target!.username }), 3600);
    // Another inviter is not blocked, nor is the same inviter in another chat.
    const byMember = await member!.http.post(`/chats/${chatId}/invites`, { username: target!.username });
    expect(byMember.status).toBe(201);
    const other: string = (await owner!.http.post("/chats", { name: "other" })).body.chat.id;
    expect((await owner!.http.post(`/chats/${other}/invites`, { username: target!.username })).status).toBe(201);
    expect((await member!.http.delete(`/invites/${byMember.body.invite.id}`)).status).toBe(204);
    expectRateLimited(await owner!.http.post(`/chats/${chatId}/invites`, { username: target!.username }), 3600);
    // Once the cooldown has passed, the inviter may invite again.
    await tdb.db
      .updateTable("invites")
      .set({ responded_at: new Date(Date.now() - 3601_000) })
      .where("id", "=", invite.id)
      .execute();
    const again = await owner!.http.post(`/chats/${chatId}/invites`, { username: target!.username });
    expect(again.status).toBe(201);
    expect(again.body.invite.inviter.id).toBe(owner!.user.id);
  });
});
