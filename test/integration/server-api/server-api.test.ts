import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServerKey, revokeServerKey } from "../../../api/server-api/server-keys";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, type HttpClient, httpClient as http, type LoggedIn, registerAndLogin } from "../../support/http";
import { ask, type ClientSocket, type SocketClients } from "../../support/socket-client";
import { clockPasses, collect, disconnected, eventually, nextEvent } from "../../support/waits";

let cluster: InProcessCluster;
let gateways: GatewayFixture[];
let sockets: SocketClients;
let alice: LoggedIn;
let bob: LoggedIn;
let chatId: string;
/** Clients holding a server key of each scope, and one with every scope. */
let publisher: HttpClient;
let moderator: HttpClient;
let reader: HttpClient;
let admin: HttpClient;

const api = () => http(cluster.api.url);
const keyed = async (scopes: ("publish" | "moderate" | "read")[]) => api().as((await createServerKey(cluster.database.db, `test-${scopes.join("-")}`, scopes)).key);

beforeAll(async () => {
  cluster = await startInProcessCluster(3);
  ({ gateways, sockets } = cluster);
  [alice, bob] = (await Promise.all(["alice", "bob"].map((p) => registerAndLogin(api(), p)))) as [LoggedIn, LoggedIn];
  chatId = await chatWith(alice, [bob]);
  [publisher, moderator, reader, admin] = await Promise.all([keyed(["publish"]), keyed(["moderate"]), keyed(["read"]), keyed(["publish", "moderate", "read"])]);
});

afterAll(async () => {
  await cluster?.close();
});

/** One socket of `token`'s user on each gateway, joined to `chat` when given. */
const onEveryGateway = (token: string, chat?: string) => Promise.all(gateways.map((g) => sockets.connect(g.url, { token, ...(chat ? { chatId: chat } : {}) })));

describe("server keys", () => {
  it("refuses a missing, wrong or revoked key, a user's token, and a key outside its scopes; a key works nowhere else", async () => {
    const path = `/server/v1/chats/${chatId}/presence`;
    expect((await api().get(path)).body).toMatchObject({ status: 401, code: "unauthorized" });
    expect((await api().as("wsk_" + "A".repeat(43)).get(path)).body).toMatchObject({ status: 401, code: "unauthorized" });
    expect((await alice.http.get(path)).body).toMatchObject({ status: 401, code: "unauthorized" });
    expect((await publisher.get(path)).body).toMatchObject({ status: 403, code: "forbidden" });
    expect((await reader.get(path)).status).toBe(200);

    const made = await createServerKey(cluster.database.db, "short-lived", ["read"]);
    expect((await api().as(made.key).get(path)).status).toBe(200);
    expect(await revokeServerKey(cluster.database.db, made.id)).toBe(true);
    expect((await api().as(made.key).get(path)).body).toMatchObject({ status: 401, code: "unauthorized" });

    // A server key is no access token.
    const res = await api().as(made.key).get("/me");
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("publishing", () => {
  it("delivers a system message to every member's socket on every gateway once, however often it is retried with its idempotency key", async () => {
    const receivers = [...(await onEveryGateway(alice.token, chatId)), ...(await onEveryGateway(bob.token, chatId))];
    const seen = receivers.map((s) => collect(s, "message:new"));
    const body = { text: "maintenance at noon", idempotency_key: "notice-1" };
    const first = await publisher.post(`/server/v1/chats/${chatId}/messages`, body);
    expect(first.status).toBe(201);
    expect(first.body.message).toMatchObject({ chat_id: chatId, text: body.text, sender: { id: "00000000-0000-0000-0000-000000000000" } });
    const retries = await Promise.all(Array.from({ length: 5 }, () => publisher.post(`/server/v1/chats/${chatId}/messages`, body)));
    for (const r of retries) {
      expect(r.status).toBe(201);
      expect(r.headers.get("idempotent-replayed")).toBe("true");
      expect(r.body.message.id).toBe(first.body.message.id);
    }
    await eventually(() => seen.every((s) => s.some((m) => m.id === first.body.message.id)), 5_000, "the message on every socket");
    // A later message on the same sockets proves nothing more of the first was on its way.
    const later = await publisher.post(`/server/v1/chats/${chatId}/messages`, { text: "later" });
    await eventually(() => seen.every((s) => s.some((m) => m.id === later.body.message.id)), 5_000, "the later message");
    for (const s of seen) expect(s.filter((m) => m.id === first.body.message.id)).toHaveLength(1);

    const conflict = await publisher.post(`/server/v1/chats/${chatId}/messages`, { ...body, text: "another text" });
    expect(conflict.body).toMatchObject({ status: 409, code: "idempotency_conflict" });
    const history = await alice.http.get(`/chats/${chatId}/messages`);
    expect(history.body.messages.filter((m: { text: string }) => m.text === body.text)).toHaveLength(1);
  });

  it("sends as a bot the app made, and sends app events that are not stored", async () => {
    const bot = await moderator.put("/server/v1/users/bot-1", { username: "helper_bot" });
    expect(bot.status).toBe(201);
    const socket = await sockets.connect(gateways[1]!.url, { token: alice.token, chatId });
    const byBot = await publisher.post(`/server/v1/chats/${chatId}/messages`, { text: "beep", sender: bot.body.user.id });
    expect(byBot.body.message.sender).toEqual({ id: bot.body.user.id, username: "helper_bot" });

    const event = nextEvent(socket, "app:event");
    expect((await publisher.post(`/server/v1/chats/${chatId}/events`, { event: "order.shipped", data: { order: 7 } })).status).toBe(204);
    expect(await event).toEqual({ chat_id: chatId, event: "order.shipped", data: { order: 7 } });
    const big = await publisher.post(`/server/v1/chats/${chatId}/events`, { event: "big", data: "x".repeat(17 * 1024) });
    expect(big.body).toMatchObject({ status: 413, code: "payload_too_large" });
  });

  it("answers an unknown chat with 404 and a malformed body with 400", async () => {
    const unknown = "6f1c0c5e-0000-4000-8000-000000000000";
    expect((await publisher.post(`/server/v1/chats/${unknown}/messages`, { text: "hi" })).body).toMatchObject({ status: 404, code: "not_found" });
    expect((await publisher.post(`/server/v1/chats/${unknown}/events`, { event: "x", data: 1 })).body).toMatchObject({ status: 404, code: "not_found" });
    expect((await publisher.post(`/server/v1/chats/not-a-uuid/messages`, { text: "hi" })).body).toMatchObject({ status: 404 });
    expect((await publisher.post(`/server/v1/chats/${chatId}/messages`, { text: "" })).body).toMatchObject({ status: 400, code: "invalid_body" });
    expect((await publisher.post(`/server/v1/chats/${chatId}/messages`, { text: "hi", extra: 1 })).body).toMatchObject({ status: 400, code: "invalid_body" });
    expect((await publisher.post(`/server/v1/chats/${chatId}/messages`, "{not json")).body).toMatchObject({ status: 400, code: "invalid_body" });
    expect((await admin.post("/server/v1/batch", { calls: Array.from({ length: 101 }, () => ({ method: "GET", path: "/stats" })) })).body).toMatchObject({ status: 400 });
    const huge = await publisher.post(`/server/v1/chats/${chatId}/messages`, { text: "x".repeat(300 * 1024) });
    expect(huge.body).toMatchObject({ status: 413, code: "payload_too_large" });
  });
});

describe("the app's own users", () => {
  it("creates and updates a user by its own id, opens sessions for it, and treats its sockets like any user's", async () => {
    const made = await moderator.put("/server/v1/users/crm-42", { username: "dana_crm", email: "dana@example.test" });
    expect(made.status).toBe(201);
    expect(made.body.user).toMatchObject({ username: "dana_crm", external_id: "crm-42", banned: false });
    const renamed = await moderator.put("/server/v1/users/crm-42", { username: "dana_k" });
    expect(renamed.status).toBe(200);
    expect(renamed.body.user).toMatchObject({ id: made.body.user.id, username: "dana_k", email: "dana@example.test" });
    expect((await moderator.put("/server/v1/users/crm-43", { username: alice.username })).body).toMatchObject({ status: 409, code: "username_taken" });

    const session = await moderator.post(`/server/v1/users/${made.body.user.id}/sessions`, { user_agent: "crm backend" });
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ type: "Bearer", user: { id: made.body.user.id } });
    // No password: /login never works for it.
    expect((await api().post("/login", { username: "dana_k", password: "anything-at-all" })).status).toBe(401);
    const socket = await sockets.connect(gateways[0]!.url, { token: session.body.token });
    expect(socket.connected).toBe(true);
    const refreshed = await api().post("/token/refresh", { refresh_token: session.body.refresh_token });
    expect(refreshed.status).toBe(200);
  });
});

describe("moderation", () => {
  it("disconnects every socket of a user on every gateway within a second", async () => {
    const carol = await registerAndLogin(api(), "carol");
    const open = await onEveryGateway(carol.token);
    const ended = open.map((s) => Promise.all([nextEvent(s, "session:ended"), disconnected(s)]));
    const started = Date.now();
    expect((await moderator.post(`/server/v1/users/${carol.user.id}/disconnect`)).status).toBe(204);
    for (const e of ended) expect((await e)[0]).toEqual({ reason: "revoked" });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect((await carol.http.get("/me")).body).toMatchObject({ code: "session_revoked" });
  });

  it("bans: sockets end, and login, refresh, new sessions, handshakes and auth:refresh get account_banned until it is lifted", async () => {
    const dave = await registerAndLogin(api(), "dave");
    const [socket] = await onEveryGateway(dave.token);
    const ended = nextEvent(socket!, "session:ended");
    const banned = await moderator.put(`/server/v1/users/${dave.user.id}/ban`, { reason: "spam" });
    expect(banned.body.user).toMatchObject({ banned: true });
    expect(await ended).toEqual({ reason: "revoked" });
    expect((await api().post("/login", { username: dave.username, password: dave.password })).body).toMatchObject({ status: 403, code: "account_banned" });
    expect((await api().post("/token/refresh", { refresh_token: dave.refreshToken })).body).toMatchObject({ status: 403, code: "account_banned" });
    expect((await moderator.post(`/server/v1/users/${dave.user.id}/sessions`, {})).body).toMatchObject({ status: 403, code: "account_banned" });
    const refused = await sockets.refusal(gateways[2]!.url, { token: dave.token });
    expect(refused).toEqual({ message: "account_banned", data: { code: "account_banned", status: 403 } });
    // A wrong password says nothing of the ban.
    expect((await api().post("/login", { username: dave.username, password: "Wrong-password-1!" })).body).toMatchObject({ code: "invalid_credentials" });

    expect((await moderator.delete(`/server/v1/users/${dave.user.id}/ban`)).body.user).toMatchObject({ banned: false });
    const back = await api().post("/login", { username: dave.username, password: dave.password });
    expect(back.status).toBe(200);
    const again = await sockets.connect(gateways[2]!.url, { token: back.body.token });
    expect(again.connected).toBe(true);
  });

  it("bans until a time: the ban ends by itself", async () => {
    const erin = await registerAndLogin(api(), "erin");
    const until = new Date(Date.now() + 1_500).toISOString();
    const banned = (await moderator.put(`/server/v1/users/${erin.user.id}/ban`, { until })).body.user;
    expect(banned.banned).toBe(true);
    expect(new Date(banned.banned_until).getTime()).toBe(new Date(until).getTime());
    expect((await api().post("/login", { username: erin.username, password: erin.password })).status).toBe(403);
    // Past its end, the first login works: no call lifted it. (Polling with logins instead had each
    // wait for argon2, and on a loaded machine 5 s held too few of them.)
    await clockPasses(Math.max(0, new Date(until).getTime() - Date.now()) + 100, "the ban's end");
    expect((await api().post("/login", { username: erin.username, password: erin.password })).status).toBe(200);
    expect((await moderator.put(`/server/v1/users/${erin.user.id}/ban`, { until: "2001-01-01T00:00:00Z" })).body).toMatchObject({ status: 400 });
  });
});

describe("chats the app manages", () => {
  it("creates a chat with members, adds and removes members with their live effects", async () => {
    const frank = await registerAndLogin(api(), "frank");
    const made = await moderator.post("/server/v1/chats", { name: "support", members: [alice.user.id, frank.user.id] });
    expect(made.status).toBe(201);
    expect(made.body.members.map((m: { user_id: string; role: string }) => [m.user_id, m.role]).sort()).toEqual([[alice.user.id, "owner"], [frank.user.id, "member"]].sort());
    const room = made.body.chat.id as string;
    expect((await moderator.post("/server/v1/chats", { name: "x", members: ["6f1c0c5e-0000-4000-8000-000000000000"] })).body).toMatchObject({ status: 400 });

    expect((await sockets.refusal(gateways[0]!.url, { token: bob.token, chatId: room })).message).toBe("chat_forbidden");
    expect((await moderator.put(`/server/v1/chats/${room}/members/${bob.user.id}`)).status).toBe(201);
    expect((await moderator.put(`/server/v1/chats/${room}/members/${bob.user.id}`)).body).toMatchObject({ status: 409, code: "already_member" });
    const bobs = await onEveryGateway(bob.token, room);
    const removed = bobs.map((s) => nextEvent(s, "chat:removed"));
    expect((await moderator.delete(`/server/v1/chats/${room}/members/${bob.user.id}`)).status).toBe(204);
    for (const r of removed) expect(await r).toEqual({ chat_id: room });
    const silent = collect(bobs[0]!, "message:new");
    const ack = await ask(await sockets.connect(gateways[1]!.url, { token: alice.token, chatId: room }), "message:send", { chat_id: room, text: "after removal" });
    expect(ack.ok).toBe(true);
    const frankSocket = await sockets.connect(gateways[2]!.url, { token: frank.token, chatId: room });
    await publisher.post(`/server/v1/chats/${room}/messages`, { text: "marker" });
    await nextEvent(frankSocket, "message:new");
    expect(silent).toHaveLength(0);
  });
});

describe("presence and stats", () => {
  it("tells where a user is connected, and counts the cluster's sockets per gateway", async () => {
    const gina = await registerAndLogin(api(), "gina");
    const room = await chatWith(gina, []);
    const none = await reader.get(`/server/v1/users/${gina.user.id}/presence`);
    expect(none.body).toMatchObject({ user_id: gina.user.id, online: false, sockets: 0, chats: [] });
    const open: ClientSocket[] = [await sockets.connect(gateways[0]!.url, { token: gina.token, chatId: room }), await sockets.connect(gateways[2]!.url, { token: gina.token })];
    const some = await reader.get(`/server/v1/users/${gina.user.id}/presence`);
    expect(some.body).toMatchObject({ online: true, sockets: 2, chats: [room], gateways_answered: 3 });
    await eventually(async () => (await reader.get(`/server/v1/chats/${room}/presence`)).body.count === 1, 5_000, "gina in the chat's presence");

    const stats = await reader.get("/server/v1/stats");
    expect(stats.body.gateways).toHaveLength(3);
    expect(stats.body.connections).toBe(stats.body.gateways.reduce((n: number, g: { connections: number }) => n + g.connections, 0));
    expect(stats.body.connections).toBeGreaterThanOrEqual(open.length);
    expect(stats.body.chats_online).toBeGreaterThanOrEqual(1);
  });
});

describe("batch", () => {
  it("runs up to 100 calls in order, each answered with its own status and scope", async () => {
    const res = await publisher.post("/server/v1/batch", {
      calls: [
        { method: "POST", path: `/server/v1/chats/${chatId}/messages`, body: { text: "batched 1" } },
        { method: "POST", path: `/chats/${chatId}/events`, body: { event: "ping", data: null } },
        { method: "GET", path: "/stats" },
        { method: "GET", path: "/nothing/here" },
        { method: "POST", path: `/chats/${chatId}/messages`, body: { text: "" } },
        { method: "POST", path: `/chats/${chatId}/messages`, body: { text: "batched 2" } },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([201, 204, 403, 404, 400, 201]);
    expect(res.body.results[2].body).toMatchObject({ code: "forbidden" });
    expect(BigInt(res.body.results[5].body.message.id)).toBeGreaterThan(BigInt(res.body.results[0].body.message.id));
  });
});
