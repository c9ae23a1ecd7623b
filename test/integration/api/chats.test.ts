import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ControlEvent } from "../../../shared/control/events";
import { createTestDatabase, type TestDatabase } from "../../support/database";
import { type ApiFixture, startApi, startGateway } from "../../support/fixtures";
import { ask, SocketClients } from "../../support/socket-client";
import { collect, eventually } from "../../support/waits";
import { chatWith, type HttpClient, httpClient, registerAndLogin } from "../../support/http";

let tdb: TestDatabase;
let server: ApiFixture;
let http: HttpClient;
const events: ControlEvent[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
  server = await startApi({ database: tdb });
  server.bus.subscribe((e) => events.push(e));
  http = httpClient(server.url);
});
afterAll(async () => {
  await server?.close();
  await tdb?.drop();
});


describe("chats", () => {
  it("creates a chat with the caller as owner and invites the listed users", async () => {
    const owner = await registerAndLogin(http, "owner");
    const bob = await registerAndLogin(http, "bob");
    const res = await owner.http.post("/chats", { name: "Team ☕", members: [bob.username.toUpperCase(), owner.username] });
    expect(res.status).toBe(201);
    expect(res.body.chat).toMatchObject({ name: "Team ☕", created_by: owner.user.id });
    const detail = await owner.http.get(`/chats/${res.body.chat.id}`);
    expect(detail.body.members).toEqual([expect.objectContaining({ user_id: owner.user.id, username: owner.username, role: "owner", read_message_id: null })]);
    const invites = await bob.http.get("/invites");
    expect(invites.body.invites).toEqual([
      {
        id: expect.any(String),
        chat: { id: res.body.chat.id, name: "Team ☕" },
        inviter: { id: owner.user.id, username: owner.username },
        user: { id: bob.user.id, username: bob.username },
        created_at: expect.any(String),
      },
    ]);
    expect((await owner.http.get("/chats")).body.chats.map((c: { id: string }) => c.id)).toContain(res.body.chat.id);
    expect((await bob.http.get("/chats")).body.chats).toEqual([]);
  });

  it("refuses unknown members in a new chat", async () => {
    const owner = await registerAndLogin(http, "unk");
    const res = await owner.http.post("/chats", { name: "x", members: ["nobody_like_this"] });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe("invalid_body");
    expect(res.body.errors[0].field).toBe("members");
  });

  it("hides a chat from non-members as 404", async () => {
    const owner = await registerAndLogin(http, "hide");
    const outsider = await registerAndLogin(http, "outsider");
    const chatId = await chatWith(owner, []);
    for (const res of [
      await outsider.http.get(`/chats/${chatId}`),
      await outsider.http.get(`/chats/${chatId}/messages`),
      await outsider.http.post(`/chats/${chatId}/messages`, { text: "hi" }),
      await outsider.http.post(`/chats/${chatId}/invites`, { username: outsider.username }),
      await outsider.http.delete(`/chats/${chatId}/members/${owner.user.id}`),
      await owner.http.get(`/chats/${randomUUID()}`),
      await owner.http.get("/chats/not-a-uuid"),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.code).toBe("not_found");
    }
  });

  it("requires a token for every chat call", async () => {
    for (const res of [await http.get("/chats"), await http.post("/chats", { name: "x" }), await http.get("/invites")]) {
      expect(res.status).toBe(401);
      expect(res.body.code).toBe("unauthorized");
    }
  });
});

describe("invites", () => {
  it("lets any member invite, and refuses members with 409 already_member", async () => {
    const owner = await registerAndLogin(http, "inv-o");
    const member = await registerAndLogin(http, "inv-m");
    const guest = await registerAndLogin(http, "inv-g");
    const chatId = await chatWith(owner, [member]);
    const res = await member.http.post(`/chats/${chatId}/invites`, { username: guest.username });
    expect(res.status).toBe(201);
    expect(res.body.invite).toMatchObject({ chat: { id: chatId }, inviter: { id: member.user.id } });
    // Inviting again while pending returns the same invite: one pending invite per user and chat.
    const again = await owner.http.post(`/chats/${chatId}/invites`, { username: guest.username });
    expect(again.body.invite.id).toBe(res.body.invite.id);
    const dup = await owner.http.post(`/chats/${chatId}/invites`, { username: member.username });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe("already_member");
    expect((await owner.http.post(`/chats/${chatId}/invites`, { username: "no_such_user_zz" })).status).toBe(404);
  });

  it("accepts and declines only the caller's own pending invites", async () => {
    const owner = await registerAndLogin(http, "acc-o");
    const a = await registerAndLogin(http, "acc-a");
    const b = await registerAndLogin(http, "acc-b");
    const created = await owner.http.post("/chats", { name: "acc", members: [a.username, b.username] });
    const chatId = created.body.chat.id;
    const invA = (await a.http.get("/invites")).body.invites[0];
    const invB = (await b.http.get("/invites")).body.invites[0];
    expect((await b.http.post(`/invites/${invA.id}/accept`)).status).toBe(404);
    const accepted = await a.http.post(`/invites/${invA.id}/accept`);
    expect(accepted.status).toBe(200);
    expect(accepted.body.chat.id).toBe(chatId);
    expect((await a.http.post(`/invites/${invA.id}/accept`)).status).toBe(404);
    expect((await b.http.post(`/invites/${invB.id}/decline`)).status).toBe(204);
    expect((await b.http.get("/invites")).body.invites).toEqual([]);
    expect((await b.http.get(`/chats/${chatId}`)).status).toBe(404);
    const members = (await a.http.get(`/chats/${chatId}`)).body.members;
    expect(members.map((m: { user_id: string; role: string }) => [m.user_id, m.role])).toEqual([
      [owner.user.id, "owner"],
      [a.user.id, "member"],
    ]);
    // A declined user can be invited again, though not at once by the inviter it declined (test/integration/api/invite-limits.test.ts).
    const again = await owner.http.post(`/chats/${chatId}/invites`, { username: b.username });
    expect([again.status, again.body.code]).toEqual([429, "rate_limited"]);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await a.http.post(`/chats/${chatId}/invites`, { username: b.username })).status).toBe(201);
  });
});

describe("a chat's pending invites", () => {
  it("lists them to members only, and lets the inviter or the owner withdraw one", async () => {
    const [owner, member, x, y, z] = await Promise.all(["ci-o", "ci-m", "ci-x", "ci-y", "ci-z"].map((p) => registerAndLogin(http, p)));
    const chatId = await chatWith(owner!, [member!]);
    const toX = (await member!.http.post(`/chats/${chatId}/invites`, { username: x!.username })).body.invite;
    const toY = (await member!.http.post(`/chats/${chatId}/invites`, { username: y!.username })).body.invite;
    const listed = await member!.http.get(`/chats/${chatId}/invites`);
    expect(listed.status).toBe(200);
    expect(listed.body.invites).toEqual([
      expect.objectContaining({ id: toX.id, user: { id: x!.user.id, username: x!.username }, inviter: { id: member!.user.id, username: member!.username } }),
      expect.objectContaining({ id: toY.id, user: { id: y!.user.id, username: y!.username } }),
    ]);
    expect((await z!.http.get(`/chats/${chatId}/invites`)).status).toBe(404);
    // Nobody else withdraws an invite: not the invited user, not a stranger.
    expect((await x!.http.delete(`/invites/${toX.id}`)).status).toBe(404);
    expect((await z!.http.delete(`/invites/${toX.id}`)).status).toBe(404);
    expect((await member!.http.delete(`/invites/${toX.id}`)).status).toBe(204);
    expect((await owner!.http.delete(`/invites/${toY.id}`)).status).toBe(204);
    expect((await owner!.http.delete(`/invites/${toY.id}`)).status).toBe(404);
    expect((await owner!.http.get(`/chats/${chatId}/invites`)).body.invites).toEqual([]);
    expect((await x!.http.post(`/invites/${toX.id}/accept`)).status).toBe(404);
    expect((await y!.http.get("/invites")).body.invites).toEqual([]);
  });

  it("cancels the invites of a member who leaves on its own", async () => {
    const [owner, member, friend] = await Promise.all(["lf-o", "lf-m", "lf-f"].map((p) => registerAndLogin(http, p)));
    const chatId = await chatWith(owner!, [member!]);
    const invite = (await member!.http.post(`/chats/${chatId}/invites`, { username: friend!.username })).body.invite;
    const fromOwner = (await owner!.http.post(`/chats/${chatId}/invites`, { username: friend!.username })).body.invite;
    expect(fromOwner.id).toBe(invite.id); // one pending invite per user and chat
    expect((await member!.http.delete(`/chats/${chatId}/members/${member!.user.id}`)).status).toBe(204);
    expect((await friend!.http.post(`/invites/${invite.id}/accept`)).status).toBe(404);
    // The owner may invite again; that invite is the owner's.
    const again = (await owner!.http.post(`/chats/${chatId}/invites`, { username: friend!.username })).body.invite;
    expect(again.inviter.id).toBe(owner!.user.id);
    expect((await friend!.http.post(`/invites/${again.id}/accept`)).status).toBe(200);
  });
});

describe("member removal", () => {
  it("lets the owner remove anyone and a member only itself, and tells the gateways", async () => {
    const owner = await registerAndLogin(http, "rm-o");
    const a = await registerAndLogin(http, "rm-a");
    const b = await registerAndLogin(http, "rm-b");
    const chatId = await chatWith(owner, [a, b]);
    const forbidden = await a.http.delete(`/chats/${chatId}/members/${b.user.id}`);
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe("forbidden");
    expect((await owner.http.delete(`/chats/${chatId}/members/${b.user.id}`)).status).toBe(204);
    expect(events).toContainEqual({ type: "member_removed", chat_id: chatId, user_id: b.user.id });
    expect((await b.http.get(`/chats/${chatId}`)).status).toBe(404);
    expect((await a.http.delete(`/chats/${chatId}/members/${a.user.id}`)).status).toBe(204);
    expect((await owner.http.delete(`/chats/${chatId}/members/${a.user.id}`)).status).toBe(404);
  });

  it("passes ownership on when the owner leaves", async () => {
    const owner = await registerAndLogin(http, "lv-o");
    const a = await registerAndLogin(http, "lv-a");
    const chatId = await chatWith(owner, [a]);
    expect((await owner.http.delete(`/chats/${chatId}/members/${owner.user.id}`)).status).toBe(204);
    const detail = await a.http.get(`/chats/${chatId}`);
    expect(detail.body.members).toEqual([expect.objectContaining({ user_id: a.user.id, role: "owner" })]);
  });
});

describe("messages", () => {
  it("stores a posted message, returns it and publishes it to the chat's sockets", async () => {
    const owner = await registerAndLogin(http, "msg-o");
    const chatId = await chatWith(owner, []);
    // A gateway on the api's bus (without Redis the api publishes through it, as npm start's one process does).
    const gateway = await startGateway({ database: tdb, bus: server.bus });
    const sockets = new SocketClients();
    const socket = await sockets.connect(gateway.url, { token: owner.token, chatId });
    const heard = collect(socket, "message:new");
    const res = await owner.http.post(`/chats/${chatId}/messages`, { text: "héllo 👋", client_id: "c-1" });
    expect(res.status).toBe(201);
    expect(res.body.message).toEqual({
      id: expect.stringMatching(/^\d+$/),
      chat_id: chatId,
      sender: { id: owner.user.id, username: owner.username },
      text: "héllo 👋",
      client_id: "c-1",
      created_at: expect.any(String),
      edited_at: null,
      deleted: false,
      reactions: [],
    });
    // A retry with the same client_id returns the stored message rather than a duplicate.
    const retry = await owner.http.post(`/chats/${chatId}/messages`, { text: "héllo 👋", client_id: "c-1" });
    expect(retry.status).toBe(201);
    expect(retry.body.message.id).toBe(res.body.message.id);
    expect((await owner.http.get(`/chats/${chatId}/messages`)).body.messages).toHaveLength(1);
    // Published once: the retry stored nothing and publishes nothing.
    await eventually(() => heard.length === 1, 5_000, "the message on the socket");
    await ask(socket, "chat:presence", { chat_id: chatId }); // a round trip after which a second copy would have come
    expect(heard).toEqual([res.body.message]);
    sockets.closeAll();
    await gateway.close();
  });

  it("pages history with before, after and limit", async () => {
    const owner = await registerAndLogin(http, "page");
    const chatId = await chatWith(owner, []);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await owner.http.post(`/chats/${chatId}/messages`, { text: `m${i}` })).body.message.id);
    const texts = (r: { body: { messages: { text: string }[] } }) => r.body.messages.map((m) => m.text);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages`))).toEqual(["m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages?limit=2`))).toEqual(["m6", "m5"]);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages?before=${ids[2]}`))).toEqual(["m1", "m0"]);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages?after=${ids[4]}`))).toEqual(["m5", "m6"]);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages?after=${ids[0]}&limit=3`))).toEqual(["m1", "m2", "m3"]);
    expect(texts(await owner.http.get(`/chats/${chatId}/messages?after=${ids[1]}&before=${ids[4]}`))).toEqual(["m2", "m3"]);
    for (const q of ["limit=0", "limit=101", "limit=abc", "before=-1", "after=1.5", "before=99999999999999999999", "limit=1&limit=2", "other=1"]) {
      const res = await owner.http.get(`/chats/${chatId}/messages?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.code).toBe("invalid_body");
    }
  });

  it("limits text to 1 to 4000 characters, counted as characters", async () => {
    const owner = await registerAndLogin(http, "len");
    const chatId = await chatWith(owner, []);
    expect((await owner.http.post(`/chats/${chatId}/messages`, { text: "😀".repeat(4000) })).status).toBe(201);
    expect((await owner.http.post(`/chats/${chatId}/messages`, { text: "x".repeat(4001) })).status).toBe(400);
    expect((await owner.http.post(`/chats/${chatId}/messages`, { text: "" })).status).toBe(400);
  });
});
