import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError as UserClientApiError } from "../../../client/index";
import { ApiError, createServerClient, type ServerClient, serverCalls } from "../../../client/server";
import { SYSTEM_USER_ID } from "../../../api/server-api/server.service";
import { createServerKey } from "../../../api/server-api/server-keys";
import type { ServerScope } from "../../../shared/db/schema";
import { type GatewayFixture, type InProcessCluster, startInProcessCluster } from "../../support/fixtures";
import { chatWith, httpClient, type LoggedIn, registerAndLogin } from "../../support/http";
import type { SocketClients } from "../../support/socket-client";
import { collect, disconnected, eventually, nextEvent } from "../../support/waits";

let cluster: InProcessCluster;
let gateways: GatewayFixture[];
let sockets: SocketClients;
let alice: LoggedIn;
let bob: LoggedIn;
let chatId: string;
/** A client with every scope, and clients whose key lacks some. */
let admin: ServerClient;
let publisher: ServerClient;
let publishAndRead: ServerClient;

const gateway = (i: number) => gateways[i]!.url;
const clientWith = async (scopes: ServerScope[]) => createServerClient({ url: cluster.api.url, key: (await createServerKey(cluster.database.db, `client-${scopes.join("-")}`, scopes)).key });

/** The ApiError `p` rejects with (the test fails if it resolves or rejects with anything else). */
const failure = async (p: Promise<unknown>): Promise<ApiError> => {
  const err = await p.then(
    () => new Error("the call succeeded"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  if (!(err instanceof ApiError)) throw err;
  return err;
};

beforeAll(async () => {
  cluster = await startInProcessCluster(3);
  ({ gateways, sockets } = cluster);
  const api = httpClient(cluster.api.url);
  alice = await registerAndLogin(api, "alice");
  bob = await registerAndLogin(api, "bob");
  chatId = await chatWith(alice, [bob]);
  [admin, publisher, publishAndRead] = await Promise.all([clientWith(["publish", "moderate", "read"]), clientWith(["publish"]), clientWith(["publish", "read"])]);
});

afterAll(async () => {
  await cluster?.close();
});

describe("the server client's publishing", () => {
  it("publishes a message that reaches sockets on other gateways once; a retry with its idempotency key is replayed with the same id", async () => {
    const [onFirst, onThird] = await Promise.all([sockets.connect(gateway(0), { token: alice.token, chatId }), sockets.connect(gateway(2), { token: bob.token, chatId })]);
    const seen = [collect(onFirst, "message:new"), collect(onThird, "message:new")];
    const arrives = nextEvent(onThird, "message:new");

    const body = { text: "maintenance at noon", idempotency_key: "client-notice-1" };
    const first = await publisher.publishMessage(chatId, body);
    expect(first.replayed).toBe(false);
    expect(first.message).toMatchObject({ chat_id: chatId, text: body.text, sender: { id: SYSTEM_USER_ID } });
    expect(await arrives).toEqual(first.message);

    const retry = await publisher.publishMessage(chatId, body);
    expect(retry.replayed).toBe(true);
    expect(retry.message.id).toBe(first.message.id);
    expect(retry.message).toEqual(first.message);

    // A later message on the same sockets shows that nothing more of the first was on its way.
    const later = await publisher.publishMessage(chatId, { text: "later" });
    expect(later.replayed).toBe(false);
    expect(BigInt(later.message.id)).toBeGreaterThan(BigInt(first.message.id));
    await eventually(() => seen.every((s) => s.some((m) => m.id === later.message.id)), 5_000, "the later message on both sockets");
    for (const s of seen) expect(s.filter((m) => m.id === first.message.id)).toHaveLength(1);

    const conflict = await failure(publisher.publishMessage(chatId, { ...body, text: "another text" }));
    expect(conflict).toMatchObject({ status: 409, code: "idempotency_conflict" });
  });

  it("publishes an app event to the chat's sockets", async () => {
    const socket = await sockets.connect(gateway(1), { token: bob.token, chatId });
    const event = nextEvent(socket, "app:event");
    await expect(publisher.publishEvent(chatId, { event: "order.shipped", data: { order: 7 } })).resolves.toBeUndefined();
    expect(await event).toEqual({ chat_id: chatId, event: "order.shipped", data: { order: 7 } });
  });
});

describe("the server client's users and sessions", () => {
  it("upserts a user by an external id that needs encoding, and opens a session a socket connects with", async () => {
    const externalId = "crm:42@acme|eu";
    const made = await admin.upsertUser(externalId, { username: "dana_crm", email: "dana@example.test" });
    expect(made.created).toBe(true);
    expect(made.user).toMatchObject({ username: "dana_crm", email: "dana@example.test", external_id: externalId, banned: false, banned_until: null });
    const renamed = await admin.upsertUser(externalId, { username: "dana_k" });
    expect(renamed).toEqual({ created: false, user: { ...made.user, username: "dana_k" } });

    const session = await admin.createSession(made.user.id, { user_agent: "crm backend" });
    expect(session).toMatchObject({ type: "Bearer", user: { id: made.user.id, username: "dana_k" } });
    expect(session.token.split(".")).toHaveLength(3);

    const chat = await admin.createChat({ name: "support", members: [made.user.id] });
    expect(chat.chat.name).toBe("support");
    expect(chat.members.map((m) => [m.user_id, m.role])).toEqual([[made.user.id, "owner"]]);
    const socket = await sockets.connect(gateway(1), { token: session.token, chatId: chat.chat.id });
    expect(socket.connected).toBe(true);

    const presence = await admin.userPresence(made.user.id);
    expect(presence).toMatchObject({ user_id: made.user.id, online: true, sockets: 1, chats: [chat.chat.id], gateways_answered: 3 });
    await eventually(async () => (await admin.chatPresence(chat.chat.id)).count === 1, 5_000, "dana in the chat's presence");
    expect((await admin.chatPresence(chat.chat.id)).users).toEqual([{ id: made.user.id, username: "dana_k" }]);

    // Members added and removed at once, with the live effect on the removed member's socket.
    const member = await admin.addMember(chat.chat.id, bob.user.id);
    expect(member).toMatchObject({ user_id: bob.user.id, username: bob.username, role: "member" });
    expect(await failure(admin.addMember(chat.chat.id, bob.user.id))).toMatchObject({ status: 409, code: "already_member" });
    const bobSocket = await sockets.connect(gateway(2), { token: bob.token, chatId: chat.chat.id });
    const removed = nextEvent(bobSocket, "chat:removed");
    await expect(admin.removeMember(chat.chat.id, bob.user.id)).resolves.toBeUndefined();
    expect(await removed).toEqual({ chat_id: chat.chat.id });

    // disconnectUser ends every session: the socket is told and dropped.
    const ended = nextEvent(socket, "session:ended");
    const gone = disconnected(socket);
    await expect(admin.disconnectUser(made.user.id)).resolves.toBeUndefined();
    expect(await ended).toEqual({ reason: "revoked" });
    await gone;
  });

  it("bans: the handshake is refused with account_banned until unbanUser lifts it", async () => {
    const erin = await admin.upsertUser("erin-1", { username: "erin_srv" });
    const before = await admin.createSession(erin.user.id);
    const socket = await sockets.connect(gateway(0), { token: before.token });
    const ended = nextEvent(socket, "session:ended");

    const banned = await admin.banUser(erin.user.id, { reason: "spam" });
    // (An open-ended ban's banned_until is left unchecked: the service writes a far-future date where the contract describes null.)
    expect(banned).toMatchObject({ id: erin.user.id, username: "erin_srv", banned: true });
    expect(await ended).toEqual({ reason: "revoked" });
    expect(await failure(admin.createSession(erin.user.id))).toMatchObject({ status: 403, code: "account_banned" });
    // A token minted before the ban, on another gateway: refused for the ban.
    const refused = await sockets.refusal(gateway(2), { token: before.token });
    expect(refused).toEqual({ message: "account_banned", data: { code: "account_banned", status: 403 } });

    const lifted = await admin.unbanUser(erin.user.id);
    expect(lifted).toMatchObject({ id: erin.user.id, banned: false, banned_until: null });
    const after = await admin.createSession(erin.user.id);
    const again = await sockets.connect(gateway(2), { token: after.token });
    expect(again.connected).toBe(true);
  });
});

describe("the server client's reads", () => {
  it("stats() lists the three gateways and counts their connections", async () => {
    const open = await Promise.all(gateways.map((g) => sockets.connect(g.url, { token: alice.token })));
    expect(open.every((s) => s.connected)).toBe(true);
    await eventually(async () => (await admin.stats()).gateways.every((g) => g.connections >= 1), 5_000, "a connection on every gateway");
    const stats = await admin.stats();
    expect(stats.gateways.map((g) => g.id).sort()).toEqual(["gw1", "gw2", "gw3"]);
    expect(stats.connections).toBe(stats.gateways.reduce((n, g) => n + g.connections, 0));
    expect(stats.connections).toBeGreaterThanOrEqual(open.length);
  });
});

describe("the server client's errors", () => {
  it("throws the user client's ApiError with status 403 and code forbidden for an under-scoped key, and 401 for an unknown key", async () => {
    expect(ApiError).toBe(UserClientApiError);
    const err = await failure(publisher.stats());
    expect(err.status).toBe(403);
    expect(err.code).toBe("forbidden");
    expect(err.problem).toMatchObject({ type: "about:blank", status: 403, code: "forbidden", detail: expect.stringContaining("read") });
    expect(await failure(publisher.banUser(alice.user.id))).toMatchObject({ status: 403, code: "forbidden" });

    const unknown = createServerClient({ url: cluster.api.url, key: "wsk_" + "A".repeat(43) });
    expect(await failure(unknown.stats())).toMatchObject({ status: 401, code: "unauthorized" });
    expect(await failure(admin.userPresence("6f1c0c5e-0000-4000-8000-000000000000"))).toMatchObject({ status: 404, code: "not_found" });
    expect(() => createServerClient({ url: cluster.api.url, key: alice.token })).toThrow(TypeError);
  });

  it("encodes path segments, and lets network errors through as they are", async () => {
    const urls: string[] = [];
    const recording = createServerClient({
      url: `${cluster.api.url}/`,
      key: "wsk_" + "B".repeat(43),
      fetch: (input, init) => {
        urls.push(String(input));
        expect(new Headers(init?.headers).get("authorization")).toBe(`Bearer wsk_${"B".repeat(43)}`);
        return Promise.reject(new TypeError("network down"));
      },
    });
    const network = await recording.addMember("a/b", "c?d").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(network).toBeInstanceOf(TypeError);
    expect(network).not.toBeInstanceOf(ApiError);
    expect(urls).toEqual([`${cluster.api.url}/server/v1/chats/a%2Fb/members/c%3Fd`]);

    // A path value that would otherwise change the route reaches the api as one segment: 404, not another call.
    expect(await failure(admin.chatPresence(`${chatId}/../../stats`))).toMatchObject({ status: 404, code: "not_found" });
  });
});

describe("the server client's batch", () => {
  it("returns each call's own status and body, in order", async () => {
    const results = await publishAndRead.batch([
      serverCalls.publishMessage(chatId, { text: "batched 1" }),
      serverCalls.stats(),
      serverCalls.upsertUser("no-scope", { username: "never_made" }),
      serverCalls.chatPresence("6f1c0c5e-0000-4000-8000-000000000000"),
      serverCalls.publishMessage(chatId, { text: "" }),
      { method: "GET", path: "/server/v1/nothing/here" },
      serverCalls.publishMessage(chatId, { text: "batched 2" }),
    ]);
    expect(results.map((r) => r.status)).toEqual([201, 200, 403, 404, 400, 404, 201]);
    expect(results[0]!.body).toMatchObject({ message: { chat_id: chatId, text: "batched 1" } });
    expect(results[1]!.body).toMatchObject({ gateways: expect.arrayContaining([expect.objectContaining({ id: "gw1" })]) });
    expect(results[2]!.body).toMatchObject({ status: 403, code: "forbidden" });
    expect(results[3]!.body).toMatchObject({ status: 404, code: "not_found" });
    expect(results[4]!.body).toMatchObject({ status: 400, code: "invalid_body" });
    expect(results[6]!.body).toMatchObject({ message: { text: "batched 2" } });

    // Only the batch itself failing throws.
    expect(await failure(publishAndRead.batch([]))).toMatchObject({ status: 400, code: "invalid_body" });
  });
});
