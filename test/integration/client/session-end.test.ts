import { afterAll, beforeAll, describe, it } from "vitest";
import { type ChatSocket, type Client, createClient, type EndReason, type SocketStatus, type StoredTokens } from "../../../client/index";
import type { MessageView } from "../../../shared/contract/views";
import { type SingleNode, startSingleNode } from "../../support/fixtures";
import { httpClient, newCredentials } from "../../support/http";
import { signedUp } from "../../support/typed-client";
import { clockPasses, eventually } from "../../support/waits";

/** Short, so a test can wait for a token to expire for real. */
const TTL_SECONDS = 3;

let node: SingleNode;
const open: ChatSocket[] = [];

beforeAll(async () => {
  node = await startSingleNode({ env: { ACCESS_TOKEN_TTL: `${TTL_SECONDS}s` } });
});
afterAll(async () => {
  for (const socket of open) socket.close();
  await node?.close();
});

async function user(prefix: string) {
  return signedUp({ url: node.url }, prefix);
}

/** A socket and what an app sees on it: status changes, `ended`, `message`, and raw handshake attempts. */
function watch(client: Client) {
  const socket = client.connect();
  open.push(socket);
  const seen = { statuses: [] as SocketStatus[], ended: [] as EndReason[], clientEnded: [] as EndReason[], refusals: [] as string[], messages: [] as MessageView[], handshakes: 0 };
  socket.on("status", (s) => seen.statuses.push(s));
  socket.on("ended", (e) => seen.ended.push(e.reason));
  socket.on("message", (m) => seen.messages.push(m));
  client.on("ended", (e) => seen.clientEnded.push(e.reason));
  socket.raw.on("connect_error", (err) => seen.refusals.push(err.message));
  socket.raw.io.on("open", () => (seen.handshakes += 1));
  return { socket, seen };
}

/**
 * Long enough for socket.io's (up to 1.5 s) and the client's own (up to 0.5 s) first retry delay to
 * have started a reconnect: a window in which none must happen. Those delays run on real timers
 * beside real sockets, so the clock really passes.
 */
const stillDown = () => clockPasses(2_500, "a window longer than any first reconnect delay, with no reconnect");

/** Sockets of the user that the gateway holds right now. */
const serverSocketsOf = async (userId: string) => (await node.gateway.io.fetchSockets()).filter((s) => s.data.userId === userId).length;

// Independent users, so the tests run side by side (their waits overlap).
describe.concurrent("the end of a session", () => {
  it("a revoked session ends the socket (ended: revoked) and it does not reconnect", async ({ expect }) => {
    const { client, creds } = await user("revoked");
    const chat = await client.chats.create({ name: "soon gone", members: [] });
    const userId = client.user!.id;
    const { socket, seen } = watch(client);
    await socket.join(chat.id);
    expect(await serverSocketsOf(userId)).toBe(1);

    // The same user on another device revokes this session.
    const other = createClient({ url: node.url });
    await other.login({ username: creds.username, password: creds.password });
    await other.sessions.revoke(client.tokens!.session_id);

    await eventually(() => seen.ended.length > 0, 5_000, "ended");
    expect(seen.ended).toEqual(["revoked"]);
    expect(seen.clientEnded).toEqual(["revoked"]);
    expect(socket.status).toBe("ended");
    expect(seen.statuses.at(-1)).toBe("ended");
    expect(client.tokens).toBeNull();
    const handshakes = seen.handshakes;
    await stillDown();
    expect(seen.handshakes).toBe(handshakes);
    expect(socket.connected).toBe(false);
    expect(await serverSocketsOf(userId)).toBe(0);
    await expect(socket.send(chat.id, "after the end")).rejects.toMatchObject({ code: "closed" });
    // The other device is untouched.
    expect(await other.me()).toMatchObject({ username: creds.username });
  });

  it("a handshake refused with session_revoked ends the session without retrying", async ({ expect }) => {
    const { client } = await user("refused");
    const stored = client.tokens!;
    await client.logout();
    // A tab that still holds the tokens of the logged-out session (its token not yet expired).
    const stale = createClient({ url: node.url });
    stale.restore({ ...stored, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const { socket, seen } = watch(stale);
    await eventually(() => seen.ended.length > 0, 5_000, "ended");
    expect(seen.refusals).toEqual(["session_revoked"]);
    expect(seen.ended).toEqual(["revoked"]);
    expect(seen.clientEnded).toEqual(["revoked"]);
    await stillDown();
    expect(seen.refusals).toEqual(["session_revoked"]);
    expect(socket.connected).toBe(false);
  });

  it("logout ends the client's sockets with logged_out", async ({ expect }) => {
    const { client } = await user("logout");
    const { socket, seen } = watch(client);
    await eventually(() => socket.connected, 5_000, "connected");
    await client.logout();
    expect(seen.ended).toEqual(["logged_out"]);
    expect(seen.clientEnded).toEqual(["logged_out"]);
    await stillDown();
    expect(socket.connected).toBe(false);
    expect(seen.handshakes).toBe(1);
  });
});

describe.concurrent("an expired access token", () => {
  it("a token_expired refusal leads to a refresh and a connected socket that works", async ({ expect }) => {
    const { client } = await user("expired");
    const chat = await client.chats.create({ name: "later", members: [] });
    const stored: StoredTokens = client.tokens!;
    // Let the access token expire for real (the server says so), then hand the tokens to a client
    // that believes they are good for an hour: its first handshake is refused with token_expired.
    await eventually(async () => (await httpClient(node.url, stored.token).get("/me")).body?.code === "token_expired", TTL_SECONDS * 1000 + 5_000, "the token to expire");
    const later = createClient({ url: node.url });
    later.restore({ ...stored, expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const { socket, seen } = watch(later);

    await eventually(() => socket.connected, 10_000, "connected");
    expect(seen.refusals).toEqual(["token_expired"]);
    expect(seen.ended).toEqual([]);
    expect(later.tokens?.session_id).toBe(stored.session_id);
    expect(later.tokens?.token).not.toBe(stored.token);
    await socket.join(chat.id);
    const sent = await socket.send(chat.id, "back in");
    await eventually(() => seen.messages.some((m) => m.id === sent.id), 5_000, "own message");
    expect(seen.messages.map((m) => m.text)).toEqual(["back in"]);
  });

  it("a socket whose token lapsed while refreshes failed comes back once they work, missing nothing", async ({ expect }) => {
    // The api unreachable for the refresh calls of this one client (as for a laptop on a bad network).
    let refreshDown = false;
    const flaky: typeof fetch = (input, init) =>
      refreshDown && String(input).endsWith("/token/refresh") ? Promise.reject(new TypeError("fetch failed")) : fetch(input, init);
    const creds = newCredentials("lapse");
    const client = createClient({ url: node.url, fetch: flaky });
    await client.register(creds);
    await client.login({ username: creds.username, password: creds.password });
    const { client: friend } = await user("friend");
    const chat = await client.chats.create({ name: "lapse", members: [friend.user!.username] });
    await friend.invites.accept((await friend.invites.list())[0]!.id);
    const { socket, seen } = watch(client);
    await socket.join(chat.id);

    refreshDown = true;
    // The server ends the socket at its token's expiry (session:ended "expired"); the session lives on.
    await eventually(() => seen.statuses.includes("reconnecting"), TTL_SECONDS * 1000 + 5_000, "the socket to drop");
    // Its next handshake offers the expired token (nothing better to offer) and is refused.
    await eventually(() => seen.refusals.includes("token_expired"), 10_000, "a refused reconnect");
    await friend.chats.post(chat.id, { text: "while you were out" });
    expect(socket.connected).toBe(false);
    refreshDown = false;

    await eventually(() => socket.connected && seen.messages.length > 0, 20_000, "back, with the missed message");
    expect(seen.messages.map((m) => m.text)).toEqual(["while you were out"]);
    expect(seen.ended).toEqual([]);
    expect(seen.clientEnded).toEqual([]);
    expect(client.tokens?.session_id).toBeDefined();
  });
});
